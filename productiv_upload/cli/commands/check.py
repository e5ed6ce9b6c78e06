"""`productiv-upload check` and `config show`: is the setup right, and where did it come from?"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from productiv_upload.common.errors import ExitStatus, UsageError
from productiv_upload.common.redact import Redactor
from productiv_upload.common.text import printable
from productiv_upload.core.session.run_session import RunSession
from productiv_upload.core.settings.config_file import CONFIG_ENV, PROFILE_ENV, config_path
from productiv_upload.core.settings.service import (
    DEFAULT_API_URL,
    describe_storage_hosts,
)
from productiv_upload.core.settings.shared import ServiceChoice, StateSettings
from productiv_upload.core.settings.state_dir import state_dir_and_source
from productiv_upload.core.settings.transfer import TransferSettings
from productiv_upload.service.faults import proxy_for
from productiv_upload.service.trust import resolve_trust
from productiv_upload.service.urls import check_signed_url, display_host


def run_check(
    choice: ServiceChoice,
    *,
    timeout: float,
    environ: Mapping[str, str],
    stdout: TextIO,
    redactor: Redactor | None = None,
) -> int:
    """Get a token if needed and ask for one upload URL; PUT nothing."""
    redactor = redactor or Redactor()
    transfer = TransferSettings(retries=1, timeout=timeout)
    # Opened as push and watch open theirs; check takes no lock and keeps no journal.
    session = RunSession.open(choice, StateSettings(), environ, kind="check")
    service = session.service
    assert service.credentials is not None
    stdout.write(
        f"checking app {printable(service.app_id)} at {printable(service.api_url)} "
        f"with {service.credentials.source}...\n"
        f"trusting {service.trust.describe()}\n"
    )
    api = session.connect(transfer, on_secret=redactor.add).api
    signed_url = api.probe()  # raises AccessRefused (3) or ApiError (1)
    if signed_url is None:
        stdout.write("FAILED: the API answered, but without an upload URL for the probe file\n")
        return int(ExitStatus.FILES_FAILED)
    problem = check_signed_url(signed_url, storage_hosts=service.storage_hosts)
    if problem is not None:
        stdout.write(f"FAILED: {problem}\n")
        return int(ExitStatus.FILES_FAILED)
    stdout.write(
        f"OK: the token was accepted and app {printable(service.app_id)} issued an upload URL "
        f"(storage at {display_host(signed_url)}); nothing was uploaded\n"
    )
    return int(ExitStatus.OK)


def run_config_show(
    choice: ServiceChoice,
    *,
    state_dir: Path | None,
    as_json: bool,
    environ: Mapping[str, str],
    stdout: TextIO,
) -> int:
    config_file = config_path(environ)
    profile = choice.profile
    rows: list[tuple[str, str, str]] = [
        (
            "config file",
            str(config_file) + ("" if config_file.exists() else " (not found)"),
            CONFIG_ENV if environ.get(CONFIG_ENV) else "default",
        ),
        (
            "profile",
            profile or environ.get(PROFILE_ENV) or "default",
            "--profile" if profile else PROFILE_ENV if environ.get(PROFILE_ENV) else "default",
        ),
    ]
    problem = None
    service = None
    for need_credentials in (True, False):  # without credentials, show what does resolve
        try:
            service = choice.resolve(environ, need_credentials=need_credentials)
            break
        except UsageError as error:
            problem = problem or str(error)
    if service is not None:
        rows += [
            ("api_url", service.api_url, service.sources["api_url"]),
            ("app_id", service.app_id, service.sources["app_id"]),
            ("token_url", service.token_url, service.sources["token_url"]),
            (
                "storage_hosts",
                describe_storage_hosts(service.storage_hosts),
                service.sources["storage_hosts"],
            ),
            ("trust", service.trust.describe(with_source=False), service.sources["trust"]),
        ]
        rows.append(_proxy_row(service.api_url, environ))
        if service.credentials is not None:
            credentials = service.credentials
            rows.append(("credentials", credentials.describe(), credentials.source))
    else:  # what does resolve still helps: trust and proxies matter before any app id is set
        try:
            bundle = choice.ca_bundle
            trust = resolve_trust(None if bundle is None else str(bundle), environ)
            rows.append(("trust", trust.describe(with_source=False), trust.source))
        except UsageError as error:
            problem = problem or str(error)
        rows.append(_proxy_row(choice.api_url or DEFAULT_API_URL, environ))
    state, state_source = state_dir_and_source(state_dir, environ)
    rows.append(("state_dir", str(state), state_source))

    if as_json:
        document = {
            "settings": {name: {"value": value, "source": source} for name, value, source in rows},
            "problem": problem,
        }
        stdout.write(json.dumps(document) + "\n")
    else:
        width = max(len(name) for name, _, _ in rows)
        for name, value, source in rows:
            stdout.write(f"{name:<{width}}  {printable(value)}  ({printable(source)})\n")
        if problem:
            stdout.write(f"problem: {problem}\n")
    return int(ExitStatus.BAD_INPUT if problem else ExitStatus.OK)


def _proxy_row(api_url: str, environ: Mapping[str, str]) -> tuple[str, str, str]:
    """The proxy the API is reached through (its password never shown), and its variable."""
    proxy = proxy_for(api_url, environ)
    if proxy is None:
        return ("proxy", "none (direct)", "no proxy variable set, or NO_PROXY")
    with_user = "@" in proxy.url.split("://")[-1]
    return ("proxy", proxy.shown + (" (user <hidden>)" if with_user else ""), proxy.variable)
