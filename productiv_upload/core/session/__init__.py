"""What every run opens before it sends anything, the same way for push, watch and check.

run_session.py  the session: service settings, state folder, lock, journal, record, clients
clients.py      the API client and the storage client
lock.py         the lock that keeps one run per app, and who holds it
record.py       a run's line in the run log, its failures and the metrics file
"""
