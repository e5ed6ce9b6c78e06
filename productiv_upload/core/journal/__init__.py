"""The journal: a SQLite record of every verified upload, so a rerun never sends a file twice.

One row per verified PUT: the service it went to (API URL and app), the file's folder and base
name, its size and SHA-256, when it went up, and the file's identity as it was sent (device,
inode, size, modification and change time). A rerun skips a file whose identity matches a row
for its path by a `stat()` alone; any other file the journal knows by name is read and compared
by content (`known.py`). The files that finish together are written in one transaction, before
anything reports them as uploaded: a process killed at any instant loses at most the files
that were in flight.

It stays small for years: rows are compact (integers and a 32-byte digest; URLs, apps and
folders are stored once each), and a row whose path no longer holds its file expires some time
after that was seen (`upkeep.py`). A row for a file still in place never expires.

    schema.py    the tables, and the upgrade of journals written by older versions
    database.py  the connection: its lock, transactions, errors that name the file
    store.py     the rows: record, look up, list
    known.py     which files found on disk the journal already holds
    upkeep.py    expiry of rows whose files are gone
    runs.py      what each run did and what failed, for `status` and the metrics
"""

from productiv_upload.core.journal.database import JournalError
from productiv_upload.core.journal.store import (
    JOURNAL_NAME,
    Journal,
    Known,
    NewUpload,
    Upload,
    folder_of,
    iso,
)
from productiv_upload.core.journal.upkeep import Upkeep, maintain

__all__ = [
    "JOURNAL_NAME",
    "Journal",
    "JournalError",
    "Known",
    "NewUpload",
    "Upkeep",
    "Upload",
    "folder_of",
    "iso",
    "maintain",
]
