"""A static stand-in for an Azure credential: replay's answer for every credential a snippet
builds (snippet/identity.py), and a ready `AZURE_TOKEN_CREDENTIAL` for tests and embedders.

It never talks to Microsoft Entra: `get_token` and `get_token_info` return one fixed fake token
that expires far in the future, so the integration's bearer-token provider never refreshes and
no token traffic is ever made (or recorded). The emulator accepts it as well.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from foundry_goldens.static_token import STATIC_TEST_TOKEN

FAR_FUTURE_EXPIRY = 4_102_444_800  # 2100-01-01T00:00:00Z


class StaticTokenCredential:
    """A `TokenCredential` (and `SupportsTokenInfo`) that always returns the same fake token."""

    def __init__(self, token: str = STATIC_TEST_TOKEN, expires_on: int = FAR_FUTURE_EXPIRY) -> None:
        self._token = token
        self._expires_on = expires_on

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._token, self._expires_on)

    def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, self._expires_on)

    def close(self) -> None:
        """Nothing to release; present because azure-identity credentials have it."""

    def __enter__(self) -> StaticTokenCredential:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return "StaticTokenCredential()"
