"""Properties of the pure parts, for any input: batching, patterns, redaction, parsing, the journal.

Hypothesis draws the inputs; the fuzz runs at the end are bounded and derandomized, so the file
takes seconds and fails the same way on every machine. No example database is kept.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import re
import string
import tempfile
import unicodedata
import urllib.parse
from pathlib import Path
from typing import TypeAlias

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from productiv_upload.common.errors import ApiError, UsageError
from productiv_upload.common.redact import REDACTED, SECRET_QUERY_PARAMS, redact
from productiv_upload.common.text import printable
from productiv_upload.core.journal import Journal, JournalError, NewUpload, Upload
from productiv_upload.core.model import Identity, LocalFile
from productiv_upload.core.push.batches import MAX_QUERY_BYTES, make_batches
from productiv_upload.core.push.discover import (
    _matches,
    _segment,
    expand_pattern,
)
from productiv_upload.service.api import _service_message, _url_map

# conftest's autouse fixture is function-scoped; nothing here depends on it being fresh.
PROPERTY = settings(
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
FUZZ = settings(PROPERTY, derandomize=True)

# Any text a file name can hold and the service can receive: no '/', no NUL, valid UTF-8.
NAME_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1)
DEEP_JSON = b"[" * 100_000  # far deeper than the interpreter's recursion limit

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
Tree: TypeAlias = dict[str, "Tree | None"]  # a directory: name -> subdirectory, or None for a file

JSON_VALUES: st.SearchStrategy[JsonValue] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def query_cost(file: LocalFile) -> int:
    return len("&filenames=") + len(urllib.parse.quote(file.filename, safe=""))


def has_unsafe_character(text: str) -> bool:
    return any(
        unicodedata.category(char) in ("Cc", "Cs") or char in "\u2028\u2029" for char in text
    )


# --- batching ---------------------------------------------------------------------------------


@PROPERTY
@given(
    names=st.lists(NAME_TEXT, unique=True, max_size=250),
    size=st.integers(1, 100),
    max_query_bytes=st.one_of(st.integers(1, 400), st.just(MAX_QUERY_BYTES)),
)
def test_batches_hold_every_file_once_in_order_within_count_and_query_limits(
    names: list[str], size: int, max_query_bytes: int
) -> None:
    files = [LocalFile(f"exports/{name}", name, 0, 0) for name in names]

    batches = make_batches(files, size, max_query_bytes=max_query_bytes)

    assert [file for batch in batches for file in batch] == files
    for batch in batches:
        assert 1 <= len(batch) <= size
        assert len(batch) == 1 or sum(map(query_cost, batch)) <= max_query_bytes


# --- pattern expansion ------------------------------------------------------------------------

ENTRY_NAMES = st.builds(
    lambda hidden, base, suffix: ("." if hidden else "") + base + suffix,
    st.booleans(),
    st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=12),
    st.sampled_from(["", ".json", ".JSON", ".json.tmp", ".txt", "json"]),
).filter(lambda name: name not in (".", ".."))
TREES: st.SearchStrategy[Tree] = st.dictionaries(
    ENTRY_NAMES,
    st.recursive(
        st.none(), lambda children: st.dictionaries(ENTRY_NAMES, children, max_size=3), max_leaves=8
    ),
    max_size=5,
)


def build_tree(folder: Path, tree: Tree) -> None:
    for name, subtree in tree.items():
        if subtree is None:
            (folder / name).write_bytes(b"{}")
        else:
            (folder / name).mkdir()
            build_tree(folder / name, subtree)


def visible_entries(root: str, wanted: str) -> set[str]:
    """Files and folders whose name fnmatches `wanted` (a plain name or '*.json'), not hidden
    and not under a hidden folder, found by os.walk."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        for name in [*dirnames, *filenames]:
            if name.startswith("."):
                continue
            if name == wanted or (wanted == "*.json" and name.endswith(".json")):
                found.add(os.path.join(dirpath, name))
    return found


@settings(PROPERTY, max_examples=60)
@given(tree=TREES)
def test_double_star_pattern_matches_visible_json_at_any_depth_including_the_top(
    tree: Tree,
) -> None:
    with tempfile.TemporaryDirectory() as root:
        build_tree(Path(root), tree)

        matches = expand_pattern(os.path.join(root, "**", "*.json"))

        # Folders named *.json match as well, as with glob; discovery skips them later.
        assert matches == sorted(matches)
        assert set(matches) == visible_entries(root, "*.json")
        for name in tree:  # `**/` also matches no folder at all: the top level's own entries
            if not name.startswith("."):
                exact = expand_pattern(os.path.join(root, "**", glob.escape(name)))
                assert os.path.join(root, name) in exact
                assert set(exact) == visible_entries(root, name)


