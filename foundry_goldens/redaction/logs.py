"""While the harness runs, every log record, Python warning and uncaught traceback goes
through the redaction: azure-identity's and the SDKs' loggers print request details, and once
printed a client secret on stderr."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import Any

from foundry_goldens.redaction.redactor import Redactor

# The loggers whose records are known to carry credentials or request details.
SDK_LOGGERS = ("azure", "azure.identity", "azure.core", "msal", "openai", "httpx", "urllib3")


class RedactingFilter(logging.Filter):
    """Redacts a record's message (arguments merged in) and its exception text in place."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: logging reports it when it emits; keep both parts
            message = f"{record.msg} {record.args}"
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        record._redacted = True
        return True


@contextlib.contextmanager
def redacting_logs(redactor: Redactor) -> Iterator[RedactingFilter]:
    """While the harness runs, every log record is redacted when it is made; so are Python
    warnings (routed through logging) and the traceback of an uncaught exception.

    A filter on a logger does not see its children's records (azure.identity._internal...),
    and one on a handler misses handlers added later (and the last-resort handler that prints
    warnings when none is configured), so the filter runs from the log record factory; it is
    also put on the SDK loggers and the root and last-resort handlers, for records made before.
    """
    record_filter = RedactingFilter(redactor)
    previous_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous_factory(*args, **kwargs)
        record_filter.filter(record)
        return record

    handlers = list(logging.getLogger().handlers)
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    filtered: list[logging.Filterer] = [*map(logging.getLogger, SDK_LOGGERS), *handlers]
    previous_hooks = sys.excepthook, threading.excepthook

    def excepthook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        text = "".join(traceback.format_exception(kind, error, tb))
        sys.stderr.write(redactor.redact(text))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            name = args.thread.name if args.thread else "?"
            sys.stderr.write(f"Exception in thread {name}:\n")
            excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    logging.setLogRecordFactory(factory)
    for target in filtered:
        target.addFilter(record_filter)
    logging.captureWarnings(True)
    sys.excepthook, threading.excepthook = excepthook, thread_excepthook
    failed = False
    try:
        yield record_filter
    except BaseException:
        failed = True  # its traceback is printed after this returns: keep sys.excepthook
        raise
    finally:
        threading.excepthook = previous_hooks[1]
        if not failed:
            sys.excepthook = previous_hooks[0]
        logging.captureWarnings(False)
        for target in filtered:
            target.removeFilter(record_filter)
        logging.setLogRecordFactory(previous_factory)
