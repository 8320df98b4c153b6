"""The README's "Writing a processor" tutorial, followed step by step in a temporary clone.

scaffold → edit ``handle`` → run in mock → add a fixture → ``inv test-golden --update``, plus what
``inv infra.base-image`` leaves behind (a fake build: no engine in this lane). Afterwards the
tests that read the registry and the processors still pass *inside that clone*: a person who
follows the tutorial in their checkout keeps a green suite.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cli_env, clone_checkout, run_cli

NAME = "acme/translate"  # the README's own example
REF = f"{NAME}@1"
FOLDER = "processors/acme/translate"
# The tests that read the working tree's registry or processors (or once did): they must stay green
# with the tutorial's processor registered beside the bundled ones.
AFTERWARDS = (
    "tests/unit/test_registry.py",
    "tests/integration/test_changed_processors.py",
    "tests/integration/test_scaffold.py",
    "tests/integration/test_build_context.py",
    "tests/integration/test_golden.py",
    "tests/contracts/test_modal_cli.py",
    "tests/acceptance/pr/test_new_processor.py",
    "tests/acceptance/pr/test_processor_acme_translate.py",
)


def _inv(clone, *args):
    return run_cli(*args, cwd=clone, env=cli_env(PYTHONPATH=str(clone)), timeout=240)


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """A clone in which every tutorial step ran; each step's result, by name."""
    clone = clone_checkout(tmp_path_factory.mktemp("tutorial") / "processor-runtime")
    steps = {"scaffold": _inv(clone, "new-processor", NAME, "--with-provider", "--secret",
                              "ACME_KEY")}
    steps["registry_after_scaffold"] = (clone / "registry/processors.yaml").read_bytes()
    # 2. Edit: handle() answers differently, so the scaffold's recorded hashes go stale.
    main = clone / FOLDER / "main.py"
    main.write_text(main.read_text().replace('f"mock answer for', 'f"mock translation of'))
    # 3. Run in mock.
    steps["run"] = _inv(clone, "run-processor", "--ref", REF, "--inputs-json",
                        '{"text": "hello"}', "--json")
    # 4. Add a fixture (no hashes yet), see the replay fail, record, replay.
    (clone / FOLDER / "fixtures" / "long-text.json").write_text(json.dumps(
        {"ref": REF, "inputs": {"text": "a much longer text to translate"},
         "expected": {"outputs": None}}))
    steps["stale"] = _inv(clone, "test-golden", "--json")
    steps["update"] = _inv(clone, "test-golden", "--update", "--json")
    steps["replay"] = _inv(clone, "test-golden", "--json")
    steps["clone"] = clone
    return steps


def _statuses(result):
    return {item["fixture"]: item["status"] for item in result.envelope["results"]}


def test_the_scaffold_of_the_readme_name_succeeds(tutorial):
    assert tutorial["scaffold"].rc == 0, tutorial["scaffold"].stderr
    assert (tutorial["clone"] / FOLDER / "main.py").is_file()


def test_the_edited_processor_runs_in_mock(tutorial):
    result = tutorial["run"]
    assert result.rc == 0, result.stderr
    envelope = result.envelope
    assert envelope["status"] == "success"
    assert envelope["meta"]["processor_ref"] == REF
    written = json.loads((Path(envelope["index_path"]).parent / "outputs" / "result.json")
                         .read_text())
    assert written["answer"].startswith("mock translation of")


def test_replay_before_update_names_the_stale_and_the_new_fixture(tutorial):
    result = tutorial["stale"]
    assert result.rc != 0
    statuses = _statuses(result)
    assert statuses[f"{FOLDER}/fixtures/basic.json"] == "fail"
    assert statuses[f"{FOLDER}/fixtures/long-text.json"] == "fail"


def test_update_records_both_fixtures_and_the_replay_passes(tutorial):
    assert tutorial["update"].rc == 0, tutorial["update"].stdout
    replay = tutorial["replay"]
    assert replay.rc == 0, replay.stdout
    statuses = _statuses(replay)
    assert set(statuses.values()) == {"pass"}
    assert {f"{FOLDER}/fixtures/basic.json", f"{FOLDER}/fixtures/long-text.json"} <= set(statuses)
    recorded = json.loads((tutorial["clone"] / FOLDER / "fixtures" / "long-text.json").read_text())
    assert set(recorded["expected"]["outputs"]) == {"outputs/result.json"}


def test_the_base_image_is_recorded_in_state_not_in_the_registry(tutorial):
    from runtime.devinfra.local import record_base_image
    from runtime.images.build import BASE_IMAGE_STATE, base_reference
    from runtime.registry.load import Registry

    clone = tutorial["clone"]
    digest = "sha256:" + "e" * 64

    def fake_build(*, rebuild):
        return {"repository": "127.0.0.1:5000/processors/base", "digest": digest,
                "reference": f"127.0.0.1:5000/processors/base@{digest}",
                "image_id": "sha256:" + "f" * 64, "cached": False}

    record_base_image(clone, build=fake_build)
    assert (clone / "registry/processors.yaml").read_bytes() == tutorial["registry_after_scaffold"]
    assert (clone / BASE_IMAGE_STATE).is_file()
    assert base_reference(Registry.load(clone)).endswith(digest)
    ignored = subprocess.run(["git", "-C", str(clone), "status", "--porcelain", "--", ".state"],
                             capture_output=True, text=True, check=True).stdout
    assert ignored == "", "the base image record must stay in the ignored state folder"


def test_the_suite_stays_green_in_the_clone_afterwards(tutorial):
    clone = tutorial["clone"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *AFTERWARDS, "-q", "-p", "no:cacheprovider",
         "-m", "not requires_docker"],
        cwd=clone, env=dict(cli_env(PYTHONPATH=str(clone)), TEST_LANE="acceptance_pr"),
        capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
    assert " failed" not in proc.stdout
