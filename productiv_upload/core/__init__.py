"""What the tool does, with no user interface, in rooms by concern; imports run down this list.

watch/         the watch service: its loop, its memory, when a file is due, what it reports
push/          the push pipeline: discovery, batches and parallel PUTs, one file's PUT, spool
session/       what every run opens: settings, lock, journal, run record, clients
integrations/  the outside world: systemd's notify socket, Prometheus metrics, file events
journal/       the SQLite record of verified uploads and of runs
settings/      flags, environment, profiles, bounds, the state folder
model.py       the data every room shares: files found, their results, the run's report
"""
