"""Packaging copies plain lines in blocks; the bytes must equal the line-by-line privacy filter."""

import io
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runtime.evidence.package as pack
from runtime.redaction import register_secret_values

SECRET = "hunter2-secret,with;cut{bytes}"
PIECES = st.sampled_from([
    b'{"event": "x", "inputs": {"text": "private"}}', b"  [1, 2]", b"\xe2\x80\x83{}", b"\r{}",
    b"\x1c[3]", b"\xc2\xa0[]", b"\xff{", b"sk-" + b"A" * 20, b"ghp_" + b"a" * 25,
    b"Bearer abcdefghijklmnop", SECRET.encode(), b"plain words", b"x" * 90, b"\n", b"\n\n",
])
CONTENT = st.lists(st.one_of(PIECES, st.binary(max_size=120)), max_size=40).map(b"".join)


def _line_by_line(path, extra):
    sink = io.BytesIO()
    with path.open("rb") as handle:
        for raw, complete in pack._segments(handle):
            sink.write(pack._filter_text(raw, complete, extra))
    return sink.getvalue()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=CONTENT, limit=st.sampled_from([48, 100, 1024 * 1024]),
       extra=st.sampled_from([(), ("plain words",)]))
def test_block_copy_equals_the_line_by_line_filter(tmp_path, monkeypatch, content, limit, extra):
    register_secret_values([SECRET])
    monkeypatch.setattr(pack, "LINE_LIMIT_BYTES", limit)
    source = tmp_path / "events.log"
    source.write_bytes(content)
    sink = io.BytesIO()
    pack.filter_file(source, sink, extra)
    assert sink.getvalue() == _line_by_line(source, extra)


def test_json_line_pattern_skips_exactly_the_characters_str_isspace_strips():
    seen = set()
    for codepoint in range(sys.maxunicode + 1):
        char = chr(codepoint)
        if 0xD800 <= codepoint <= 0xDFFF or char in "\n[{":
            continue  # lone surrogates never come out of decoding; a newline ends the line
        if pack._JSON_LINE.match((char + "{").encode("utf-8")):
            seen.add(char)
    assert seen == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()} - {"\n"}
