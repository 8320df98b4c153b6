"""A plain mock run of the CLI loads neither pydantic, jsonschema nor tenacity (issue 16).

The first run of a registry and schema text fills the content-hash cache in ``.state/cache``;
from the second on, the registry's validated data, the schemas' metaschema verdict, the quick
input/output checks and the canonical envelope check need none of them. With the cache off the
same run still succeeds (it only loads them again). No timing is asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from runtime import _cache
from tests.helpers import ROOT

# (PyYAML is not among them: Invoke itself loads it for `inv --version` too.)
HEAVY = ("pydantic", "pydantic_core", "jsonschema", "referencing", "attrs", "tenacity")
PROBE = r"""
import json, sys
from invoke.main import program
try:
    program.run(["inv", *sys.argv[1:]], exit=False)
finally:
    heavy = json.loads(__import__("os").environ["HEAVY"])
    sys.stderr.write("LOADED " + json.dumps(sorted(
        m for m in sys.modules if m.split(".")[0] in heavy)) + "\n")
"""


def _run(tmp_path, **env):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "run-processor", "--ref", "demo/echo@1", "--json",
         "--artifacts-root", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False, env={**os.environ, "HEAVY": json.dumps(HEAVY), **env})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["status"] == "success"
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED ")]
    return json.loads(loaded[-1].removeprefix("LOADED "))


def test_a_plain_mock_run_loads_none_of_the_heavy_validators(tmp_path):
    _run(tmp_path / "first")  # fills the cache for this registry and these schemas
    assert _run(tmp_path / "second") == []


def test_with_the_cache_off_the_run_still_succeeds_and_validates_fully(tmp_path):
    loaded = _run(tmp_path, PROCESSOR_RUNTIME_CACHE="off")
    assert "pydantic" in loaded
    assert "jsonschema" in loaded


def test_cache_keys_separate_their_parts():
    assert _cache.key(b"ab", b"c") != _cache.key(b"a", b"bc")
    assert _cache.key(b"x") == _cache.key(b"x")


def test_the_cache_is_off_when_asked(monkeypatch, tmp_path):
    monkeypatch.setattr(_cache, "checkout_root", lambda: tmp_path)
    monkeypatch.setenv("PROCESSOR_RUNTIME_CACHE", "off")
    _cache.write("test-kind", "entry", b"data")
    assert _cache.read("test-kind", "entry") is None


@pytest.mark.parametrize("value", ["", "on"])
def test_the_cache_reads_back_what_it_wrote(monkeypatch, tmp_path, value):
    monkeypatch.setattr(_cache, "checkout_root", lambda: tmp_path)
    monkeypatch.setenv("PROCESSOR_RUNTIME_CACHE", value)
    entry = _cache.key(b"unit test", value.encode())
    _cache.write("test-kind", entry, b"data")
    assert _cache.read("test-kind", entry) == b"data"
    assert (tmp_path / ".state" / "cache" / "test-kind" / entry).is_file()


# Registered before Invoke loads the wiring, so it runs after the wiring's own exit hook (LIFO).
EXIT_PROBE = r"""
import atexit, gc, sys
atexit.register(lambda: sys.stderr.write(f"FROZEN {gc.get_freeze_count()}\n"))
from invoke.main import program
program.run(["inv", *sys.argv[1:]])
"""


def test_what_a_run_leaves_alive_is_frozen_before_the_interpreters_final_collections(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, "run-processor", "--ref", "demo/echo@1", "--json",
         "--artifacts-root", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["status"] == "success"
    frozen = [line for line in done.stderr.splitlines() if line.startswith("FROZEN ")]
    # Invoke, structlog and the runtime alone are tens of thousands of tracked objects.
    assert int(frozen[-1].removeprefix("FROZEN ")) > 10_000
