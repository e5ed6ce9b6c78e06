"""The push pipeline: files found, URLs asked for in batches, PUTs in parallel, the spool settled.

run.py       one whole push, which the command line and `push()` both call
discover.py  paths, patterns and `--files-from` to the files to send
pusher.py    the URL requests and the parallel PUTs, one result per file
sending.py   one file's tries, waits and fresh URLs, in a worker thread
batches.py   file names in batches a URL request can carry
events.py    what the pusher tells its caller, and how the caller stops it
transfer.py  one file's PUT, verified
spool.py     `--move-to` and `--delete-after` once an upload is recorded
"""
