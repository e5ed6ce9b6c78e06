"""The bounds of the numeric settings, shared by the command line's options and `push()`.

No imports: the command line reads these at start-up.
"""

MAX_CONCURRENCY = 64  # parallel PUTs
MAX_BATCH_SIZE = 100  # the service's limit on file names per URL request
MAX_RETRIES = 20
MIN_TIMEOUT_S = 0.1
MAX_TIMEOUT_S = 3600.0
MAX_WAIT_LOCK_S = 86400.0
MAX_JOURNAL_RETENTION_DAYS = 36500.0  # a hundred years: "keep everything"

DEFAULT_RETENTION_DAYS = 30.0  # --journal-retention
