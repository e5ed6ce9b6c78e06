"""Small helpers for showing untrusted text (file names, server messages) on one safe line."""

from __future__ import annotations

import unicodedata


def printable(text: str, limit: int = 300) -> str:
    """Escape control characters and undecodable bytes so `text` stays on one harmless line.

    A newline in a file name must not forge a line in a log, and an escape sequence in a
    server's message must not repaint the user's terminal.
    """
    if text.isprintable():  # the common case, checked in C: no control, separator or lone byte
        return _truncated(text, limit)
    out = []
    for char in text:
        if "\udc80" <= char <= "\udcff":  # a byte that was not valid UTF-8 (surrogateescape)
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif unicodedata.category(char) in ("Cc", "Cs") or char in "\u2028\u2029":
            out.append(repr(char)[1:-1] if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return _truncated("".join(out), limit)


def _truncated(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…" if limit > 0 else ""


def human_size(size: float) -> str:
    if abs(size) < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if abs(size) < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} TB"


def human_duration(seconds: float) -> str:
    """How long a run took, to a precision that means something at its scale."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {nouns or noun + 's'}"
