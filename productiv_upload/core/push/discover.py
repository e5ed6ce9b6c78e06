"""Turn the paths and patterns a user gave into the list of files to send, checked up front.

Everything that can be wrong with the inputs is found here, before the first request: a missing
path, a pattern that matches nothing, a directory without --recursive, a FIFO, two files that
would land under the same name.
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from productiv_upload.common.errors import UsageError
from productiv_upload.common.text import printable
from productiv_upload.core.model import FileResult, Identity, LocalFile, Status

_GLOB_MAGIC = re.compile(r"[*?[]")


@dataclass
class Discovery:
    files: list[LocalFile] = field(default_factory=list)
    # Inputs named explicitly that cannot be sent (a FIFO, a socket...): failed, never opened.
    refused: list[FileResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


MAX_PROBLEMS_SHOWN = 20


def discover(
    inputs: Iterable[str],
    *,
    recursive: bool = False,
    allow_empty: bool = False,
    literal_paths: Iterable[str] = (),
    exclude: Sequence[str] = (),
) -> Discovery:
    """Expand `inputs` into regular files, or raise UsageError naming every bad input.

    `literal_paths` (from --files-from) are taken as paths, never as patterns; `exclude`'s
    patterns leave out the files they match.
    """
    found = Discovery()
    seen: set[tuple[int, int, str]] = set()
    owner_of_name: dict[str, str] = {}
    problems: list[str] = []
    given_any = False
    excluded = exclusion(exclude)

    def expansions() -> Iterator[Iterator[tuple[str, bool]]]:
        for given in inputs:
            yield _expand(given, recursive, allow_empty, found.warnings)
        for given in literal_paths:
            yield _literal(given, recursive, found.warnings)

    for expansion in expansions():
        given_any = True
        try:
            for path, explicit in expansion:
                if excluded(path):
                    continue
                try:
                    _add(path, explicit, found, seen, owner_of_name)
                except UsageError as problem:
                    problems.append(str(problem))
        except UsageError as problem:
            problems.append(str(problem))

    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        if len(problems) > MAX_PROBLEMS_SHOWN:
            shown.append(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more problems")
        raise UsageError("\n".join(shown))
    if not found.files and not found.refused and not allow_empty:
        if not given_any:
            raise UsageError("no files given: name files, directories or patterns to upload")
        raise UsageError(
            "nothing to upload: the inputs matched no files (use --allow-empty "
            "to make that a success)"
        )
    return found


def read_path_list(source: BinaryIO, *, null: bool) -> list[str]:
    """Paths from --files-from: one per line, or NUL-separated as `find -print0` writes.

    Bytes are decoded the way the OS decodes file names, so any name on disk round-trips.
    """
    data = source.read()
    if null:
        entries = data.split(b"\0")
    elif b"\0" in data:
        raise UsageError(
            "--files-from holds NUL-separated names (as `find -print0` writes): add -0"
        )
    else:
        entries = [line.removesuffix(b"\r") for line in data.split(b"\n")]
    return [os.fsdecode(entry) for entry in entries if entry]


def exclusion(patterns: Sequence[str]) -> Callable[[str], bool]:
    """A pattern without a slash matches base names; one with a slash, whole paths."""
    by_name = [re.compile(fnmatch.translate(p)) for p in patterns if os.sep not in p]
    by_path = [re.compile(fnmatch.translate(p)) for p in patterns if os.sep in p]

    def excluded(path: str) -> bool:
        name = os.path.basename(path)
        return any(r.match(name) for r in by_name) or any(r.match(path) for r in by_path)

    return excluded


def _literal(given: str, recursive: bool, warnings: list[str]) -> Iterator[tuple[str, bool]]:
    if not os.path.lexists(given):
        raise UsageError(f"no such file or directory: {printable(given)}")
    yield from _expand(given, recursive, False, warnings)


def _expand(
    given: str, recursive: bool, allow_empty: bool, warnings: list[str]
) -> Iterator[tuple[str, bool]]:
    """Yield (path, named_explicitly) for one input."""
    # A path that exists is taken literally, even with glob characters in its name.
    if os.path.lexists(given):
        if os.path.isdir(given):
            if not recursive:
                raise UsageError(
                    f"{printable(given)} is a directory (add --recursive to upload "
                    "every file below it)"
                )
            yield from ((path, False) for path in _walk(given, warnings))
        else:
            yield given, True
        return
    if not _GLOB_MAGIC.search(given):
        raise UsageError(f"no such file or directory: {printable(given)}")
    root = _pattern_root(given)
    if root and not os.path.isdir(root):
        missing = f"no such folder: {printable(root)} (in the pattern {printable(given)})"
        if not allow_empty:
            raise UsageError(missing)
        # Allowed, as an empty folder is (a spool folder made by the first export), but never
        # silent: a typo or an unmounted share would otherwise pass as success for ever.
        warnings.append(f"{missing}; nothing to upload from it (--allow-empty)")
        return
    matches = expand_pattern(given)
    if not matches and not allow_empty:
        raise UsageError(
            f"no files match the pattern {printable(given)} (if that can happen, as with a "
            "spool folder that is empty at times, add --allow-empty)"
        )
    for match in matches:
        if os.path.isdir(match):
            if recursive:
                yield from ((path, False) for path in _walk(match, warnings))
            # Without --recursive a pattern's directories are not files to send: skip quietly,
            # as `cp dir/*` users expect from a pattern that also matches folders.
            continue
        # A match counts as named: the same files typed out by the shell would be.
        yield match, True


def expand_pattern(pattern: str) -> list[str]:
    """Sorted matches of a glob pattern; `**` matches any depth, zero included.

    Like the shell, `*` and `**` do not match names starting with a dot. Unlike Python's own
    recursive glob, `**` never follows a symlink to a directory: two links to `.` would make
    that expansion explode.
    """
    if "**" not in pattern:
        return sorted(glob.glob(pattern))
    parts = pattern.split(os.sep)
    first_magic = next(i for i, part in enumerate(parts) if _GLOB_MAGIC.search(part))
    root = os.sep.join(parts[:first_magic])
    matchers = [None if part == "**" else _segment(part) for part in parts[first_magic:]]
    top = root or os.curdir
    if not os.path.isdir(top):
        return []
    matches = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        relative = os.path.relpath(dirpath, top)
        prefix = [] if relative == os.curdir else relative.split(os.sep)
        for name in [*dirnames, *filenames]:
            if not name.startswith(".") and _matches(matchers, (*prefix, name)):
                matches.append(os.path.join(root, *prefix, name))
    return sorted(matches)


def _pattern_root(pattern: str) -> str:
    """The folder a pattern starts from: its components before the first with a wildcard."""
    parts = pattern.split(os.sep)
    first_magic = next(i for i, part in enumerate(parts) if _GLOB_MAGIC.search(part))
    root = os.sep.join(parts[:first_magic])
    return root if root or not pattern.startswith(os.sep) else os.sep


def _segment(part: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(part))


def _matches(matchers: Sequence[re.Pattern[str] | None], parts: Sequence[str]) -> bool:
    """Whether path components `parts` match the pattern segments (None standing for `**`)."""

    @functools.cache
    def match_from(m: int, p: int) -> bool:
        if m == len(matchers):
            return p == len(parts)
        matcher = matchers[m]
        if matcher is None:  # ** : zero or more whole components
            return any(match_from(m + 1, q) for q in range(p, len(parts) + 1))
        return p < len(parts) and matcher.match(parts[p]) is not None and match_from(m + 1, p + 1)

    return match_from(0, 0)


def _walk(top: str, warnings: list[str]) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(top, onerror=_raise_walk_error):
        dirnames.sort()
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)
        # os.walk lists symlinks to directories with the directories but never enters them,
        # which keeps link loops out; say so rather than skip them silently.
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                warnings.append(
                    f"skipped {printable(os.path.join(dirpath, name))}: symlink to a directory"
                )


def _raise_walk_error(error: OSError) -> None:
    raise UsageError(f"cannot read {printable(str(error.filename))}: {error.strerror}")


def _add(
    path: str,
    explicit: bool,
    found: Discovery,
    seen: set[tuple[int, int, str]],
    owner_of_name: dict[str, str],
) -> None:
    shown = printable(path)
    try:
        info = os.stat(path)  # follows symlinks: a link uploads its target's bytes
    except FileNotFoundError:
        if not explicit:
            found.warnings.append(f"skipped {shown}: broken symlink")
            return
        raise UsageError(f"{shown} is a broken symlink") from None
    except OSError as error:
        raise UsageError(f"cannot read {shown}: {error.strerror}") from None

    filename = os.path.basename(path)
    identity = (info.st_dev, info.st_ino, filename)
    if identity in seen:
        return  # the same file under the same name, given twice: send (or refuse) it once
    seen.add(identity)
    if not stat.S_ISREG(info.st_mode):
        reason = f"not a regular file ({_kind(info.st_mode)}); it was not opened"
        if explicit:
            found.refused.append(FileResult(path, filename, 0, Status.FAILED, 0, reason))
        else:
            found.warnings.append(f"skipped {shown}: {reason}")
        return
    try:
        filename.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"{shown}: the file name is not valid UTF-8, so it cannot be sent "
            "to the service; rename the file"
        ) from None
    # Names equal once Unicode-normalised ("é" composed or not) would likely reach the same
    # record at the service; treat them as the collision they probably are.
    first = owner_of_name.setdefault(unicodedata.normalize("NFC", filename), path)
    if first != path:
        raise UsageError(
            f"two files would be uploaded as {printable(filename)}: {printable(first)} "
            f"and {shown}; the service keys on the base name, so one would "
            "overwrite the other. Rename one or upload them separately"
        )
    found.files.append(LocalFile(path, filename, info.st_size, info.st_mtime_ns, Identity.of(info)))


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"
