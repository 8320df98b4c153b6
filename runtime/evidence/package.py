"""Package and verify evidence: a deterministic, privacy-filtered ``tar.gz`` (SPEC §13).

:func:`package_evidence` streams every file of an evidence folder through the privacy filter
(declared secrets' environment values, token shapes, ``inputs`` objects — see
``runtime.evidence.record``) into a tarball whose bytes depend on the evidence only: members sorted,
mtime/uid/gid/owner/mode fixed, gzip level 6 (as ``tar czf``) with a header without name or time.
It appends ``summary.md`` and ``MANIFEST.sha256`` (one sha256 per member). Memory stays bounded
whatever the evidence size: files are read in blocks of whole lines (over-long lines in bounded
segments); lines holding no redaction needle and not looking like JSON are copied as they are,
the others are filtered one by one. Each filtered member is spooled to disk while it is hashed,
and the tarball is hashed while it is written.

:func:`verify_evidence` re-reads a tarball as a stream and checks the manifest and the schema gate
on every ``envelope.json``: ``status``, ``execution_id``, ``outputs`` array, ``index_path`` string.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from runtime.errors import InputsError
from runtime.evidence.record import ENVELOPE_NAME, EVENTS_NAME, scrub_line, scrub_record
from runtime.logging import HUMAN, log_format
from runtime.redaction import redact_text, redaction_needles, register_secret_names

MANIFEST_NAME = "MANIFEST.sha256"
SUMMARY_NAME = "summary.md"
MEMBER_ROOT = "runs"
PINS_DIRNAME = "pins"  # pin verification records (runtime/images/build.py record_pin_evidence)
TAR_MTIME = 0
TAR_MODE = 0o644
CHUNK_BYTES = 1024 * 1024
LINE_LIMIT_BYTES = 1024 * 1024
SPOOL_BYTES = 8 * 1024 * 1024
WHOLE_JSON_LIMIT_BYTES = 16 * 1024 * 1024
MANIFEST_LIMIT_BYTES = 64 * 1024 * 1024
STATUSES = ("success", "error")
#: The most bytes ``verify_evidence`` unpacks (evidence is logs and envelopes, far below this).
VERIFY_UNPACKED_LIMIT_BYTES = 1024 * 1024 * 1024
LANE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
GZIP_LEVEL = 6  # gzip(1)'s and ``tar czf``'s default; Python's gzip module defaults to 9
# A line the filter treats as JSON: ``text.lstrip()`` starts with ``{`` or ``[``. In bytes: at a line
# start, any run of the UTF-8 encodings of ``str.isspace`` characters (``\n`` excepted, it ends the
# line), then the bracket. tests/unit/test_evidence_filter.py checks the set against str.isspace.
_LINE_SPACE = (rb"[\t\x0b\x0c\r\x1c-\x20]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]"
               rb"|\xe2\x81\x9f|\xe3\x80\x80")
_JSON_LINE = re.compile(rb"(?:" + _LINE_SPACE + rb")*[\[{]")
# The byte after a newline that can begin such a line (a literal first byte keeps the scan in C).
_JSON_LINE_HINT = re.compile(rb"\n[\t\x0b\x0c\r\x1c-\x20\xc2\xe1\xe2\xe3\[{]")
# Bytes that never occur inside a token shape: safe places to cut an over-long line.
_CUT_BYTES = (b"\0", b",", b";", b'"', b"'", b"{", b"}", b"[", b"]")


class ByteSink(Protocol):
    """Anything filtered bytes can be written to."""

    def write(self, data: bytes, /) -> int:
        """Write ``data``; returns the count written."""
        ...


@dataclass(frozen=True)
class PackageResult:
    """What ``evidence.package`` made: the tarball, its digest and what went in."""

    path: str
    sha256: str
    lane: str
    runs: int
    members: int
    bytes_in: int
    bytes_out: int
    skipped: list[str] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class VerifyResult:
    """What ``evidence.verify`` found; ``ok`` is false when ``problems`` is not empty."""

    path: str
    sha256: str
    members: int
    envelopes: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems


@dataclass
class _RunRow:
    member: str
    envelope_sha256: str = ""
    events: int = 0
    envelope: dict[str, Any] = field(default_factory=dict)


class _HashingWriter(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to ``target``."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._target.write(view)
        self.digest.update(view)
        self.size += len(view)
        return len(view)


class _Progress:
    """A one-line progress bar on stderr, drawn only for people: stderr is a terminal and the log
    there is rendered for people (with ``--json`` every stderr line stays NDJSON)."""

    def __init__(self, total_files: int, total_bytes: int, enabled: bool | None) -> None:
        self.enabled = (sys.stderr.isatty() and log_format() == HUMAN) if enabled is None \
            else enabled
        self._files = total_files
        self._bytes = max(total_bytes, 1)
        self._done_files = 0
        self._done_bytes = 0
        self._last = 0.0

    def advance(self, size: int) -> None:
        self._done_files += 1
        self._done_bytes += size
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self._done_files == self._files):
            self._last = now
            share = self._done_bytes / self._bytes
            bar = "#" * int(share * 30)
            sys.stderr.write(f"\revidence.package [{bar:<30}] {self._done_files}/{self._files} files "
                             f"{self._done_bytes / 2**20:.1f}/{self._bytes / 2**20:.1f} MiB")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _segments(handle: IO[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Yield ``(bytes, complete_line)``: whole lines, or bounded pieces of an over-long line cut
    after a byte that cannot sit inside a token, so no token is split across two pieces."""
    carry = b""
    while True:
        chunk = handle.readline(LINE_LIMIT_BYTES)
        data = carry + chunk
        carry = b""
        if not data:
            return
        if data.endswith(b"\n"):
            yield data[:-1], True
            continue
        if not chunk:
            yield data, False
            return
        cut = max(data.rfind(byte) for byte in _CUT_BYTES)
        if cut < 0:
            yield data, False
        else:
            yield data[: cut + 1], False
            carry = data[cut + 1 :]


