"""Secret redaction: one place that knows what a secret looks like.

Used by the redaction log processor (last before rendering) and by every message that leaves the
process (envelope messages, stderr tails, evidence). Values are never stored, only their presence.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Collection, Iterable, Mapping
from typing import Any

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

_lock = threading.Lock()
_known_values: set[str] = set()


def register_secret_values(values: Iterable[str]) -> None:
    """Remember values to scrub wherever they appear (only non-trivial ones)."""
    with _lock:
        _known_values.update(v for v in values if v and len(v) >= _MIN_VALUE_LEN)


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


def is_sensitive_key(key: str) -> bool:
    """True for keys whose values are secrets by name (``*_TOKEN``, ``password``, …)."""
    return bool(_SENSITIVE_KEY.search(key))


def redact_text(text: str, extra: Collection[str] = ()) -> str:
    """Replace known secret values, ``extra`` values (e.g. payload inputs) and token-shaped
    strings in ``text``."""
    with _lock:
        values = sorted(_known_values.union(extra), key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    if not any(prefix in text for prefix in _TOKEN_PREFIXES):
        return text
    return _TOKEN_SHAPES.sub(REDACTED, text)


def redaction_needles(extra: Collection[str] = ()) -> tuple[bytes, ...] | None:
    """Byte strings of which every UTF-8 (``surrogateescape``) text that :func:`redact_text` would
    change contains at least one: the known and ``extra`` secret values and the token prefixes.

    Bulk copiers (evidence packaging) search raw bytes for them and pass only the lines holding
    one to ``redact_text``; it returns any other text unchanged. ``None`` when a value cannot be
    encoded that way (then every line must go through ``redact_text``).
    """
    with _lock:
        values = _known_values.union(extra)
    try:
        encoded = {value.encode("utf-8", "surrogateescape") for value in values}
    except UnicodeEncodeError:
        return None
    return tuple(sorted(encoded | {prefix.encode("ascii") for prefix in _TOKEN_PREFIXES}))


def redact(value: Any, key: str = "", extra: Collection[str] = ()) -> Any:
    """Redact a JSON-like value recursively; sensitive keys lose their whole value.

    ``extra`` adds values to scrub for this call only (evidence passes the run's input values).
    """
    # A boolean under a secret's name is its presence, not its value (True/False stay readable).
    if (key and is_sensitive_key(key) and isinstance(value, str | int | float)
            and not isinstance(value, bool) and value != ""):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value, extra)
    if isinstance(value, dict):
        return {k: redact(v, str(k), extra) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, "", extra) for v in value]
    return value
