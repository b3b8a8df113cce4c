"""A local stand-in for Microsoft Entra ID: the sign-in of a service principal, over TLS.

`ClientSecretCredential` (azure-identity -> MSAL -> azure-core -> requests) signs in against
it for real: it fetches the tenant's OpenID configuration, then posts the client credentials
grant to the token endpoint. TLS comes from a throwaway certificate authority made at start-up
(trustme), whose certificate is written to `ca_bundle` for clients to trust; nothing is
installed process-wide.

Served, as MSAL requests them (msal/authority.py, msal/oauth2cli/oauth2.py):

- `GET /{tenant}/v2.0/.well-known/openid-configuration` (tenant discovery);
- `GET /common/discovery/instance` (instance discovery, asked only when a client does not
  turn it off for an authority host Microsoft does not know);
- `POST /{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`, the client id and
  secret in the form body (or HTTP Basic), and a `scope`.

Issued access tokens are signed with a throwaway key: `verify(token)` checks the signature and
the lifetime, as Foundry validates a bearer token against its tenant's signing keys, so every
emulator that trusts this stand-in accepts its tokens, including one started after the token
was issued (a run's emulators share one stand-in and one sign-in).

Error bodies have Entra's shape: `error`, `error_description` starting with the AADSTS
code, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`
(tests/reference/entra.json).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import secrets
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, cast
from urllib.parse import parse_qs, unquote_plus, urlsplit

import trustme

from foundry_goldens.emulator.http_server import ConnectionTrackingServer

log = logging.getLogger("foundry_goldens.emulator.entra")

# Entra's usual lifetime of an app-only access token (seconds), as it answers `expires_in`.
TOKEN_LIFETIME = 3599
SCOPE_SUFFIX = "/.default"  # the client credentials grant takes only `<resource>/.default`

TOKEN_ROUTE = "POST /{tenant}/oauth2/v2.0/token"
OPENID_ROUTE = "GET /{tenant}/v2.0/.well-known/openid-configuration"
INSTANCE_ROUTE = "GET /common/discovery/instance"


@dataclasses.dataclass(frozen=True)
class ServicePrincipal:
    """An app registration of the stand-in's tenant: what `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`
    and `AZURE_CLIENT_SECRET` hold. The secret is made at random for each start."""

    tenant_id: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)

    @classmethod
    def generate(cls) -> ServicePrincipal:
        # A client secret as Entra makes them: 40 characters, with a `~` among them.
        secret = secrets.token_urlsafe(30)[:36]
        return cls(str(uuid.uuid4()), str(uuid.uuid4()), f"{secret[:3]}8Q~{secret[3:]}")


class EntraError(Exception):
    """An Entra ID error answer: HTTP status, OAuth error, AADSTS code and its message."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.status, self.error, self.code, self.description = status, error, code, description

    def payload(self, authority: str) -> dict[str, Any]:
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.code}: {self.description}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{authority}/error?code={self.code}",
        }


def _tenant_not_found(tenant: str) -> EntraError:
    return EntraError(
        400,
        "invalid_request",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud.",
    )


