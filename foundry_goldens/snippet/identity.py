"""The identity the harness supplies, whichever azure-identity credential a snippet builds.

A team's snippet signs in its own way: the tutorial builds `ClientSecretCredential(tenant,
client, secret)` or `DefaultAzureCredential()`, others `ManagedIdentityCredential`,
`AzureCliCredential`, a chain... The harness cannot hand each one a credential, so it answers
for all of them: `get_token` and `get_token_info` of every credential class `azure.identity`
and `azure.identity.aio` export are replaced while the harness needs it, and put back after.

What a patched method does, on the calling thread, first match wins:

- **replay** (`static_identity()` process-wide, or `static_identity_here()` in this context:
  this thread, and the asyncio tasks and `to_thread` calls it starts): the static fake token
  of `snippet/credentials.py`; no network, no `az`, no IMDS;
- **emulator recording** (`signing_in_at(settings)` on this thread, or process-wide): a real
  sign-in at the emulator's Entra ID stand-in as its service principal (below);
- otherwise the original method, unchanged: live recording and a team's own code.

On the emulator every credential class delegates to one `ClientSecretCredential` of the
stand-in's service principal, called through its original method, rather than the snippet's own
object signing in:
the tutorial's builds no authority host or CA bundle and leaves MSAL's instance discovery on,
which asks login.microsoftonline.com about any authority it does not know, even with
AZURE_AUTHORITY_HOST set. Classes that cannot sign in with a secret (managed identity, the
CLIs, device code, ...) get that real sign-in rather than the static token because the emulator
then checks a real token for the scope the snippet asked for, as Foundry does; and one
delegate per stand-in signs in once per run, as one credential would against Entra ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from foundry_goldens.snippet.credentials import StaticTokenCredential

METHODS = ("get_token", "get_token_info")
# What `signing_in_at` takes (recording/targets.py `emulator_sign_in`), and what a process-wide
# sign-in also puts in os.environ for the run: azure-identity's EnvironmentCredential and
# authority host, requests' CA bundle, and a snippet that reads os.environ itself.
SIGN_IN_KEYS = (
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_AUTHORITY_HOST",
    "REQUESTS_CA_BUNDLE",
)

_STATIC = StaticTokenCredential()


class _SignIn:
    """A real sign-in at the stand-in: one `ClientSecretCredential`, built on first use."""

    def __init__(self, settings: Mapping[str, str]) -> None:
        missing = [key for key in SIGN_IN_KEYS if not settings.get(key)]
        if missing:
            raise ValueError(f"signing in at the emulator needs {', '.join(missing)}")
        self.settings = {key: settings[key] for key in SIGN_IN_KEYS}
        # Reentrant: should the original method call the instance's other patched one.
        self._lock = threading.RLock()
        self._credential: Any = None

    def answer(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from azure.identity import ClientSecretCredential

        # Under the lock: threads whose first turns race would each miss MSAL's cache and
        # sign in; one at a time, the first signs in and the others find its token.
        with self._lock:
            if self._credential is None:
                self._credential = ClientSecretCredential(
                    self.settings["AZURE_TENANT_ID"],
                    self.settings["AZURE_CLIENT_ID"],
                    self.settings["AZURE_CLIENT_SECRET"],
                    authority=self.settings["AZURE_AUTHORITY_HOST"],
                    connection_verify=self.settings["REQUESTS_CA_BUNDLE"],
                    disable_instance_discovery=True,  # the stand-in is not Microsoft's to know
                )
            original = _state.original(ClientSecretCredential, method)
            return original(self._credential, *args, **kwargs)

    def close(self) -> None:
        with self._lock:
            credential, self._credential = self._credential, None
        if credential is not None:
            credential.close()


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        # (class, method) -> (what the class resolved, what its own __dict__ held or None)
        self.originals: dict[tuple[type, str], tuple[Callable[..., Any], Any]] = {}
        self.holders = 0
        self.static = 0
        self.sign_ins: tuple[_SignIn, ...] = ()  # process-wide, innermost last (replaced whole)
        self.local = threading.local()  # .sign_in: this thread's

    def original(self, cls: type, method: str) -> Callable[..., Any]:
        found = self.originals.get((cls, method))
        return found[0] if found is not None else getattr(cls, method)


_state = _State()
# Set by `static_identity_here`: a context variable, so the asyncio tasks and `to_thread` calls
# of a replaying thread inherit it, and recording threads beside it do not.
_REPLAYING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "foundry_goldens_replaying", default=False
)


def _credential_classes() -> list[type]:
    import azure.identity
    import azure.identity.aio

    found: dict[int, type] = {}
    for module in (azure.identity, azure.identity.aio):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and callable(getattr(value, "get_token", None)):
                found[id(value)] = value
    return list(found.values())


def _answer_for_this_thread() -> _SignIn | StaticTokenCredential | None:
    if _state.static or _REPLAYING.get():
        return _STATIC
    sign_in: _SignIn | None = getattr(_state.local, "sign_in", None)
    process_wide = _state.sign_ins
    if sign_in is None and process_wide:
        sign_in = process_wide[-1]
    return sign_in


def _patched(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(original):

        async def answer_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            answer = _answer_for_this_thread()
            if answer is None:
                return await original(self, *args, **kwargs)
            if isinstance(answer, _SignIn):
                # The stand-in's sign-in is the sync one: off the event loop, not blocking it.
                return await asyncio.to_thread(answer.answer, method, args, kwargs)
            return getattr(answer, method)(*args, **kwargs)

        patched: Callable[..., Any] = answer_async
    else:

        def answer_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
            answer = _answer_for_this_thread()
            if answer is None:
                return original(self, *args, **kwargs)
            if isinstance(answer, _SignIn):
                return answer.answer(method, args, kwargs)
            return getattr(answer, method)(*args, **kwargs)

        patched = answer_sync
    functools.update_wrapper(patched, original)
    return patched


def _install() -> None:
    """Patch every credential class (idempotent; under the lock)."""
    if _state.originals:
        return
    classes = _credential_classes()
    # Every original is looked up before any class is patched: a subclass's inherited method
    # must be the original, not its parent's patch.
    originals = {
        (cls, method): (getattr(cls, method), cls.__dict__.get(method))
        for cls in classes
        for method in METHODS
        if callable(getattr(cls, method, None))
    }
    for (cls, method), (resolved, _own) in originals.items():
        setattr(cls, method, _patched(method, resolved))
    _state.originals = originals


def _uninstall() -> None:
    for (cls, method), (_resolved, own) in _state.originals.items():
        if own is None:
            delattr(cls, method)
        else:
            setattr(cls, method, own)
    _state.originals = {}


def is_installed() -> bool:
    return bool(_state.originals)


@contextlib.contextmanager
def _held() -> Iterator[None]:
    """The patch installed for as long as one holder needs it; the last one takes it off,
    whoever installed it."""
    with _state.lock:
        _install()
        _state.holders += 1
    try:
        yield
    finally:
        with _state.lock:
            _state.holders -= 1
            if _state.holders == 0:
                _uninstall()


@contextlib.contextmanager
def static_identity() -> Iterator[None]:
    """Replay, process-wide: every credential answers with the static fake token, on any
    thread (a run of golden tests: replay/session.py)."""
    with _held():
        with _state.lock:
            _state.static += 1
        try:
            yield
        finally:
            with _state.lock:
                _state.static -= 1


@contextlib.contextmanager
def static_identity_here() -> Iterator[None]:
    """Replay in this context only: every credential answers with the static token here, while a
    thread beside it keeps its own (the recorder checks a fresh recording by replaying it beside
    the recording threads, which must not get a token the service refuses)."""
    with _held():
        token = _REPLAYING.set(True)
        try:
            yield
        finally:
            _REPLAYING.reset(token)


@contextlib.contextmanager
def signing_in_at(settings: Mapping[str, str], *, process_wide: bool = False) -> Iterator[None]:
    """Emulator recording: every credential signs in for real at the stand-in `settings`
    name (SIGN_IN_KEYS), as its service principal; on this thread, or with `process_wide`
    on every thread, with those settings also in os.environ until the end (one recording
    run at a time: os.environ is the process's)."""
    sign_in = _SignIn(settings)
    with contextlib.ExitStack() as undo:
        undo.callback(sign_in.close)
        undo.enter_context(_held())
        if process_wide:
            undo.enter_context(_environment(sign_in.settings))
            with _state.lock:
                _state.sign_ins = (*_state.sign_ins, sign_in)
            undo.callback(_remove_sign_in, sign_in)
        else:
            previous = getattr(_state.local, "sign_in", None)
            _state.local.sign_in = sign_in
            undo.callback(setattr, _state.local, "sign_in", previous)
        yield


def _remove_sign_in(sign_in: _SignIn) -> None:
    with _state.lock:
        _state.sign_ins = tuple(s for s in _state.sign_ins if s is not sign_in)


@contextlib.contextmanager
def _environment(settings: Mapping[str, str]) -> Iterator[None]:
    # The emulator's Foundry endpoint is plain http on loopback (openai -> httpx2 trusts no CA
    # there), so only the sign-in's requests needs the CA: no SSL_CERT_FILE.
    previous = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
