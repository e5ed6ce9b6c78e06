"""Keep secrets out of everything the tool writes: output, logs, reports and error messages."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TextIO, cast

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
    text = _mask_secrets(text, [secret for secret in secrets if secret])
    # The patterns are slow to scan for (case-insensitive alternations at every position), and
    # most text holds neither: a parameter needs a literal "=", a bearer token the word.
    if "=" in text:
        text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    if "bearer" in text.lower():
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return text


def _mask_secrets(text: str, secrets: list[str]) -> str:
    """Mask every (possibly overlapping) occurrence of each secret.

    If the mask itself would re-form a secret with its neighbours (a secret sharing letters with
    "REDACTED"), the whole text is withheld rather than risk showing it.
    """
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        start = text.find(secret)
        while start != -1:
            spans.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in sorted(spans):
        if start > position:
            pieces += [text[position:start], REDACTED]
        elif not pieces:
            pieces.append(REDACTED)
        position = max(position, end)
    masked = "".join(pieces) + text[position:]
    for candidate in (masked, f"<{REDACTED}>", "<hidden>"):
        if not any(secret in candidate for secret in secrets):
            return candidate
    return ""


class Redactor:
    """`redact` with the run's own secrets (token, client secret) remembered as they appear."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def add(self, *secrets: str | None) -> None:
        for secret in secrets:
            # Very short values would mask ordinary words; real tokens and secrets are long.
            if secret and len(secret) >= 6 and secret not in self._secrets:
                self._secrets.append(secret)

    def __call__(self, text: str) -> str:
        return redact(text, self._secrets)


class RedactingWriter:
    """A text stream that redacts everything written through it: the last stop before output."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self._stream = stream
        self._redactor = redactor
        self.encoding: str = getattr(stream, "encoding", "utf-8")  # rich asks for it

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def write(self, text: str) -> int:
        self._stream.write(self._redactor(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()


def redacting(stream: TextIO, redactor: Redactor) -> TextIO:
    return cast(TextIO, RedactingWriter(stream, redactor))
