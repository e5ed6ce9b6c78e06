"""What every run opens before it sends anything: the app's lock, and the record of the run.

lock.py    the lock that keeps one run per app, and who holds it
record.py  a run's line in the run log, its failures and the metrics file
"""