class _Server(ConnectionTrackingServer):
    # A credential's HTTP session keeps its connection open: closed on stop by the base class.
    def __init__(self, entra: EntraStandIn, address: tuple[str, int]) -> None:
        self.entra = entra
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that does not trust the throwaway CA hangs up in the handshake: that is the
        # client's error to report, not a traceback on the server's stderr.
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLError | ConnectionError | TimeoutError):
            log.debug("TLS connection from %s ended: %s", client_address, error)
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30
    server: _Server

    def send_response(self, code: int, message: str | None = None) -> None:
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", "EntraStandIn")

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = self.headers.get("Content-Length")
        body = self.rfile.read(int(length)) if length and length.isdigit() else b""
        entra = self.server.entra
        try:
            status, payload = entra.answer(
                self.command, self.path, self.headers.get("Authorization", ""), body
            )
        except EntraError as error:
            status, payload = error.status, error.payload(entra.authority_host)
        except Exception as error:  # a bug in the stand-in, not an Entra behaviour
            log.exception("Entra stand-in failed on %s %s", self.command, self.path)
            status = 500
            payload = {"error": "server_error", "error_description": f"stand-in bug: {error!r}"}
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Cache-Control", "no-store, no-cache")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class EntraStandIn:
    """Entra ID's token endpoints for one tenant and one service principal, on a background
    thread over HTTPS; a context manager. `verify` tells the tokens it issued."""

    def __init__(
        self,
        *,
        service_principal: ServicePrincipal | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: int = TOKEN_LIFETIME,
    ) -> None:
        self.service_principal = service_principal or ServicePrincipal.generate()
        self.token_lifetime = token_lifetime
        self._address = (host, port)
        self._signing_key = secrets.token_bytes(32)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ca_file: str | None = None

    # --- life cycle ---

    def start(self) -> EntraStandIn:
        if self._server is not None:
            raise RuntimeError("the Entra stand-in is already running")
        ca = trustme.CA(organization_name="foundry-goldens throwaway CA")
        certificate = ca.issue_cert(self._address[0], "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        fd, ca_file = tempfile.mkstemp(prefix="entra-stand-in-ca-", suffix=".pem")
        os.close(fd)
        try:
            ca.cert_pem.write_to_path(ca_file)
            server = _Server(self, self._address)
        except BaseException:
            os.unlink(ca_file)
            raise
        # The handshake happens on the connection's own handler thread (first read), not in
        # the accept loop, so one slow client cannot hold up the others.
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        self._server, self._ca_file = server, ca_file
        self._thread = threading.Thread(
            target=server.serve_until_stopped, name="entra-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread, ca_file = self._server, self._thread, self._ca_file
        if server is None:
            return
        self._server = self._thread = self._ca_file = None
        server.stop_serving()
        if thread is not None:
            thread.join(timeout=10)
        server.close_open_connections()
        server.server_close()
        if ca_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(ca_file)

    def __enter__(self) -> EntraStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what a client needs ---

    @property
    def authority_host(self) -> str:
        """What `AZURE_AUTHORITY_HOST` (or a credential's `authority=`) takes."""
        if self._server is None:
            raise RuntimeError("the Entra stand-in is not running")
        host, port = cast(tuple[str, int], self._server.server_address[:2])
        return f"https://{host}:{port}"

    @property
    def ca_bundle(self) -> str:
        """Path of a PEM file with the throwaway CA's certificate (for `connection_verify=`)."""
        if self._ca_file is None or self._server is None:
            raise RuntimeError("the Entra stand-in is not running")
        return self._ca_file

    def verify(self, token: str) -> bool:
        """Whether `token` is an access token this stand-in issued and still valid: its
        signature, `nbf` and `exp` (Foundry answers 401 to any other bearer token)."""
        return self.claims_of(token) is not None

    def claims_of(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid token of this stand-in (signature, `nbf`, `exp` checked);
        None for any other token. Whether the audience suits is the resource's check."""
        signing_input, _, signature = token.rpartition(".")
        expected = hmac.new(self._signing_key, signing_input.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(signature.encode(), _b64_bytes(expected).encode()):
            return None
        try:
            claims = json.loads(_unb64(signing_input.partition(".")[2]))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(claims, dict):
            return None
        now = time.time()
        if not claims.get("nbf", 0) <= now < claims.get("exp", 0):
            return None
        return claims

    def principal_of(self, token: str) -> str | None:
        """The object id (`oid`) of the principal a valid token of this stand-in was issued
        to; None for any other token."""
        claims = self.claims_of(token)
        return None if claims is None else str(claims.get("oid") or "")

    def request_counts(self) -> dict[str, int]:
        """Requests so far by route (`POST /{tenant}/oauth2/v2.0/token`, ...), plus `tokens
        issued`; an unknown path counts under `unrouted`."""
        with self._lock:
            return dict(sorted(self._counts.items()))

    # --- answering ---

    def answer(
        self, method: str, target: str, authorization: str, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        url = urlsplit(target)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if method == "GET" and parts == ["common", "discovery", "instance"]:
            self._count(INSTANCE_ROUTE)
            return 200, self._instance_discovery(query)
        if method == "GET" and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            self._count(OPENID_ROUTE)
            self._check_tenant(parts[0])
            return 200, self._openid_configuration()
        if method == "POST" and parts[1:] == ["oauth2", "v2.0", "token"]:
            self._count(TOKEN_ROUTE)
            self._check_tenant(parts[0])
            return 200, self._token(authorization, body)
        self._count("unrouted")
        raise EntraError(
            404, "invalid_request", 900561, f"The endpoint only accepts what it serves: {url.path}"
        )

    def _count(self, route: str) -> None:
        with self._lock:
            self._counts[route] += 1

    def _check_tenant(self, tenant: str) -> None:
        if tenant.lower() != self.service_principal.tenant_id:
            raise _tenant_not_found(tenant)

    def _tenant_url(self) -> str:
        return f"{self.authority_host}/{self.service_principal.tenant_id}"

    def _instance_discovery(self, query: Mapping[str, str]) -> dict[str, Any]:
        host = urlsplit(self.authority_host).netloc
        discovery = f"{self._tenant_url()}/v2.0/.well-known/openid-configuration"
        return {
            "tenant_discovery_endpoint": discovery,
            "api-version": query.get("api-version", "1.1"),
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    def _openid_configuration(self) -> dict[str, Any]:
        tenant_url = self._tenant_url()
        return {
            "token_endpoint": f"{tenant_url}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{tenant_url}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{tenant_url}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{tenant_url}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{tenant_url}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{tenant_url}/oauth2/v2.0/logout",
            "tenant_region_scope": None,
            "cloud_instance_name": "microsoftonline.com",
        }

    def _token(self, authorization: str, body: bytes) -> dict[str, Any]:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client_id, client_secret = _basic_credentials(authorization)
        client_id = form.get("client_id", client_id)
        client_secret = form.get("client_secret", client_secret)
        principal = self.service_principal
        grant_type = form.get("grant_type", "")
        if grant_type != "client_credentials":
            raise EntraError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )
        if client_id != principal.client_id:
            raise EntraError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{principal.tenant_id}'. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in "
                "the tenant. You may have sent your authentication request to the wrong tenant.",
            )
        if not client_secret:
            raise EntraError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
            )
        if not hmac.compare_digest(client_secret.encode(), principal.client_secret.encode()):
            raise EntraError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{principal.client_id}'.",
            )
        scopes = form.get("scope", "").split()
        resource_scopes = [s for s in scopes if s.endswith(SCOPE_SUFFIX)]
        if len(resource_scopes) != 1:
            raise EntraError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {form.get('scope', '')} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        token = self._access_token(resource_scopes[0][: -len(SCOPE_SUFFIX)])
        self._count("tokens issued")
        return {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": token,
        }

    def _access_token(self, audience: str) -> str:
        """A JWT-shaped app-only token with Entra's claims, signed with a throwaway key."""
        now = int(time.time())
        principal = self.service_principal
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{principal.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "appid": principal.client_id,
            "appidacr": "1",
            "idtyp": "app",
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, principal.client_id)),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, principal.client_id)),
            "tid": principal.tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        header = {"typ": "JWT", "alg": "HS256"}
        signing_input = f"{_b64(header)}.{_b64(claims)}"
        signature = hmac.new(self._signing_key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64_bytes(signature)}"


def _b64(data: dict[str, Any]) -> str:
    return _b64_bytes(json.dumps(data, separators=(",", ":")).encode("utf-8"))


def _b64_bytes(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(value.strip()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)
