"""`python -m foundry_goldens.emulator --port 0`: serve a local Foundry project until Ctrl-C.

It prints the snippet's settings: the endpoint, and (unless --no-sign-in) the service principal
and the Entra ID stand-in's authority host and CA bundle, to sign in as a team would. Ctrl-C and
SIGTERM (`kill`, a CI job's end) stop it the same way: servers closed, the throwaway CA file
removed from the temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from foundry_goldens.emulator.agents import AGENTS
from foundry_goldens.emulator.faults import FaultConfig
from foundry_goldens.emulator.server import FoundryEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m foundry_goldens.emulator",
        description=DESCRIPTION,
    )
    add_arguments(parser)
    return parser.parse_args(argv)


DESCRIPTION = "Serve a local Azure AI Foundry project emulator on 127.0.0.1 until Ctrl-C."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port, 0..65535 (0: any free port; default)"
    )
    parser.add_argument(
        "--project", default="demo", help="project name in the endpoint path (default: demo)"
    )
    parser.add_argument(
        "--seed", default="demo", help="seed for ids and timestamps (default: demo)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before answering each API request"
    )
    parser.add_argument(
        "--rate-limit-every",
        type=int,
        default=0,
        metavar="N",
        help="429 on every Nth responses call",
    )
    parser.add_argument(
        "--retry-after", type=float, default=0.05, metavar="SECONDS", help="delay a 429 asks for"
    )
    parser.add_argument("--fail-call", type=int, metavar="N", help="500 on the Nth responses call")
    parser.add_argument(
        "--drop-call", type=int, metavar="N", help="drop the connection on the Nth responses call"
    )
    parser.add_argument(
        "--malformed-call", type=int, metavar="N", help="malformed JSON on the Nth responses call"
    )
    parser.add_argument(
        "--no-sign-in",
        dest="sign_in",
        action="store_false",
        help="no Entra ID stand-in (then only the static test token is accepted)",
    )
    parser.add_argument(
        "--stall-call",
        type=int,
        metavar="N",
        help="on the Nth responses call send headers, then one byte every --stall-interval s",
    )
    parser.add_argument(
        "--stall-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between the bytes of a stalled answer (default 5)",
    )
    parser.add_argument(
        "--hang-call", type=int, metavar="N", help="never answer the Nth responses call"
    )
    parser.add_argument(
        "--without-role",
        action="store_true",
        help="the signed-in principal lacks the Azure AI User role: every call is a 401 "
        "PermissionDenied, as for a team's app before the role is granted",
    )
    parser.add_argument(
        "--vary",
        type=int,
        metavar="SEED",
        help="variation mode, a stand-in for a live model: reworded replies, usage moving a few "
        "percent, parallel tool calls in either order, fresh ids (off by default)",
    )


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


MAX_PORT = 65535
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt, once: the emulator's clean-up (its servers,
    the CA file) then runs to its end even if another signal comes meanwhile. The previous
    handlers are put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def interrupt(number: int, _frame: Any) -> None:
        received.append(number)
        if len(received) == 1:
            raise KeyboardInterrupt

    previous = {number: signal.signal(number, interrupt) for number in _STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Stop signals wait (blocked, then delivered) while the emulator starts: one that came
    halfway through would leave a CA file no one removes."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= MAX_PORT:
        print(f"error: --port must be between 0 and {MAX_PORT}, got {args.port}", file=sys.stderr)
        return 2
    try:
        faults = FaultConfig(
            latency=args.latency_ms / 1000,
            rate_limit_every=args.rate_limit_every,
            retry_after=args.retry_after,
            fail_call=args.fail_call,
            drop_call=args.drop_call,
            malformed_call=args.malformed_call,
            stall_call=args.stall_call,
            stall_interval=args.stall_interval,
            hang_call=args.hang_call,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        with _stop_signals_interrupt():
            return _serve(args, faults)
    except KeyboardInterrupt:  # the emulator was stopped (or never started) on the way out
        print("stopped", file=sys.stderr)
        return 0


def _serve(args: argparse.Namespace, faults: FaultConfig) -> int:
    emulator = FoundryEmulator(
        seed=args.seed,
        faults=faults,
        project=args.project,
        port=args.port,
        sign_in=args.sign_in,
        role_assigned=not args.without_role,
        variation_seed=args.vary,
    )
    try:
        with _signals_held():
            emulator.start()
    except OSError as error:  # the port is taken, or not ours to listen on
        print(
            f"error: --port {args.port}: cannot listen on 127.0.0.1:{args.port}: "
            f"{error.strerror or error}",
            file=sys.stderr,
        )
        return 2
    try:
        print(f"AZURE_AI_PROJECT_ENDPOINT={emulator.endpoint}", flush=True)
        if args.sign_in:
            # A throwaway service principal made for this run: printing it is the point.
            principal = emulator.service_principal
            print(f"AZURE_TENANT_ID={principal.tenant_id}")
            print(f"AZURE_CLIENT_ID={principal.client_id}")
            print(f"AZURE_CLIENT_SECRET={principal.client_secret}")
            print(f"AZURE_AUTHORITY_HOST={emulator.authority_host}")
            print(f"REQUESTS_CA_BUNDLE={emulator.ca_bundle}", flush=True)
        print(
            f"agents: {', '.join(AGENTS)}; stats: {emulator.base_url}/_emulator/stats", flush=True
        )
        threading.Event().wait()
    finally:
        emulator.stop()  # closes both servers and removes the CA file
    return 0  # not reached: only a stop signal ends the wait


if __name__ == "__main__":
    sys.exit(main())