@PROPERTY
@given(
    head=st.lists(NAME_TEXT, max_size=3),
    middle=st.lists(NAME_TEXT, max_size=3),
    tail=st.lists(NAME_TEXT, min_size=1, max_size=3),
)
def test_double_star_segment_matches_zero_or_more_whole_components(
    head: list[str], middle: list[str], tail: list[str]
) -> None:
    def literal(names: list[str]) -> list[re.Pattern[str] | None]:
        return [_segment(glob.escape(name)) for name in names]

    head_m, tail_m = literal(head), literal(tail)
    parts = (*head, *middle, *tail)

    assert _matches([*head_m, None, *tail_m], parts)
    assert _matches([*head_m, None, *tail_m], (*head, *tail))
    # Without `**` the components in the middle are not skipped.
    assert _matches([*head_m, *tail_m], parts) == (not middle)
    # `**` then names: matches exactly the paths that end with those names.
    ends_with_tail = parts[len(parts) - len(tail) :] == tuple(tail)
    assert _matches([None, *tail_m], parts) == ends_with_tail
    assert _matches([None, *tail_m], parts[:-1]) == (
        parts[:-1][len(parts) - 1 - len(tail) :] == tuple(tail)
    )


# --- redaction --------------------------------------------------------------------------------

SECRETS = st.one_of(
    st.text(string.ascii_letters + string.digits + "-._~+/=", min_size=1),  # token-shaped
    st.text(st.characters(exclude_categories=["Z", "C"]), min_size=1),
).filter(lambda text: text.isprintable() and not any(char.isspace() for char in text))
URL_SAFE = string.ascii_letters + string.digits + "-._~%/+="


@PROPERTY
@given(before=st.text(), secret=SECRETS, after=st.text())
@example(before="token ", secret="Dabcdef", after="abcdef")  # passes Redactor's 6-character rule
def test_a_given_secret_never_survives_redaction(before: str, secret: str, after: str) -> None:
    assert secret not in redact(before + secret + after, [secret])


@PROPERTY
@given(
    params=st.lists(
        st.tuples(st.sampled_from(SECRET_QUERY_PARAMS), st.text(URL_SAFE, min_size=1)),
        min_size=1,
        max_size=5,
    ),
    context=st.sampled_from(["{}", "PUT {} failed", '{{"url": "{}"}}', "<a href='{}'>", "{}\n"]),
)
def test_signed_url_credentials_never_survive_redaction(
    params: list[tuple[str, str]], context: str
) -> None:
    def signed_url(values: list[str]) -> str:
        query = [("X-Amz-Date", "20240101T000000Z")]
        query += [(param, value) for (param, _), value in zip(params, values, strict=True)]
        pairs = "&".join(f"{key}={value}" for key, value in query)
        return context.format(f"https://bucket.s3.amazonaws.com/exports/a.json?{pairs}&x-id=Put")

    shown = redact(signed_url([value for _, value in params]))

    # Exactly the same text with every credential value replaced: nothing else changed, and no
    # value survives (a value that is a prefix of the mask, "R" say, is not a leak).
    assert shown == signed_url([REDACTED] * len(params))


# --- response parsing -------------------------------------------------------------------------


@PROPERTY
@given(value=JSON_VALUES, ascii_only=st.booleans())
def test_url_map_returns_a_map_of_strings_or_raises_api_error_for_any_json(
    value: JsonValue, ascii_only: bool
) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        body.decode("utf-8")
        is_url_map = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    except UnicodeDecodeError:
        is_url_map = False

    try:
        urls = _url_map(body)
    except ApiError:
        assert not is_url_map
    else:
        assert is_url_map
        assert urls == value


@PROPERTY
@given(body=st.binary())
def test_url_map_answers_any_bytes_with_a_map_of_strings_or_api_error(body: bytes) -> None:
    try:
        urls = _url_map(body)
    except ApiError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in urls.items())


@PROPERTY
@given(
    body=st.one_of(
        st.binary(),
        st.text().map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.builds(lambda m: json.dumps({"message": m}).encode(), st.text()),
        JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    )
)
@example(body=b'{"message": "bad\\r\\nrequest \\u001b[2J"}')
def test_service_message_is_always_one_line_without_control_characters(body: bytes) -> None:
    message = _service_message(body)

    assert isinstance(message, str)
    assert not has_unsafe_character(message)


