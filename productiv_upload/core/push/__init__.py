"""The push pipeline: files found, URLs asked for in batches, PUTs in parallel, the spool settled.

run.py       one whole push, which the command line and `push()` both call
discover.py  paths, patterns and `--files-from` to the files to send
pusher.py    batches of URL requests and the parallel PUTs
transfer.py  one file's PUT, verified
spool.py     `--move-to` and `--delete-after` once an upload is recorded
"""
