"""The clients a run talks through: the API's (bearer token, throttling retries) and storage's
(no credentials at all: the signed URL is the authority)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from productiv_upload.common.errors import UsageError
from productiv_upload.core.settings.service import ServiceSettings
from productiv_upload.core.settings.transfer import TransferSettings
from productiv_upload.service.api import ProductivApi
from productiv_upload.service.http import RetryCallback, api_retry, make_session
from productiv_upload.service.storage import StorageClient
from productiv_upload.service.tokens import ClientCredentials, StaticToken, TokenSource


@dataclass(frozen=True)
class Clients:
    api: ProductivApi
    storage: StorageClient


def connect(
    service: ServiceSettings,
    transfer: TransferSettings,
    *,
    on_secret: Callable[[str], None] | None = None,
    on_retry: RetryCallback | None = None,
) -> Clients:
    """Build the API client and the storage client for `service`, as `transfer` asks.

    `on_secret` hears of every secret in play (configured or fetched), to keep it out of output.
    """
    # One context for the run: the system's store is read once, not per connection.
    ssl_context = service.trust.ssl_context()
    ca_advice = service.trust.advice()
    timeouts = transfer.timeouts
    storage = StorageClient(
        pool_size=transfer.concurrency,
        timeout=timeouts,
        ssl_context=ssl_context,
        ca_advice=ca_advice,
    )
    # An API connection that went silent closes storage's idle ones: a file that met a flow
    # the network forgot then costs one --timeout, not one for each connection it uses.
    retry = api_retry(transfer.retries, on_retry, on_silence=storage.close)
    api_session = make_session(pool_size=2, retry=retry, timeout=timeouts, ssl_context=ssl_context)
    credentials = service.credentials
    if credentials is None:
        raise UsageError("no credentials")
    tokens: TokenSource
    if credentials.access_token is not None:
        tokens = StaticToken(credentials.access_token, credentials.source)
    else:
        assert credentials.client_id is not None
        assert credentials.client_secret is not None
        tokens = ClientCredentials(
            service.token_url,
            credentials.client_id,
            credentials.client_secret,
            api_session,
            on_token=on_secret,
            origin=credentials.source,
            ca_advice=ca_advice,
        )
    if on_secret is not None:
        for secret in tokens.secrets():
            on_secret(secret)
    api = ProductivApi(
        service.api_url,
        service.app_id,
        tokens,
        api_session,
        upload_type=transfer.upload_type,
        app_id_source=service.sources.get("app_id", "--app-id"),
        ca_advice=ca_advice,
    )
    return Clients(api, storage)
