"""What a run shows: plain lines, the summary table, the live view, and the streams they go to.

present.py  the events of a run as lines, a table and a summary
live.py     the live view on a terminal
streams.py  stdout and `--log-file` failing to be written without crashing the run
"""
