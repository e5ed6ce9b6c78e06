"""The watch service: folders watched, files sent once they are due, the operator kept told.

service.py    start-up, the main loop and the stop
memory.py     what it holds: files pending and failed, files sent that are still there
due.py        when a file may be sent: settled long enough, not waiting out a retry
reporting.py  what it tells systemd, `status` and the metrics file
"""
