"""Secret redaction: one place that knows what a secret looks like.

Used by the redaction log processor (last before rendering) and by every message that leaves the
process (envelope messages, stderr tails, evidence). Values are never stored, only their presence.

A secret leaves a process in more than one spelling: raw, JSON-escaped (a child logs through
``json.dumps``), with ``ensure_ascii`` ``\\uXXXX`` escapes, or as a Python ``repr``. Each known value
is matched in every one of those encodings. Text that was cut (a bounded tail, a long line) is
redacted with ``cut_start``/``cut_end`` so a piece of a secret left at the edge goes too; callers
redact *before* they cut wherever they can (:func:`redact_tail`).
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from runtime.kit.message import CUT_MARK

REDACTED = "[REDACTED]"
_SENSITIVE_KEY = re.compile(r"(secret|token|password|passwd|api[_-]?key|auth|credential|private)",
                            re.IGNORECASE)
_TOKEN_SHAPES = re.compile(
    r"(sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9-]{10,}"
    r"|AKIA[0-9A-Z]{16}|ak-[A-Za-z0-9]{16,}|as-[A-Za-z0-9]{16,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
    r"\.[A-Za-z0-9_-]{10,}|Bearer\s+[A-Za-z0-9._~+/=-]{12,})"
)
# Every token shape starts with one of these literals; checking them with ``in`` first lets most
# lines skip the regex, which re-tries every alternative at every position (~9 us per KiB).
_TOKEN_PREFIXES = ("sk-", "gh", "xox", "AKIA", "ak-", "as-", "eyJ", "Bearer")
_MIN_VALUE_LEN = 6
#: The shortest piece of a secret redacted at the edge of cut text (shorter pieces carry too
#: little of it to matter and would shred ordinary text at every cut).
MIN_FRAGMENT_LEN = 3
#: How deep :func:`redact` walks nested data; a deeper subtree is replaced whole (fails closed),
#: so untrusted JSON (a child's log line, an envelope's meta) cannot exhaust the stack.
MAX_DEPTH = 64
TOO_DEEP = "[REDACTED: nested too deep]"

_lock = threading.Lock()
_known_values: set[str] = set()
_known_spellings: set[str] = set()
# The known spellings, longest first: rebuilt only when a value is registered (every string a
# log event carries is redacted, so sorting them per string cost ~0.1 ms an event).
_sorted_spellings: list[tuple[str, ...]] = [()]


@functools.lru_cache(maxsize=4096)  # evidence redacts every line with the same input values
def spellings(value: str) -> frozenset[str]:
    """Every encoding of ``value`` a secret takes on its way out: raw, JSON-escaped with and
    without ``ensure_ascii`` (lower- and upper-case hex), and the body of its Python ``repr``."""
    ascii_escaped = json.dumps(value)[1:-1]
    found = {value, json.dumps(value, ensure_ascii=False)[1:-1], ascii_escaped, repr(value)[1:-1],
             re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), ascii_escaped)}
    return frozenset(spelling for spelling in found if spelling)


def register_secret_values(values: Iterable[str]) -> None:
    """Remember values to scrub wherever they appear, in every spelling (non-trivial ones only)."""
    kept = [v for v in values if v and len(v) >= _MIN_VALUE_LEN]
    with _lock:
        new = {spelling for value in kept for spelling in spellings(value)} - _known_spellings
        _known_values.update(kept)
        if new:
            _known_spellings.update(new)
            _sorted_spellings[0] = tuple(sorted(_known_spellings, key=len, reverse=True))


def register_secret_names(names: Iterable[str], environ: Mapping[str, str] | None = None) -> None:
    """Register the current values of the named environment variables (declared secrets)."""
    source = os.environ if environ is None else environ
    register_secret_values(source[name] for name in names if source.get(name))


def register_sensitive_environ(environ: Mapping[str, str] | None = None) -> None:
    """Register the values of environment variables whose *names* look secret.

    With ``ALLOW_ENV_SECRETS=1`` in dev a child inherits the whole environment; its logs may echo
    an undeclared ``*_PASSWORD`` whose value has no token shape, so the host must know it.
    """
    source = os.environ if environ is None else environ
    register_secret_names([name for name in source if is_sensitive_key(name)], source)


@functools.lru_cache(maxsize=4096)  # the same field and variable names come back on every event
def is_sensitive_key(key: str) -> bool:
    """True for keys whose values are secrets by name (``*_TOKEN``, ``password``, …)."""
    return bool(_SENSITIVE_KEY.search(key))


def _needles(extra: Collection[str]) -> Sequence[str]:
    """Every spelling of the known and ``extra`` values, longest first."""
    known = _sorted_spellings[0]
    if not extra or not any(extra):
        return known
    found = set(known)
    for value in extra:
        if value:
            found.update(spellings(value))
    return sorted(found, key=len, reverse=True)


def _cut_edges(text: str, needles: Sequence[str], *, start: bool, end: bool) -> str:
    """Redact a piece of a secret left at a cut edge: a suffix of one at the start of ``text``,
    a prefix of one at its end (the longest piece of at least ``MIN_FRAGMENT_LEN`` characters)."""
    if start:
        piece = max((n for needle in needles
                     for n in range(min(len(needle) - 1, len(text)), MIN_FRAGMENT_LEN - 1, -1)
                     if text.startswith(needle[-n:])), default=0)
        if piece:
            text = REDACTED + text[piece:]
    if end:
        piece = max((n for needle in needles
                     for n in range(min(len(needle) - 1, len(text)), MIN_FRAGMENT_LEN - 1, -1)
                     if text.endswith(needle[:n])), default=0)
        if piece:
            text = text[:-piece] + REDACTED
    return text


def redact_text(text: str, extra: Collection[str] = (), *, cut_start: bool = False,
                cut_end: bool = False) -> str:
    """Replace known secret values, ``extra`` values (e.g. payload inputs) and token-shaped
    strings in ``text``, in every spelling of :func:`spellings`.

    ``cut_start``/``cut_end`` say ``text`` was cut there: a piece of a secret at that edge is
    redacted too.
    """
    needles = _needles(extra)
    for needle in needles:
        if needle in text:
            text = text.replace(needle, REDACTED)
    if CUT_MARK in text:  # a child cut this text: both sides of each mark are cut edges
        parts = text.split(CUT_MARK)
        text = CUT_MARK.join(
            _cut_edges(part, needles, start=index > 0 or cut_start,
                       end=index < len(parts) - 1 or cut_end)
            for index, part in enumerate(parts))
    elif cut_start or cut_end:
        text = _cut_edges(text, needles, start=cut_start, end=cut_end)
    for prefix in _TOKEN_PREFIXES:  # a plain loop: half the cost of ``any(<genexpr>)`` on ids
        if prefix in text:
            return _TOKEN_SHAPES.sub(REDACTED, text)
    return text


def redact_tail(text: str, limit: int, *, cut_start: bool = True) -> str:
    """Redact a bounded tail *before* cutting it to its last ``limit`` characters.

    Spawn keeps a margin beyond its tail bound, so a secret that straddled the raw cut is whole
    here and is redacted before the final cut; ``cut_start`` handles the raw cut itself.
    """
    redacted = redact_text(text, cut_start=cut_start)
    return redacted[-limit:] if len(redacted) > limit else redacted


def redaction_needles(extra: Collection[str] = ()) -> tuple[bytes, ...] | None:
    """Byte strings of which every UTF-8 (``surrogateescape``) text that :func:`redact_text` would
    change contains at least one: the known and ``extra`` secret values and the token prefixes.

    Bulk copiers (evidence packaging) search raw bytes for them and pass only the lines holding
    one to ``redact_text``; it returns any other text unchanged. ``None`` when a value cannot be
    encoded that way (then every line must go through ``redact_text``).
    """
    try:
        encoded = {value.encode("utf-8", "surrogateescape") for value in _needles(extra)}
    except UnicodeEncodeError:
        return None
    return tuple(sorted(encoded | {prefix.encode("ascii") for prefix in _TOKEN_PREFIXES}))


def redact(value: Any, key: str = "", extra: Collection[str] = (), *, _depth: int = 0) -> Any:
    """Redact a JSON-like value recursively; sensitive keys lose their whole value.

    ``extra`` adds values to scrub for this call only (evidence passes the run's input values).
    A subtree deeper than ``MAX_DEPTH`` becomes ``TOO_DEEP``: the walk is bounded whatever the
    input, and what it did not look at is not let through.
    """
    # Strings first: they are most of what a log event or an envelope carries.
    if isinstance(value, str):
        if value and key and is_sensitive_key(key):
            return REDACTED
        return redact_text(value, extra)
    # A boolean under a secret's name is its presence, not its value (True/False stay readable).
    if isinstance(value, int | float) and not isinstance(value, bool):
        return REDACTED if key and is_sensitive_key(key) else value
    if isinstance(value, dict | list | tuple) and _depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {k: redact(v, str(k), extra, _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, "", extra, _depth=_depth + 1) for v in value]
    return value
