"""Hints that something changed in the watched folders: OS events through watchdog, or a timer.

A hint only says "look again"; `watch` rescans the folders to find out what changed, so events
that arrive late, coalesced or not at all (a full kernel queue, a network filesystem) never
lose a file. watchdog picks the OS facility (inotify on Linux, FSEvents on macOS, kqueue on BSD,
ReadDirectoryChangesW on Windows); where it cannot start, polling takes over.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from productiv_upload.common.platform.procfs import filesystem_type

FALLBACK_POLL_S = 2.0
# File systems whose files other machines write: the local kernel sends no events for those
# writes, so such folders are polled.
REMOTE_FS_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "davfs",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.s3fs",
        "fuse.glusterfs",
        "fuse.cephfs",
    }
)


@contextlib.contextmanager
def start_hints(
    dirs: list[str],
    *,
    recursive: bool,
    poll: float | None,
    wake: threading.Event,
    warn: Callable[[str], None],
) -> Iterator[tuple[str, float | None]]:
    """Set `wake` whenever the OS reports a change.

    Yields how changes are noticed, and the polling interval when there are no OS events.
    """
    if poll is not None:
        yield f"polling every {poll:g} s", poll
        return
    remote = [(folder, kind) for folder in dirs if (kind := remote_fs_type(folder)) is not None]
    if remote:
        folder, kind = remote[0]
        yield f"polling every {FALLBACK_POLL_S:g} s: {folder} is on {kind}", FALLBACK_POLL_S
        return
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    class Waker(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            wake.set()

    observer = Observer()
    try:
        for folder in dirs:
            observer.schedule(Waker(), folder, recursive=recursive)
        observer.start()
    except (OSError, RuntimeError) as error:
        # inotify's watch limit (fs.inotify.max_user_watches), or no OS facility at all.
        warn(f"cannot watch through the OS ({error}); polling every {FALLBACK_POLL_S:g} s")
        yield f"polling every {FALLBACK_POLL_S:g} s", FALLBACK_POLL_S
        return
    facility = type(observer).__name__.removesuffix("Observer").lower() or "os events"
    try:
        yield facility, None
    finally:
        observer.stop()
        observer.join(timeout=5)


def remote_fs_type(folder: str, mountinfo: str | None = None) -> str | None:
    """The type of the file system `folder` is on, if it is a network one (known on Linux)."""
    kind = filesystem_type(folder, mountinfo)
    return kind if kind in REMOTE_FS_TYPES else None
