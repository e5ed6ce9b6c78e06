"""What Linux's /proc tells: who holds a file lock, what a process runs, what is mounted where.

Each function answers "unknown" (UNKNOWN or None) where there is no /proc, and the callers
fall back to something weaker that works everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

UNKNOWN = -1  # no lock table to read: the caller believes the holder's PID file instead
LOCKS = Path("/proc/locks")
MOUNTINFO = Path("/proc/self/mountinfo")


def flock_holder(info: os.stat_result) -> int | None:
    """The PID holding an flock on the file `info` describes; None if nobody; UNKNOWN."""
    try:
        table = LOCKS.read_text()
    except OSError:
        return UNKNOWN
    where = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 3568 fe:00:2146392 0 EOF"; "->" marks a waiter.
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == where and fields[4].isdigit():
            return int(fields[4])
    return None


def command_words(pid: int) -> list[bytes] | None:
    """A process's arguments, or None where they cannot be read."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None


def filesystem_type(folder: str, mountinfo: str | None = None) -> str | None:
    """The type of the file system `folder` is on ("ext4", "nfs4"...), from the mount table
    (`mountinfo`, by default this process's); None where there is none to read."""
    if mountinfo is None:
        try:
            mountinfo = MOUNTINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    path = os.path.realpath(folder)
    best, best_type = "", None
    for line in mountinfo.splitlines():
        # "36 35 98:0 /root /mnt/point rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not rest:
            continue
        mount_point = parts[4].replace("\\040", " ")
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, rest.split()[0]
    return best_type
