"""The per-user folders the tool keeps its state and its config file in, per platform."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

APP_DIR = "productiv-upload"


def state_folder(environ: Mapping[str, str]) -> Path:
    """Where the journal and the locks live by default: XDG_STATE_HOME on Linux."""
    home = _home(environ)
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / APP_DIR
    if os.name == "nt":
        return Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / APP_DIR
    return Path(environ.get("XDG_STATE_HOME") or home / ".local" / "state") / APP_DIR


def config_folder(environ: Mapping[str, str]) -> Path:
    """Where the config file lives by default: XDG_CONFIG_HOME on Linux."""
    home = _home(environ)
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / APP_DIR
    if os.name == "nt":
        return Path(environ.get("APPDATA") or home / "AppData" / "Roaming") / APP_DIR
    return Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / APP_DIR


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())
