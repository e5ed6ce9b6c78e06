"""Settings for talking to the service, resolved in one place.

Precedence: flag > environment > config file profile > default. Each value remembers where it
came from, so `config show` and error messages can say so without ever showing a secret.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from productiv_upload.common.errors import UsageError
from productiv_upload.common.text import printable
from productiv_upload.core.settings import options
from productiv_upload.core.settings.config_file import Profile, expand_path, load_profile
from productiv_upload.core.settings.spec import Option
from productiv_upload.service.trust import Trust, resolve_trust
from productiv_upload.service.urls import check_service_url, display_url, parse_host_patterns

DEFAULT_API_URL = "https://api.productiv.com"
DEFAULT_TOKEN_URL = "https://login.api.productiv.com/oauth2/token"  # noqa: S105 (a URL)
# Productiv's own API hands out URLs to Amazon S3 only; elsewhere (a sandbox, a staging
# service) storage may be anywhere, so no default restriction is imposed there.
PRODUCTION_STORAGE_HOSTS: tuple[str, ...] = ("*.amazonaws.com",)
MAX_TOKEN_FILE_BYTES = 64 * 1024
# The file names the units give `LoadCredential=` (contrib/systemd/; README, "Credentials from
# systemd").
ACCESS_TOKEN_CREDENTIAL = "productiv-access-token"  # noqa: S105 (a file name)
CLIENT_ID_CREDENTIAL = "productiv-client-id"
CLIENT_SECRET_CREDENTIAL = "productiv-client-secret"  # noqa: S105 (a file name)


@dataclass(frozen=True)
class Credentials:
    access_token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    source: str = ""  # where they came from, for messages

    def describe(self) -> str:
        """For `config show`: what kind of credential, secrets hidden."""
        if self.access_token is not None:
            return "access token <hidden>"
        return f"client credentials: client_id {self.client_id}, client_secret <hidden>"


@dataclass(frozen=True)
class ServiceSettings:
    api_url: str
    app_id: str
    token_url: str
    credentials: Credentials | None
    sources: dict[str, str] = field(default_factory=dict)
    profile: str = "default"
    # Host patterns signed URLs may point to; None: any host.
    storage_hosts: tuple[str, ...] | None = None
    metrics_file: Path | None = None  # the profile's metrics_file (--metrics-file wins)
    trust: Trust = field(default_factory=Trust)  # what https:// connections are checked against


def resolve_service(
    *,
    app_id: str | None,
    api_url: str | None,
    token_url: str | None,
    token_file: Path | None,
    environ: Mapping[str, str],
    profile: str | None = None,
    need_credentials: bool = True,
    storage_hosts: list[str] | None = None,
    access_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    ca_bundle: Path | None = None,
) -> ServiceSettings:
    """Combine flags (the keyword arguments), the environment and the config file's profile."""
    chosen = load_profile(profile, environ)
    sources: dict[str, str] = {}

    def pick(option: Option, flag_value: str | None, default: str | None) -> str | None:
        name, env_name = option.name, option.env or ""
        if flag_value is not None:
            sources[name] = "command line"
            return flag_value
        if environ.get(env_name):
            sources[name] = env_name
            return environ[env_name]
        if name in chosen.values:
            sources[name] = chosen.label
            return chosen.values[name]
        sources[name] = "default"
        return default

    resolved_app = pick(options.APP_ID, app_id, None)
    if not resolved_app:
        raise UsageError(
            "no app id: pass --app-id, set PRODUCTIV_APP_ID, or put app_id in the config file"
            + chosen.missing_note()
        )
    check_app_id(resolved_app)
    resolved_api = pick(options.API_URL, api_url, DEFAULT_API_URL)
    resolved_token_url = pick(options.TOKEN_URL, token_url, DEFAULT_TOKEN_URL)
    assert resolved_api is not None
    assert resolved_token_url is not None
    for name, url in (("api_url", resolved_api), ("token_url", resolved_token_url)):
        problem = check_service_url(url, _setting_label(name, sources[name]))
        if problem and "://" not in url:
            raise UsageError(problem)  # it shows the value, and the URL it probably meant
        if problem:
            raise UsageError(f"{problem}: {printable(display_url(url))}")

    flag_hosts = ",".join(storage_hosts) if storage_hosts else None
    hosts_text = pick(options.STORAGE_HOSTS, flag_hosts, None)
    if hosts_text is None:
        production = resolved_api.rstrip("/").lower() == DEFAULT_API_URL
        resolved_hosts = PRODUCTION_STORAGE_HOSTS if production else None
        sources["storage_hosts"] = "default for this API URL"
    else:
        try:
            resolved_hosts = parse_host_patterns(hosts_text)
        except ValueError as error:
            where = sources["storage_hosts"]
            raise UsageError(f"storage hosts from {where}: {printable(str(error))}") from None

    credentials = None
    if need_credentials:
        credentials = _given_credentials(access_token, client_id, client_secret) or _credentials(
            token_file, environ, chosen
        )
    if credentials is not None:
        sources["credentials"] = credentials.source
    metrics_file = None
    if "metrics_file" in chosen.values:
        metrics_file = expand_path(chosen.values["metrics_file"])
        sources["metrics_file"] = chosen.label
    profile_bundle = chosen.values.get("ca_bundle")
    trust = resolve_trust(
        None if ca_bundle is None else str(ca_bundle),
        environ,
        str(expand_path(profile_bundle)) if profile_bundle else None,
        chosen.label,
    )
    sources["trust"] = trust.source
    return ServiceSettings(
        resolved_api,
        resolved_app,
        resolved_token_url,
        credentials,
        sources,
        chosen.name,
        resolved_hosts,
        metrics_file,
        trust,
    )