def test_deeply_nested_json_answer_is_an_api_error_not_a_crash() -> None:
    with pytest.raises(ApiError):
        _url_map(DEEP_JSON)


def test_deeply_nested_json_error_answer_still_gives_a_one_line_message() -> None:
    assert not has_unsafe_character(_service_message(DEEP_JSON))


# --- printable --------------------------------------------------------------------------------

ANY_CHARACTERS = st.text(
    st.one_of(
        st.characters(),
        st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF),  # surrogateescape'd bytes
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
        st.sampled_from("\n\r\t\x00\x1b\x7f\x85\u2028\u2029"),
    )
)


@PROPERTY
@given(text=ANY_CHARACTERS, limit=st.integers(1, 400))
def test_printable_output_has_no_control_characters_and_respects_the_limit(
    text: str, limit: int
) -> None:
    shown = printable(text, limit)

    assert not has_unsafe_character(shown)
    assert len(shown) <= limit
    if not has_unsafe_character(text) and len(text) <= limit:
        assert shown == text  # safe text is shown as it is


# --- bounded fuzz runs ------------------------------------------------------------------------

GOOD_URL_MAP = json.dumps({"a.json": "https://b.s3.amazonaws.com/a.json?X-Amz-Signature=0f"})
Mutation: TypeAlias = tuple[str, int, int]
MUTATIONS = st.tuples(
    st.sampled_from(["set", "xor", "truncate", "insert"]),
    st.one_of(
        st.integers(0, 127),  # the database header
        st.builds(lambda page, offset: page * 4096 + offset, st.integers(0, 8), st.integers(0, 15)),
        st.integers(0, 1 << 20),
    ),
    st.integers(0, 255),
)


def mutate(data: bytes, mutations: list[Mutation]) -> bytes:
    buffer = bytearray(data)
    for kind, position, byte in mutations:
        at = position % (len(buffer) + 1)
        if kind == "truncate":
            del buffer[at:]
        elif kind == "insert":
            buffer[at:at] = bytes([byte])
        elif at < len(buffer):
            buffer[at] = byte if kind == "set" else buffer[at] ^ (byte or 1)
    return bytes(buffer)


@settings(FUZZ, max_examples=400)
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.lists(MUTATIONS, min_size=1, max_size=6).map(
            lambda mutations: mutate(GOOD_URL_MAP.encode(), mutations)
        ),
    )
)
def test_fuzzed_api_answers_give_a_map_of_strings_or_api_error(body: bytes) -> None:
    try:
        urls = _url_map(body)
    except ApiError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in urls.items())


API = "https://api.productiv.com"
JOURNALED = [
    NewUpload("/x/a.json", "a.json", 3, "ab" * 32, Identity(1, 2, 3, 7, 8)),
    NewUpload("/x/b.json", "b.json", 5, "cd" * 32, None),
]


@functools.cache
def real_journal() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "journal.sqlite3"
        with Journal(path) as journal:
            journal.record_many(API, "app", JOURNALED)
        return path.read_bytes()


def read_history(path: Path, *, create: bool) -> list[Upload] | None:
    journal = Journal(path) if create else Journal.open_existing(path)
    if journal is None:
        return None
    with journal:
        return list(journal.history())


@settings(FUZZ, max_examples=150)
@given(
    start=st.sampled_from(["journal", "random"]),
    mutations=st.lists(MUTATIONS, max_size=6),
    noise=st.binary(max_size=4096),
)
@example(start="journal", mutations=[], noise=b"")
@example(start="random", mutations=[], noise=b"SQLite format 3\x00" + bytes(200))
def test_a_damaged_journal_is_read_or_refused_with_journal_error(
    start: str, mutations: list[Mutation], noise: bytes
) -> None:
    data = mutate(real_journal() if start == "journal" else noise, mutations)
    with tempfile.TemporaryDirectory() as folder:
        for create in (False, True):  # read-only first: opening to write may repair the file
            path = Path(folder) / f"journal-{create}.sqlite3"
            path.write_bytes(data)
            refusal: JournalError | None = None
            try:
                history = read_history(path, create=create)
            except JournalError as error:
                refusal, history = error, []
            if refusal is not None:
                assert isinstance(refusal, UsageError)  # exit 2, with a message naming the file
                assert str(path) in str(refusal)
                continue
            assert history is not None
            assert all(isinstance(upload, Upload) for upload in history)
            if start == "journal" and not mutations:
                recorded = [(u.api_url, u.app_id, u.path, u.size, u.sha256) for u in history]
                assert recorded == [(API, "app", u.path, u.size, u.sha256) for u in JOURNALED]
