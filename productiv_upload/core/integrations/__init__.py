"""The outside world the tool speaks to besides the service.

systemd.py      systemd's notify protocol (READY, STATUS, WATCHDOG, STOPPING)
prometheus.py   `--metrics-file`, for node_exporter's textfile collector
file_events.py  hints from the OS that a watched folder changed (watchdog), or a timer
"""
