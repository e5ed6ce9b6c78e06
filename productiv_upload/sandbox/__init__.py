"""The local sandbox: a strict stand-in for Productiv's upload API and the bucket it signs for.

`state` holds what the sandbox knows (apps, tokens, faults, what landed), `handler` answers HTTP
requests from that state, and `server` ties the two to a socket. Imports run that way only.
"""

from productiv_upload.sandbox.server import Sandbox
from productiv_upload.sandbox.state import (
    BUCKET,
    MAX_FILENAMES,
    MAX_PUT_BYTES,
    SANDBOX_APP_ID,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_TOKEN,
    Faults,
    RecordedRequest,
)

__all__ = [
    "BUCKET",
    "MAX_FILENAMES",
    "MAX_PUT_BYTES",
    "SANDBOX_APP_ID",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_TOKEN",
    "Faults",
    "RecordedRequest",
    "Sandbox",
]
