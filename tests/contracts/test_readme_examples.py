"""The README's documented examples hold against the real CLI: every ``inv <task> --flag`` it
shows exists per ``inv --help <task>``, and its example envelope has a real run's shape."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import ROOT, run_cli

README = (ROOT / "README.md").read_text(encoding="utf-8")
_COMMAND = re.compile(r"\binv ([a-z][\w.-]*)([^`\n|→]*)")
_FLAG = re.compile(r"(?<![\w-])--(?:\[no-\])?[a-z][\w-]*")


def documented_commands(text: str = README) -> dict[str, set[str]]:
    """Task name → the long flags the README writes after it (in code spans and blocks)."""
    spans = re.findall(r"`([^`\n]+)`", text)
    blocks = re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.DOTALL)
    found: dict[str, set[str]] = {}
    for snippet in [*spans, *blocks]:
        # a table cell escapes its pipes (`--mode mock\|real`); a bare pipe ends the cell
        for task, rest in _COMMAND.findall(snippet.replace("\\|", "/")):
            # a later `inv` in the same snippet starts its own command
            own = rest.split("&& inv")[0].split("inv ")[0]
            found.setdefault(task, set()).update(_FLAG.findall(own))
    return found


def _help(task: str) -> tuple[str, int]:
    result = run_cli("--help", task)
    return result.stdout, result.rc


@pytest.fixture(scope="module")
def helps() -> dict[str, tuple[str, int]]:
    tasks = sorted(documented_commands())
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(tasks, pool.map(_help, tasks), strict=True))


def _offered(help_text: str, flag: str) -> bool:
    name = flag.removeprefix("--")
    if name.startswith("no-") and f"--[no-]{name[3:]}" in help_text:
        return True
    return re.search(rf"--(?:\[no-\])?{re.escape(name)}(?![\w-])", help_text) is not None


def test_the_readme_documents_the_commands_it_is_meant_to():
    commands = documented_commands()
    for task in ("run-processor", "new-processor", "pin-processor", "evidence.verify",
                 "test-golden", "infra.base-image"):
        assert task in commands
    assert "--oci" in commands["pin-processor"]
    assert "--with-provider" in commands["new-processor"]


def test_every_documented_task_exists(helps):
    missing = [task for task, (_text, rc) in helps.items() if rc != 0]
    assert not missing, f"the README documents tasks that `inv --help` does not know: {missing}"


def test_every_documented_flag_exists(helps):
    unknown = {task: sorted(flag for flag in flags if not _offered(helps[task][0], flag))
               for task, flags in documented_commands().items()}
    unknown = {task: flags for task, flags in unknown.items() if flags}
    assert not unknown, f"flags the README shows but `inv --help <task>` lacks: {unknown}"


def test_a_flag_the_help_lacks_is_caught():
    assert not _offered("Options:\n  --json   one line\n", "--verbose")
    assert not _offered("Options:\n  --json-lines   x\n", "--json")
    assert _offered("Options:\n  --[no-]docker   x\n", "--no-docker")


def _example_envelope() -> dict[str, object]:
    block = README.split("prints one envelope:", 1)[1]
    text = re.search(r"```json\n(.*?)```", block, flags=re.DOTALL)
    assert text, "the README's example envelope block is missing"
    value = json.loads(text.group(1))
    assert isinstance(value, dict)
    return value


def test_the_example_envelope_has_the_shape_of_a_real_demo_run(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--json",
                     "--artifacts-root", str(tmp_path))
    assert result.rc == 0, result.stderr
    real, example = result.envelope, _example_envelope()
    assert set(example) == set(real)
    assert [o["path"] for o in example["outputs"]] == [o["path"] for o in real["outputs"]]
    assert [set(o) for o in example["outputs"]] == [set(o) for o in real["outputs"]]
    assert set(example["meta"]) == set(real["meta"])
    assert {k: example["meta"][k] for k in ("adapter", "mode", "processor_ref", "env")} == \
        {k: real["meta"][k] for k in ("adapter", "mode", "processor_ref", "env")}
