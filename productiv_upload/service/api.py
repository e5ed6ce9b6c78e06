"""Talking to the Productiv API: one call, "give me signed upload URLs for these file names"."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Sequence

import requests
import requests.auth

from productiv_upload.common.errors import AccessRefused, ApiError, ApiUnreachable
from productiv_upload.common.redact import redact
from productiv_upload.common.text import printable
from productiv_upload.service.faults import CA_ADVICE, diagnose, proxy_for
from productiv_upload.service.throttle import RequestRate
from productiv_upload.service.tokens import TokenSource
from productiv_upload.service.urls import display_host

MAX_BATCH = 100  # the service's limit on filenames per request
# The name `check` and `watch`'s start-up ask a URL for: a URL is issued, nothing is uploaded.
PROBE_FILENAME = "productiv-upload-check.json"
MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # 100 signed URLs take well under 1 MB


class ProductivApi:
    def __init__(
        self,
        api_url: str,
        app_id: str,
        tokens: TokenSource,
        session: requests.Session,
        *,
        upload_type: str | None = None,
        app_id_source: str = "--app-id",
        ca_advice: str = CA_ADVICE,
    ) -> None:
        self._ca_advice = ca_advice
        self.api_url = api_url.rstrip("/")
        self.app_id = app_id
        self.app_id_source = app_id_source
        self._tokens = tokens
        self._session = session
        self._upload_type = upload_type
        self._rate = RequestRate()
        # The app id is one path segment, whatever characters it holds.
        app_segment = urllib.parse.quote(app_id, safe="")
        self._endpoint = f"{self.api_url}/services/push/v1/customer/apps/{app_segment}/upload"

    def probe(self) -> str | None:
        """Prove the token and the app work: ask for one URL, for a file never sent."""
        return self.upload_urls([PROBE_FILENAME]).get(PROBE_FILENAME)

    def upload_urls(self, filenames: Sequence[str]) -> dict[str, str]:
        """Ask for one signed URL per file name; raise ApiError or AccessRefused when refused."""
        if not 1 <= len(filenames) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} file names, not {len(filenames)}")
        params = [("filenames", name) for name in filenames]
        if self._upload_type is not None:
            params.append(("type", self._upload_type))
        # %20 rather than "+" for spaces: every server reads %20 the same way.
        url = f"{self._endpoint}?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}"

        token = self._tokens.token()
        response = self._get(url, token)
        if response.status_code == 401 and self._tokens.renew(token):
            response = self._get(url, self._tokens.token())
        return self._parse(response)

    def _get(self, url: str, token: str) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        self._rate.wait()
        try:
            # No redirects: a 30x could carry the bearer token to another host.
            response = self._session.get(
                url, headers=headers, auth=_BearerAuth(token), allow_redirects=False, stream=True
            )
            response._content = _read_capped(response)
        except requests.RequestException as error:
            # Refused, unresolved, TLS and timeouts say nothing about this batch: the next
            # request would meet the same wall. Anything else concerns this answer alone.
            unreachable = isinstance(error, requests.ConnectionError | requests.Timeout)
            fault = diagnose(error, url, proxy_for(url, os.environ), self._ca_advice)
            raise (ApiUnreachable if unreachable else ApiError)(
                self._redact(f"could not reach the API at {display_host(url)}: {fault.reason}")
            ) from None
        return response

    def _parse(self, response: requests.Response) -> dict[str, str]:
        status = response.status_code
        if status == 200:
            return _url_map(response.content)
        message = _service_message(response.content)
        if status == 401:
            raise AccessRefused(
                f"the API refused the access token (401: {message}); "
                f"{self._tokens.advice_on_refusal()}"
            )
        if status == 403:
            raise AccessRefused(
                f"the access token may not upload to app {printable(self.app_id)} "
                f"(403: {message}); it needs the connector.write scope"
            )
        if status == 404:
            raise AccessRefused(
                f"the API does not know app {printable(self.app_id)} (404: "
                f"{message}); check the app id (from {self.app_id_source}) and the API URL"
            )
        if 300 <= status < 400:
            where = display_host(response.headers.get("Location", ""))
            raise ApiError(
                f"the API answered with a redirect ({status}) to {where}; not "
                "followed, so the token stays put. Check --api-url"
            )
        if status == 429:
            raise ApiError(
                f"the API kept rate-limiting the request (429: {message}); "
                "try again later or with a smaller --concurrency"
            )
        if status >= 500:
            raise ApiError(f"the API failed ({status}: {message}); try again later")
        raise ApiError(f"the API refused the request ({status}: {message})")

    def _redact(self, text: str) -> str:
        return redact(text, self._tokens.secrets())


class _BearerAuth(requests.auth.AuthBase):
    """The token as requests' `auth`: a bare header would lose to a ~/.netrc entry."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def _read_capped(response: requests.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            response.close()
            raise ApiError(
                f"the API's answer is larger than {MAX_RESPONSE_BYTES} bytes; is --api-url right?"
            )
    return bytes(body)


def _url_map(body: bytes) -> dict[str, str]:
    """The 200 answer must be a JSON object mapping file names to URLs, and nothing else."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # deep nesting: hostile, not JSON
        raise ApiError(
            "the API answered 200 with something that is not JSON; is --api-url "
            "right (a proxy's page, perhaps)?"
        ) from None
    if not isinstance(payload, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in payload.items()
    ):
        raise ApiError("the API answered 200 with JSON that is not a map of file names to URLs")
    return payload


def _service_message(body: bytes) -> str:
    """The service's own `message`, or the start of whatever else came back."""
    text = body.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return printable(payload["message"], 200) or "no message"
    if text.lstrip().startswith("<"):
        return "an HTML error page, not the service's own answer (a proxy?)"
    return printable(text.strip(), 200) or "no message"