def _filter_text(raw: bytes, complete: bool, extra: Collection[str]) -> bytes:
    text = raw.decode("utf-8", "surrogateescape")
    if complete and text.lstrip()[:1] in ("{", "["):
        text = scrub_line(text, extra)
    else:
        text = redact_text(text, extra)
    return text.encode("utf-8", "surrogateescape") + (b"\n" if complete else b"")


def filter_file(source: Path, sink: ByteSink, extra: Collection[str] = ()) -> dict[str, Any] | None:
    """Copy ``source`` through the privacy filter into ``sink``; returns the parsed JSON document
    when ``source`` is a small ``.json`` file (e.g. an envelope), else ``None``."""
    if source.suffix == ".json" and source.stat().st_size <= WHOLE_JSON_LIMIT_BYTES:
        raw = source.read_bytes()
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if isinstance(document, dict | list):
            scrubbed = scrub_record(document, extra)
            sink.write((json.dumps(scrubbed, ensure_ascii=False, separators=(",", ":")) + "\n")
                       .encode("utf-8", "surrogateescape"))
            return scrubbed if isinstance(scrubbed, dict) else None
    with source.open("rb") as handle:
        needles = redaction_needles(extra)
        if needles is not None:
            _copy_plain_lines(handle, sink, needles, extra)
        for raw_segment, complete in _segments(handle):
            sink.write(_filter_text(raw_segment, complete, extra))
    return None


def _line_starts(block: bytes, needles: tuple[bytes, ...]) -> list[int]:
    """Starts of the lines of ``block`` that hold a needle or look like JSON, in order."""
    starts = set()
    for needle in needles:
        at = block.find(needle)
        while at >= 0:
            starts.add(block.rfind(b"\n", 0, at) + 1)
            at = block.find(needle, at + 1)
    if _JSON_LINE.match(block):
        starts.add(0)
    for hint in _JSON_LINE_HINT.finditer(block):
        if _JSON_LINE.match(block, hint.start() + 1):
            starts.add(hint.start() + 1)
    return sorted(starts)


