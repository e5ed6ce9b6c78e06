"""The state folder, where the journal and the locks live: where it is, what is wrong with it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from productiv_upload.common.platform.folders import state_folder
from productiv_upload.common.text import printable
from productiv_upload.core.settings import options


def resolve_state_dir(flag: Path | None, environ: Mapping[str, str]) -> Path:
    return state_dir_and_source(flag, environ)[0]


def state_dir_and_source(flag: Path | None, environ: Mapping[str, str]) -> tuple[Path, str]:
    """--state-dir > PRODUCTIV_UPLOAD_STATE_DIR > the platform default, and which one it was."""
    if flag is not None:
        return flag, "--state-dir"
    variable = options.STATE_DIR.env or ""
    if environ.get(variable):
        return Path(environ[variable]), variable
    return state_folder(environ), "default"


def state_dir_problem(folder: Path, error: OSError) -> str:
    """`cannot use the state directory X: <why>`, naming what is in the way if something is."""
    shown = printable(str(folder))
    if isinstance(error, FileExistsError | NotADirectoryError):
        blocker = printable(str(error.filename or folder))
        return (
            f"cannot use the state directory {shown}: {blocker} is a file, not a folder; move "
            "it away or pass another --state-dir"
        )
    return (
        f"cannot use the state directory {shown}: {error.strerror}; pass another --state-dir, "
        "or set PRODUCTIV_UPLOAD_STATE_DIR"
    )
