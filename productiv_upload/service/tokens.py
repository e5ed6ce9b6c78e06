"""Where the bearer token comes from: a fixed token, or OAuth2 client credentials."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

import requests

from productiv_upload.common.errors import AccessRefused, ApiError, ApiUnreachable
from productiv_upload.common.redact import redact
from productiv_upload.common.text import printable
from productiv_upload.service.faults import CA_ADVICE, diagnose, proxy_for
from productiv_upload.service.urls import display_host

SCOPE = "https://api.productiv.com/connector.write"
RENEW_BEFORE_EXPIRY_S = 60.0


class TokenSource(Protocol):
    def token(self) -> str: ...

    def renew(self, rejected: str) -> bool:
        """Replace a token the API rejected; False when there is nothing better to offer."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be printed."""
        ...

    def advice_on_refusal(self) -> str:
        """What to do when the API refuses this source's token (401)."""
        ...


class StaticToken:
    def __init__(self, token: str, origin: str = "the access token") -> None:
        self._token = token
        self._origin = origin

    def advice_on_refusal(self) -> str:
        return (
            f"the token from {self._origin} is invalid or expired: get a fresh one, or set "
            "PRODUCTIV_CLIENT_ID and PRODUCTIV_CLIENT_SECRET so the tool renews tokens itself"
        )

    def token(self) -> str:
        return self._token

    def renew(self, rejected: str) -> bool:
        return False

    def secrets(self) -> tuple[str, ...]:
        return (self._token,)


class ClientCredentials:
    """Fetches tokens from the token URL and renews them shortly before they expire."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        session: requests.Session,
        *,
        on_token: Callable[[str], None] | None = None,
        origin: str = "PRODUCTIV_CLIENT_ID and PRODUCTIV_CLIENT_SECRET",
        ca_advice: str = CA_ADVICE,
    ) -> None:
        self._ca_advice = ca_advice
        self._origin = origin
        self._on_token = on_token
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._session = session
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def renew(self, rejected: str) -> bool:
        with self._lock:
            if self._token == rejected:  # another thread may have renewed it already
                self._fetch()
        return True

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._client_secret, self._token) if s)

    def advice_on_refusal(self) -> str:
        return (
            "a freshly issued token was refused too: check that this client may use the "
            "Productiv API, and that --token-url and --api-url belong together"
        )

    def _fetch(self) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "scope": SCOPE,
        }
        try:
            response = self._session.post(self._token_url, data=form, allow_redirects=False)
        except requests.RequestException as error:
            unreachable = isinstance(error, requests.ConnectionError | requests.Timeout)
            fault = diagnose(
                error, self._token_url, proxy_for(self._token_url, os.environ), self._ca_advice
            )
            raise (ApiUnreachable if unreachable else ApiError)(
                redact(
                    f"could not get an access token from {display_host(self._token_url)}: "
                    f"{fault.reason}",
                    self.secrets(),
                )
            ) from None
        payload = _json_object(response)
        if response.status_code in (400, 401, 403):
            reason = (
                payload.get("error_description") or payload.get("message") or payload.get("error")
            )
            raise AccessRefused(
                f"the token endpoint refused the client credentials ({response.status_code}: "
                f"{printable(str(reason or 'no reason given'))}); check the client id and secret "
                f"from {self._origin}"
            )
        token = payload.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise ApiError(
                f"the token endpoint answered {response.status_code} without an "
                "access token; try again later"
            )
        expires_in = payload.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, (int, float)) else 3600.0
        self._token = token
        if self._on_token is not None:
            self._on_token(token)
        self._renew_at = time.monotonic() + max(lifetime - RENEW_BEFORE_EXPIRY_S, lifetime / 2)


def _json_object(response: requests.Response) -> dict[str, object]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
