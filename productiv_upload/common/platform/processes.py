"""Whether a process is still running, asked in a way that cannot harm it."""

from __future__ import annotations

import os


def is_alive(pid: int) -> bool:
    """Whether process `pid` runs. Windows has no signal 0: os.kill would end the process
    rather than ask about it, so there every PID counts as running."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True
