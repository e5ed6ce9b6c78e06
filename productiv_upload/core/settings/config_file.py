"""The optional config file: named profiles of settings, in TOML.

    # ~/.config/productiv-upload/config.toml
    [default]
    app_id = "myAppId"
    client_id = "..."
    client_secret_file = "~/.config/productiv-upload/client-secret"

    [staging]
    api_url = "https://api.staging.example.com"
    app_id = "myStagingApp"
    token_file = "~/.config/productiv-upload/staging-token"

Each top-level table is a profile; `--profile NAME` or PRODUCTIV_PROFILE picks one, and
`default` is used otherwise. Flags and environment variables override what a profile says.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from productiv_upload.common.errors import UsageError
from productiv_upload.common.platform.folders import config_folder
from productiv_upload.common.text import printable

CONFIG_ENV = "PRODUCTIV_UPLOAD_CONFIG"
PROFILE_ENV = "PRODUCTIV_PROFILE"
DEFAULT_PROFILE = "default"
KEYS = frozenset(
    {
        "api_url",
        "app_id",
        "token_url",
        "token_file",
        "client_id",
        "client_secret",
        "client_secret_file",
        "storage_hosts",
        "metrics_file",
        "ca_bundle",
    }
)
MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path  # the config file, whether or not it exists
    values: Mapping[str, str] = field(default_factory=dict)
    available: tuple[str, ...] = ()  # the file's profiles, when the chosen one is missing

    def missing_note(self) -> str:
        """Added to 'no app id' and 'no credentials' errors when the profile is not there."""
        if not self.available:
            return ""
        return (
            f"; note: {printable(str(self.path))} has no [{printable(self.name)}] profile "
            f"(profiles: {printable(', '.join(self.available))})"
        )

    @property
    def label(self) -> str:
        return f"config file [{self.name}]"


def default_config_path(environ: Mapping[str, str]) -> Path:
    return config_folder(environ) / "config.toml"


def config_path(environ: Mapping[str, str]) -> Path:
    """PRODUCTIV_UPLOAD_CONFIG, or the platform's default place."""
    return Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else default_config_path(environ)


def load_profile(profile_flag: str | None, environ: Mapping[str, str]) -> Profile:
    """The selected profile's values, or none when there is no config file and none was asked."""
    asked = profile_flag or environ.get(PROFILE_ENV) or None
    name = asked or DEFAULT_PROFILE
    path = config_path(environ)
    shown = printable(str(path))
    if not path.exists():
        if asked:
            raise UsageError(
                f"profile {printable(name)!r} was asked for, but there is no config file at {shown}"
            )
        return Profile(name, path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"config file {shown} is not a regular file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise UsageError(f"config file {shown} is too large to be a config file")
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read config file {shown}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"config file {shown} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"config file {shown} is not valid TOML: {error}") from None

    loose = sorted(k for k, v in document.items() if not isinstance(v, dict))
    if loose:
        raise UsageError(
            f"config file {shown}: settings must sit in a profile table such as [default], "
            f"not at the top ({printable(', '.join(loose))})"
        )
    table = document.get(name)
    known = ", ".join(sorted(document)) or "none"
    if table is None:
        if not asked:
            # Flags and the environment may supply everything; say what is there in case not.
            return Profile(name, path, available=tuple(sorted(document)))
        raise UsageError(
            f"config file {shown} has no profile {printable(name)!r} (profiles: {printable(known)})"
        )
    if not isinstance(table, dict):
        raise UsageError(f"config file {shown}: [{printable(name)}] must be a table of settings")
    values: dict[str, str] = {}
    for key, value in table.items():
        if key not in KEYS:
            raise UsageError(
                f"config file {shown}: unknown setting {printable(key)!r} in "
                f"[{printable(name)}] (known: {', '.join(sorted(KEYS))})"
            )
        if key == "storage_hosts" and _is_list_of_strings(value):
            value = ",".join(value)  # a list of patterns, or one comma-separated string
        if not isinstance(value, str) or not value:
            kind = "a list of host patterns" if key == "storage_hosts" else "a non-empty string"
            raise UsageError(f"config file {shown}: {key} in [{printable(name)}] must be {kind}")
        values[key] = value
    if "client_secret" in values and info.st_mode & 0o044:
        raise UsageError(
            f"config file {shown} holds a client_secret and can be read by other "
            f"users; run: chmod 600 {shown}"
        )
    return Profile(name, path, values)


def _is_list_of_strings(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def expand_path(value: str) -> Path:
    return Path(os.path.expanduser(value))
