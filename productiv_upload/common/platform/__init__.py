"""Everything that differs between operating systems, in one place (README, "Platforms").

Linux is the platform the tool is built and tested for (CI runs every test there). Elsewhere
each part below says what it falls back to; outside this package only systemd's notify socket
(core/integrations/systemd.py, a Linux service manager's protocol) is tied to one system.

    folders.py       the per-user state and config folders (XDG on Linux; macOS, Windows)
    files.py         opening a file to read without blocking on a FIFO put in its place
    procfs.py        Linux's /proc: who holds a file lock, a process's command, the mounts
    processes.py     whether a process runs (without signal 0 on Windows, which would end it)
    sockets.py       TCP keepalive, and the bytes sent that are not yet acknowledged
    certificates.py  where the system's trusted certificates are, and whether there are any
"""