def _setting_label(name: str, source: str) -> str:
    """How a message names a setting: by the place the user gave it."""
    if source == "command line":
        return "--" + name.replace("_", "-")
    if source.startswith("PRODUCTIV_"):
        return source
    return f"{name} in the {source}"


def describe_storage_hosts(hosts: tuple[str, ...] | None) -> str:
    return ", ".join(hosts) if hosts is not None else "any host"


def check_app_id(app_id: str) -> None:
    try:
        app_id.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"app id {printable(app_id)!r} is not valid UTF-8") from None
    if app_id in (".", "..") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in app_id):
        raise UsageError(f"app id {printable(app_id)!r} is not valid; check --app-id")


def _given_credentials(
    access_token: str | None, client_id: str | None, client_secret: str | None
) -> Credentials | None:
    """Credentials a Python caller passed as arguments: they come before every other source."""
    if access_token is not None:
        token = _clean_secret(access_token, "the access_token argument")
        return Credentials(access_token=token, source="the access_token argument")
    if client_id is None and client_secret is None:
        return None
    if client_id is None or client_secret is None:
        raise UsageError("pass both client_id and client_secret, not just one")
    return Credentials(
        client_id=_clean_secret(client_id, "the client_id argument"),
        client_secret=_clean_secret(client_secret, "the client_secret argument"),
        source="the client_id and client_secret arguments",
    )


def _credentials(
    token_file: Path | None, environ: Mapping[str, str], profile: Profile
) -> Credentials:
    """Each setting from the first place that gives it: the command line, the environment,
    systemd's credentials ($CREDENTIALS_DIRECTORY), then the config file's profile."""
    if token_file is not None:
        return Credentials(
            access_token=read_token_file(token_file),
            source=f"--token-file {printable(str(token_file))}",
        )
    if environ.get("PRODUCTIV_ACCESS_TOKEN"):
        token = _clean_secret(environ["PRODUCTIV_ACCESS_TOKEN"], "PRODUCTIV_ACCESS_TOKEN")
        return Credentials(access_token=token, source="PRODUCTIV_ACCESS_TOKEN")
    if environ.get("PRODUCTIV_TOKEN_FILE"):
        path = Path(environ["PRODUCTIV_TOKEN_FILE"])
        return Credentials(access_token=read_token_file(path), source="PRODUCTIV_TOKEN_FILE")
    systemd = SystemdCredentials(environ)
    if systemd.has(ACCESS_TOKEN_CREDENTIAL):
        return Credentials(
            access_token=systemd.read(ACCESS_TOKEN_CREDENTIAL),
            source=systemd.describe(ACCESS_TOKEN_CREDENTIAL),
        )
    client_id, id_source = _client_setting(
        environ, "PRODUCTIV_CLIENT_ID", systemd, CLIENT_ID_CREDENTIAL
    )
    client_secret, secret_source = _client_setting(
        environ, "PRODUCTIV_CLIENT_SECRET", systemd, CLIENT_SECRET_CREDENTIAL
    )
    if client_id is None and client_secret is None:
        return _profile_credentials(profile)
    if client_id is None or client_secret is None:
        # The other half may be in the config file's profile (a client id there, the secret
        # from systemd, say); the sources above win over it.
        profile_id, profile_secret = _profile_client_values(profile)
        client_id = client_id or profile_id
        client_secret = client_secret or profile_secret
        if not client_id or not client_secret:
            raise UsageError(
                "set both PRODUCTIV_CLIENT_ID and PRODUCTIV_CLIENT_SECRET, not just one (or "
                "give the other as a systemd credential or in the config file)"
            )
        id_source = id_source or f"{profile.label} client_id"
        secret_source = secret_source or f"{profile.label} client secret"
    source = id_source if id_source == secret_source else f"{id_source} and {secret_source}"
    return Credentials(client_id=client_id, client_secret=client_secret, source=source)


