"""Keep secrets out of everything the tool writes: output, logs, reports and error messages."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Query parameters of signed S3 URLs that grant access (both signature versions).
SECRET_QUERY_PARAMS = (
    "Signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
)
_SECRET_PARAM = re.compile(
    r"(?i)\b(" + "|".join(re.escape(p) for p in SECRET_QUERY_PARAMS) + r")=[^&\s\"'<>]*"
)
_BEARER = re.compile(r"(?i)\b(Bearer)\s+[^\s\"',}]+")
REDACTED = "REDACTED"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with signed-URL signatures, bearer tokens and the given secrets masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
