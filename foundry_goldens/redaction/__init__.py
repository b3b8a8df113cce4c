"""Redaction: the secret rules, the Redactor, and the log filter that applies it.

``redact_text(text)`` masks text printed outside a run (pytest's failure messages) with the
settings given to ``configure_redaction(settings)``, else the process environment."""

from __future__ import annotations

from typing import Any


def redact_text(text: str) -> str:
    """See ``foundry_goldens.redaction.redactor.redact_text``."""
    from foundry_goldens.redaction.redactor import redact_text as redact

    return redact(text)


def configure_redaction(settings: Any) -> Any:
    """See ``foundry_goldens.redaction.redactor.configure_redaction``."""
    from foundry_goldens.redaction.redactor import configure_redaction as configure

    return configure(settings)


__all__ = ["configure_redaction", "redact_text"]