def _profile_credentials(profile: Profile) -> Credentials:
    values = profile.values
    if "token_file" in values:
        path = expand_path(values["token_file"])
        return Credentials(access_token=read_token_file(path), source=f"{profile.label} token_file")
    client_id, secret = _profile_client_values(profile)
    if client_id is not None and secret is not None:
        return Credentials(
            client_id=client_id,
            client_secret=secret,
            source=f"{profile.label} client_id and client secret",
        )
    if client_id is not None or secret is not None:
        raise UsageError(
            f"{profile.label} in {printable(str(profile.path))} needs both client_id "
            "and client_secret (or client_secret_file)"
        )
    raise UsageError(
        "no credentials: set PRODUCTIV_ACCESS_TOKEN, pass --token-file, set "
        "PRODUCTIV_CLIENT_ID and PRODUCTIV_CLIENT_SECRET, or add them to a profile in "
        f"{printable(str(profile.path))}" + profile.missing_note()
    )


def _client_setting(
    environ: Mapping[str, str], variable: str, systemd: SystemdCredentials, credential: str
) -> tuple[str | None, str]:
    if environ.get(variable):
        return _clean_secret(environ[variable], variable), variable
    if systemd.has(credential):
        return systemd.read(credential), systemd.describe(credential)
    return None, ""


def _profile_client_values(profile: Profile) -> tuple[str | None, str | None]:
    """The profile's client id and client secret, each if it has one."""
    values = profile.values
    client_id = None
    if "client_id" in values:
        client_id = _clean_secret(values["client_id"], f"client_id in {profile.label}")
    secret = None
    if "client_secret_file" in values:
        secret = read_token_file(expand_path(values["client_secret_file"]), what="secret file")
    elif "client_secret" in values:
        secret = _clean_secret(values["client_secret"], f"client_secret in {profile.label}")
    return client_id, secret


def read_token_file(path: Path, what: str = "token file", *, group_may_read: bool = False) -> str:
    """Read a token from a file only its owner can read; whitespace around it is ignored.

    `group_may_read`: for systemd's credentials, which it makes 0440 when it grants the
    service's user access through an ACL (the group bits then show the ACL's mask).
    """
    shown = f"{what} {printable(str(path))}"
    readable_by_others = 0o004 if group_may_read else 0o044
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{shown} is not a regular file")
        if info.st_mode & readable_by_others:
            raise UsageError(
                f"{shown} can be read by other users; run: chmod 600 {printable(str(path))}"
            )
        if info.st_size > MAX_TOKEN_FILE_BYTES:
            raise UsageError(f"{shown} is too large to hold a token")
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {shown}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{shown} is not UTF-8 text") from None
    return _clean_secret(text, shown)


class SystemdCredentials:
    """The credentials systemd hands a service (`LoadCredential=`, `LoadCredentialEncrypted=`):
    one file per credential in $CREDENTIALS_DIRECTORY, decrypted, in memory, private to it."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        folder = environ.get("CREDENTIALS_DIRECTORY")
        self.folder = Path(folder) if folder else None

    def has(self, name: str) -> bool:
        return self.folder is not None and os.path.lexists(self.folder / name)

    def read(self, name: str) -> str:
        assert self.folder is not None
        return read_token_file(self.folder / name, what="systemd credential", group_may_read=True)

    def describe(self, name: str) -> str:
        return f"systemd credential {name}"


def _clean_secret(value: str, where: str) -> str:
    value = value.strip()
    if not value:
        raise UsageError(f"{where} is empty")
    # A newline inside would let the value forge extra HTTP headers.
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        raise UsageError(f"{where} holds whitespace or control characters inside the value")
    return value
