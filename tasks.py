"""Invoke root: wiring only.

Invoke imports this file as the module ``tasks`` before it would see the ``tasks/`` folder, so we
give this module a ``__path__`` pointing at that folder: ``tasks.run``, ``tasks.test`` … then
import as submodules of this one, and the user's layout (``tasks.py`` + ``tasks/``) both work.

``inv TASK …`` with a top-level task first imports only the modules of the tasks its words name
(:data:`TASK_MODULES`; a unit test holds the table to the modules): every CLI call would otherwise
pay for importing all fourteen task modules (issue 16). Anything else — ``inv --list``, a core flag
first, a collection task, an unknown word, an in-process ``import tasks`` — builds the whole
collection.
"""

import importlib
import sys
from pathlib import Path

from invoke.collection import Collection

__path__ = [str(Path(__file__).resolve().parent / "tasks")]

MODULES = ("run", "batch", "lifecycle", "modal_tasks", "contracts", "test", "smoke", "faults",
           "bench", "meta", "ci", "lock")
COLLECTIONS = ("evidence", "infra")
#: Every top-level task → the module in tasks/ that defines it.
TASK_MODULES = {
    **dict.fromkeys(("run-processor", "list-processors", "export-schemas"), "run"),
    "run-batch": "batch",
    **dict.fromkeys(("build-processor", "push-processor", "pin-processor"), "lifecycle"),
    **dict.fromkeys(("deploy-modal", "sync-modal-secrets", "logs-modal", "status-modal",
                     "drift-modal", "destroy-modal", "modal-dev-build-push-deploy",
                     "smoke-modal-dev", "real-modal-dev", "test-acceptance-dev"), "modal_tasks"),
    **dict.fromkeys(("describe-processor", "test-golden", "check-contracts", "new-processor"),
                    "contracts"),
    **dict.fromkeys(("check", "test", "test-unit", "test-integration", "test-contracts",
                     "test-acceptance-pr", "test-acceptance-pinned", "test-property"), "test"),
    "test-smoke": "smoke",
    "test-faults": "faults",
    "bench": "bench",
    "version": "meta",
    "changed-processors": "ci",
    "lock": "lock",
}


def modules_for(argv: list[str]) -> tuple[list[str], list[str]]:
    """(task modules, collections) ``argv`` needs: only those its words name when the first word
    is a top-level task, else all of them."""
    words = [word.replace("_", "-") for word in argv[1:]]
    if not words or words[0] not in TASK_MODULES:
        return list(MODULES), list(COLLECTIONS)
    return [name for name in MODULES if name in {TASK_MODULES.get(w) for w in words}], []


# Needs __path__ first: these are the modules in tasks/.
from tasks.cli import envelope_parse_errors, skip_final_collections  # noqa: E402

envelope_parse_errors()  # flag-parse errors become envelopes too (with --json)
skip_final_collections()  # the exit's garbage collections walk nothing a run left alive

_modules, _collections = modules_for(sys.argv)
ns = Collection()
for _name in _modules:
    for task in importlib.import_module(f"tasks.{_name}").TASKS:
        ns.add_task(task)
for _name in _collections:
    ns.add_collection(importlib.import_module(f"tasks.{_name}").ns)
ns.configure({"run": {"echo": False}})
