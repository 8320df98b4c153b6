"""Scrubbed child environment (SPEC §9): ambient secrets reach a child only with
``ALLOW_ENV_SECRETS=1`` in ``dev``, and a planted value never shows up in any output."""

import json
import secrets
from pathlib import Path

import pytest

from tests.fixtures.project import fixture_ref
from tests.helpers import cli_env

# One token-shaped value (caught by shape) and one plain value under a sensitive name
# (caught only because the host knows it is a secret's value).
PLANTED = {
    "PLANTED_SERVICE_TOKEN": "sk-planted" + secrets.token_hex(16),
    "PLANTED_DB_PASSWORD": "plain-" + secrets.token_hex(8),
}


def _run(run_fixture, fixture_root, name, *args, **env):
    environ = cli_env(PROCESSOR_RUNTIME_ROOT=str(fixture_root), **PLANTED, **env)
    result = run_fixture(fixture_ref("env_dump"), "--inputs-json", json.dumps({"leak": name}),
                         *args, env=environ)
    assert result.rc == 0, result.stderr
    names = json.loads((Path(result.envelope["index_path"]).parent / "outputs" /
                        "env_names.json").read_text())
    return result, names


def _assert_value_nowhere(result, artifacts: Path, value: str):
    assert value not in result.stdout
    assert value not in result.stderr
    for file in artifacts.rglob("*"):
        if file.is_file():
            assert value not in file.read_text("utf-8", "replace"), file


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_secret_is_absent_from_the_child_by_default(run_fixture, fixture_root, name):
    _, names = _run(run_fixture, fixture_root, name)
    assert name not in names
    assert "PATH" in names


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_secret_passes_with_allow_env_secrets_in_dev(run_fixture, fixture_root, name):
    _, names = _run(run_fixture, fixture_root, name, "--env", "dev", ALLOW_ENV_SECRETS="1")
    assert name in names


@pytest.mark.parametrize("env", ["staging", "main"])
def test_local_adapter_is_refused_outside_dev_before_anything_spawns(run_fixture, fixture_root,
                                                                     env):
    # staging/main run pinned images only; ambient secrets outside dev are covered by
    # tests/unit/test_childenv.py and, through a container entry, by the modal fault matrix.
    environ = cli_env(PROCESSOR_RUNTIME_ROOT=str(fixture_root), ALLOW_ENV_SECRETS="1", **PLANTED)
    result = run_fixture(fixture_ref("env_dump"), "--env", env, env=environ)
    assert result.rc == 10
    assert result.envelope["error"]["code"] == "ERR_IMAGE_UNPINNED"
    assert "processor.start" not in [event["event"] for event in result.events]


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_value_never_reaches_stdout_stderr_or_files(run_fixture, fixture_root,
                                                            tmp_path, name):
    # The fixture deliberately writes the value to stderr (raw and as a log field): the
    # host's one redaction log processor must scrub both before re-emitting them.
    result, names = _run(run_fixture, fixture_root, name, "--env", "dev", ALLOW_ENV_SECRETS="1")
    assert name in names
    assert "[REDACTED]" in result.stderr
    _assert_value_nowhere(result, tmp_path / "artifacts", PLANTED[name])