def _copy_plain_lines(handle: IO[bytes], sink: ByteSink, needles: tuple[bytes, ...],
                      extra: Collection[str]) -> None:
    """Filter ``handle`` in blocks of whole lines, each at most ``LINE_LIMIT_BYTES`` long: a line
    that neither looks like JSON nor holds a redaction needle leaves ``_filter_text`` unchanged,
    so such lines are copied as they are and only the others are filtered one by one.

    Stops, with ``handle`` at the start of a line, at the last line when it has no newline or at a
    line too long for one segment; ``_segments`` takes over from there (same bytes as if it had
    read the whole file).
    """
    carry = b""
    while True:
        chunk = handle.read(LINE_LIMIT_BYTES)
        data = carry + chunk
        end = data.rfind(b"\n") + 1
        first = data.find(b"\n") + 1
        if not chunk or (end == 0 and len(data) >= LINE_LIMIT_BYTES) or first > LINE_LIMIT_BYTES:
            handle.seek(-len(data), os.SEEK_CUR)
            return
        block, carry = data[:end], data[end:]
        if not block:
            continue
        done = 0
        for start in _line_starts(block, needles):
            stop = block.index(b"\n", start)
            sink.write(block[done:start])
            sink.write(_filter_text(block[start:stop], True, extra))
            done = stop + 1
        sink.write(block[done:])


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = TAR_MTIME
    info.mode = TAR_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def _collect(src: Path) -> tuple[list[tuple[str, Path, int]], list[str]]:
    files: list[tuple[str, Path, int]] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        base = Path(dirpath)
        for name in dirnames:
            if (base / name).is_symlink():
                skipped.append((base / name).relative_to(src).as_posix())
        for name in sorted(filenames):
            path = base / name
            rel = path.relative_to(src).as_posix()
            if path.is_symlink() or not path.is_file() or name.startswith("."):
                skipped.append(rel)
                continue
            if path.lstat().st_nlink > 1:
                # A hardlink shares its bytes with a file elsewhere (perhaps outside the run):
                # packaging it would publish that file. Skipped and listed, like a symlink.
                skipped.append(rel)
                continue
            files.append((f"{MEMBER_ROOT}/{rel}", path, path.stat().st_size))
    files.sort(key=lambda item: item[0])
    return files, sorted(skipped)


def _load_secret_names(root: Path) -> None:
    from runtime.registry.load import Registry

    register_secret_names(Registry.load(root).all_secret_names())


def default_package_path(root: Path, lane: str) -> Path:
    """``<root>/evidence/evidence-<lane>.tar.gz`` (git-ignored)."""
    return root / "evidence" / f"evidence-{lane}.tar.gz"


def package_evidence(src: str | Path, out: str | Path, *, lane: str, root: Path,
                     progress: bool | None = None, missing_ok: bool = False) -> PackageResult:
    """Write the privacy-filtered, deterministic tarball of ``src`` to ``out`` (atomically).

    The secret names come from ``root``'s registry and their values from the environment.
    Nothing recorded (an empty ``src``, or a missing one with ``missing_ok`` — the default
    folder of a lane that recorded nothing) is a clear, non-failing result: a tarball whose
    ``summary.md`` says so and which :func:`verify_evidence` accepts. ``ERR_INPUTS`` for a bad
    lane name, when ``src`` is not a folder (without ``missing_ok``), or when the registry
    cannot be read (fail closed).
    """
    if not LANE_RE.fullmatch(lane):
        raise InputsError(f"lane {lane[:80]!r} must match {LANE_RE.pattern}")
    source = Path(src)
    if not source.is_dir() and not (missing_ok and not source.exists()):
        raise InputsError(f"evidence folder {source} does not exist or is not a folder")
    _load_secret_names(root)
    files, skipped = _collect(source) if source.is_dir() else ([], [])
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    bar = _Progress(len(files), sum(size for _, _, size in files), progress)
    manifest: list[tuple[str, str]] = []
    runs: dict[str, _RunRow] = {}
    bytes_in = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            hashed = _HashingWriter(raw)
            with gzip.GzipFile(filename="", mode="wb", fileobj=hashed, mtime=0,
                               compresslevel=GZIP_LEVEL) as gz, \
                    tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for member, path, size in files:
                    digest, document, lines = _add_filtered(tar, member, path)
                    manifest.append((member, digest))
                    bytes_in += size
                    _note_run(runs, member, digest, document, lines)
                    bar.advance(size)
                pins = [member for member, _, _ in files
                        if member.startswith(f"{MEMBER_ROOT}/{PINS_DIRNAME}/")]
                summary = render_summary(lane, list(runs.values()), skipped,
                                         pins=pins, recorded=bool(files)).encode("utf-8")
                manifest.append((SUMMARY_NAME, hashlib.sha256(summary).hexdigest()))
                tar.addfile(_tarinfo(SUMMARY_NAME, len(summary)), io.BytesIO(summary))
                listing = "".join(f"{digest}  {name}\n" for name, digest in manifest).encode()
                tar.addfile(_tarinfo(MANIFEST_NAME, len(listing)), io.BytesIO(listing))
            raw.flush()
            os.fsync(raw.fileno())
        Path(tmp_name).replace(target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    finally:
        bar.close()
    return PackageResult(path=str(target), sha256=hashed.digest.hexdigest(), lane=lane,
                         runs=len(runs), members=len(manifest) + 1, bytes_in=bytes_in,
                         bytes_out=hashed.size, skipped=skipped,
                         note="" if files else f"nothing recorded under {source.name}/: "
                                               "the tarball holds the summary only")


def _add_filtered(tar: tarfile.TarFile, member: str,
                  path: Path) -> tuple[str, dict[str, Any] | None, int]:
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        hashed = _HashingWriter(spool)
        document = filter_file(path, hashed)
        lines = 0
        if member.endswith("/" + EVENTS_NAME):
            spool.seek(0)
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: spool.read(CHUNK_BYTES), b""))
        spool.seek(0)
        tar.addfile(_tarinfo(member, hashed.size), spool)
        return hashed.digest.hexdigest(), document, lines


