"""File names in batches for the API's URL requests: at most 100, and a query a server takes."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence

from productiv_upload.core.model import LocalFile
from productiv_upload.service.api import MAX_BATCH

# Servers and proxies commonly refuse request lines over 8 KiB (414): 100 long non-ASCII names,
# percent-encoded, would pass that.
MAX_QUERY_BYTES = 6000


def make_batches(
    files: Sequence[LocalFile], size: int, *, max_query_bytes: int = MAX_QUERY_BYTES
) -> list[list[LocalFile]]:
    """Split into batches of at most `size` names whose encoded query stays under the limit."""
    if not 1 <= size <= MAX_BATCH:
        raise ValueError(f"batch size must be 1..{MAX_BATCH}")
    batches: list[list[LocalFile]] = []
    batch: list[LocalFile] = []
    query_bytes = 0
    for file in files:
        cost = len("&filenames=") + len(urllib.parse.quote(file.filename, safe=""))
        if batch and (len(batch) == size or query_bytes + cost > max_query_bytes):
            batches.append(batch)
            batch, query_bytes = [], 0
        batch.append(file)
        query_bytes += cost
    if batch:
        batches.append(batch)
    return batches
