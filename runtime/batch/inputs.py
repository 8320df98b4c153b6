"""The batch input file: streamed line by line, each line checked as one run's inputs.

A batch is refused before anything runs when any line is unusable; the message names the line
numbers. Lines are read with a bound, so a huge line or a huge file never sits in memory whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from runtime.errors import InputsError
from runtime.kit.hashing import canonical_json, sha256_hex
from runtime.kit.message import INPUTS_LIMIT_BYTES
from runtime.runner import parse_inputs_json

MAX_REPORTED_LINES = 5
Check = Callable[[Any], dict[str, Any]]


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line without its newline); a line longer than the inputs limit is cut
    at the limit plus one byte, which the inputs check then refuses as too large."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputsError(f"inputs file {path} cannot be read: {exc.strerror}") from exc
    with handle:
        number = 0
        while True:
            raw = handle.readline(INPUTS_LIMIT_BYTES + 2)
            if not raw:
                return
            number += 1
            if not raw.endswith(b"\n"):
                rest = handle.readline(INPUTS_LIMIT_BYTES + 2)
                if rest:  # cut at the bound: skip the rest of this overlong line
                    while rest and not rest.endswith(b"\n"):
                        rest = handle.readline(INPUTS_LIMIT_BYTES + 2)
            yield number, raw.rstrip(b"\n").rstrip(b"\r")


def parse_line(raw: bytes, check: Check) -> dict[str, Any]:
    """One line as a run's inputs: UTF-8, one JSON object, within the limit, valid for the schema.

    Raises ``ERR_INPUTS`` (without the line number; the caller adds it).
    """
    if not raw.strip():
        raise InputsError("empty line (expected one JSON object per line)")
    if len(raw) > INPUTS_LIMIT_BYTES:
        raise InputsError(f"inputs JSON exceeds {INPUTS_LIMIT_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputsError(f"not valid UTF-8 at byte {exc.start}") from exc
    return check(parse_inputs_json(text))


def validate_file(path: Path, check: Check) -> tuple[int, str]:
    """Check every line before anything runs; returns (item count, sha256 of the inputs).

    The inputs hash covers each line's canonical JSON in order, so a batch id can be refused when
    it is resumed with other inputs. Raises ``ERR_INPUTS`` naming the first bad lines (and how
    many there are), or when the file holds no line at all.
    """
    problems: list[str] = []
    bad = 0
    count = 0
    digest = _InputsDigest()
    for number, raw in _lines(path):
        count = number
        try:
            inputs = parse_line(raw, check)
        except InputsError as err:
            bad += 1
            if len(problems) < MAX_REPORTED_LINES:
                problems.append(f"line {number}: {err.message}")
            continue
        digest.add(inputs)
    if bad:
        more = f" (+{bad - len(problems)} more bad lines)" if bad > len(problems) else ""
        raise InputsError(f"inputs file {path.name}: {'; '.join(problems)}{more}; "
                          "nothing was run")
    if count == 0:
        raise InputsError(f"inputs file {path.name} holds no line (one JSON object per line)")
    return count, digest.hexdigest()


def iter_items(path: Path, check: Check) -> Iterator[tuple[int, dict[str, Any]]]:
    """(0-based item index, checked inputs) for each line, streamed.

    Lines are checked again as they are read: a file changed after :func:`validate_file` is
    refused (``ERR_INPUTS``) at the first line that no longer passes, never run unchecked.
    """
    for number, raw in _lines(path):
        try:
            yield number - 1, parse_line(raw, check)
        except InputsError as err:
            raise InputsError(f"inputs file {path.name} changed while the batch ran: "
                              f"line {number}: {err.message}") from err


def inputs_sha256(inputs: dict[str, Any]) -> str:
    """The hash of one item's inputs exactly as the kit records it in the receipt."""
    return sha256_hex(canonical_json(inputs))


class _InputsDigest:
    """sha256 over the per-line input hashes, in order (memory stays constant)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def add(self, inputs: dict[str, Any]) -> None:
        self._digest.update(inputs_sha256(inputs).encode("ascii") + b"\n")

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