def _note_run(runs: dict[str, _RunRow], member: str, digest: str,
              document: dict[str, Any] | None, lines: int) -> None:
    folder, _, name = member.rpartition("/")
    if name == ENVELOPE_NAME:
        row = runs.setdefault(folder, _RunRow(folder))
        row.envelope_sha256 = digest
        row.envelope = document or {}
    elif name == EVENTS_NAME:
        runs.setdefault(folder, _RunRow(folder)).events = lines


def _cell(value: Any) -> str:
    return str(value if value not in (None, "") else "-").replace("|", "\\|").replace("\n", " ")


def render_summary(lane: str, rows: list[_RunRow], skipped: list[str], *,
                   pins: list[str] | None = None, recorded: bool = True) -> str:
    """``summary.md``: runs, adapters, statuses, error codes, elapsed times, digests, lane,
    the pin verifications recorded, and a plain note when nothing was recorded."""
    rows = sorted(rows, key=lambda row: row.member)
    statuses = Counter(str(row.envelope.get("status", "missing")) for row in rows)
    adapters = Counter(str(row.envelope.get("meta", {}).get("adapter", "-")) for row in rows)
    codes = Counter(str((row.envelope.get("error") or {}).get("code")) for row in rows
                    if row.envelope.get("status") == "error")
    lines = [
        "# Evidence summary", "",
        f"- lane: {_cell(lane)}",
        f"- runs: {len(rows)}",
        f"- statuses: {_counts(statuses)}",
        f"- adapters: {_counts(adapters)}",
        f"- error codes: {_counts(codes)}",
        f"- pin verifications recorded: {len(pins or [])}",
        *([] if recorded else ["- nothing was recorded: the lane wrote no evidence (runs record "
                               "with PROCESSOR_EVIDENCE=1 or --evidence)"]),
        "- privacy filter: declared secrets' values, token-shaped strings and every `inputs` "
        "object are redacted before packaging",
        "", "| execution_id | processor_ref | adapter | mode | status | error code | elapsed_ms "
        "| image_digest | events | envelope sha256 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        env = row.envelope
        meta: dict[str, Any] = env["meta"] if isinstance(env.get("meta"), dict) else {}
        error: dict[str, Any] = env["error"] if isinstance(env.get("error"), dict) else {}
        cells = [env.get("execution_id", row.member.rpartition("/")[2]), meta.get("processor_ref"),
                 meta.get("adapter"), meta.get("mode"), env.get("status", "missing envelope"),
                 error.get("code"), meta.get("elapsed_ms"), meta.get("image_digest"), row.events,
                 row.envelope_sha256]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    if skipped:
        lines += ["", f"Skipped (links, hidden or special files): {len(skipped)}", ""]
        lines += [f"- {_cell(name)}" for name in skipped[:200]]
    return "\n".join(lines) + "\n"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {count}" for key, count in sorted(counter.items())) or "none"


def envelope_problems(name: str, document: Any) -> list[str]:
    """The SPEC §13 schema gate for one envelope: what is wrong with it (empty when fine)."""
    if not isinstance(document, dict):
        return [f"{name}: envelope is not a JSON object"]
    problems = []
    if document.get("status") not in STATUSES:
        problems.append(f"{name}: 'status' must be one of {', '.join(STATUSES)}, "
                        f"got {document.get('status')!r}")
    execution_id = document.get("execution_id")
    if not isinstance(execution_id, str) or not execution_id:
        problems.append(f"{name}: envelope misses 'execution_id' (a non-empty string)")
    if not isinstance(document.get("outputs"), list):
        problems.append(f"{name}: 'outputs' must be an array")
    if not isinstance(document.get("index_path"), str):
        problems.append(f"{name}: 'index_path' must be a string")
    return problems


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_member(handle: IO[bytes], keep_limit: int) -> tuple[str, bytes | None]:
    digest = hashlib.sha256()
    kept = bytearray()
    over = False
    for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
        digest.update(chunk)
        if not over:
            kept.extend(chunk)
            if len(kept) > keep_limit:
                over, kept = True, bytearray()
    return digest.hexdigest(), None if over else bytes(kept)


def _parse_manifest(data: bytes, problems: list[str]) -> dict[str, str]:
    entries: dict[str, str] = {}
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            problems.append(f"{MANIFEST_NAME}: line {number} is not '<sha256>  <member>'")
            continue
        entries[name] = digest
    return entries


def verify_evidence(path: str | Path) -> VerifyResult:
    """Check a packaged tarball: readable, manifest complete and matching, envelopes gated.

    ``ERR_INPUTS`` when ``path`` is not a file; every other failure is a listed problem.
    """
    archive = Path(path)
    if not archive.is_file():
        raise InputsError(f"evidence tarball {archive} does not exist or is not a file")
    problems: list[str] = []
    computed: dict[str, str] = {}
    manifest: dict[str, str] | None = None
    envelopes = 0
    members = 0  # every regular file, the manifest included: what package_evidence counts
    corrupt = False
    try:
        unpacked = 0
        with tarfile.open(archive, mode="r|gz") as tar:
            for info in tar:
                name = info.name
                unpacked += max(info.size, 0)
                if unpacked > VERIFY_UNPACKED_LIMIT_BYTES:
                    # A small archive can inflate to gigabytes of zeros: stop reading, say so.
                    problems.append(f"{name}: the archive unpacks past "
                                    f"{VERIFY_UNPACKED_LIMIT_BYTES} bytes; not read further")
                    corrupt = True
                    break
                if not info.isfile():
                    problems.append(f"{name}: not a regular file (type {info.type!r})")
                    continue
                members += 1
                if name.startswith("/") or ".." in name.split("/"):
                    problems.append(f"{name}: unsafe member path")
                if name in computed:
                    problems.append(f"{name}: duplicate member")
                handle = tar.extractfile(info)
                if handle is None:
                    problems.append(f"{name}: cannot be read")
                    continue
                is_envelope = name.endswith("/" + ENVELOPE_NAME)
                limit = (MANIFEST_LIMIT_BYTES if name == MANIFEST_NAME
                         else WHOLE_JSON_LIMIT_BYTES if is_envelope else 0)
                digest, data = _read_member(handle, limit)
                if name == MANIFEST_NAME:
                    manifest = _parse_manifest(data or b"", problems)
                    continue
                computed[name] = digest
                if is_envelope:
                    envelopes += 1
                    problems.extend(_envelope_check(name, data))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        problems.append(f"archive is corrupt or truncated: {type(exc).__name__}: {exc}")
        corrupt = True
    if manifest is None:
        if not corrupt:
            problems.append(f"{MANIFEST_NAME} is missing")
    else:
        problems.extend(_manifest_problems(manifest, computed))
    recorded = any(name.startswith(f"{MEMBER_ROOT}/") for name in computed)
    if not envelopes and manifest is not None and recorded:
        # An archive of nothing recorded is honest (the summary says so); runs without
        # their envelopes are not.
        problems.append("no envelope.json in the archive")
    return VerifyResult(path=str(archive), sha256=_file_sha256(archive), members=members,
                        envelopes=envelopes, problems=problems)


def _envelope_check(name: str, data: bytes | None) -> list[str]:
    if data is None:
        return [f"{name}: envelope exceeds {WHOLE_JSON_LIMIT_BYTES} bytes"]
    try:
        document = json.loads(data)
    except ValueError as exc:
        return [f"{name}: envelope is not JSON ({exc})"]
    return envelope_problems(name, document)


def _manifest_problems(manifest: dict[str, str], computed: dict[str, str]) -> list[str]:
    problems = []
    for name in sorted(computed):
        expected = manifest.get(name)
        if expected is None:
            problems.append(f"{name}: not listed in {MANIFEST_NAME}")
        elif expected != computed[name]:
            problems.append(f"{name}: sha256 mismatch (manifest {expected[:12]}…, "
                            f"content {computed[name][:12]}…)")
    problems.extend(f"{name}: listed in {MANIFEST_NAME} but missing from the archive"
                    for name in sorted(set(manifest) - set(computed)))
    return problems
