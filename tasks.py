"""Invoke root: wiring only.

Invoke imports this file as the module ``tasks`` before it would see the ``tasks/`` folder, so we
give this module a ``__path__`` pointing at that folder: ``tasks.run``, ``tasks.test`` … then
import as submodules of this one, and the user's layout (``tasks.py`` + ``tasks/``) both work.
"""

from pathlib import Path

from invoke.collection import Collection

__path__ = [str(Path(__file__).resolve().parent / "tasks")]

# Needs __path__ first: these are the modules in tasks/.
from tasks import (
    batch,
    bench,
    ci,
    contracts,
    evidence,
    faults,
    infra,
    lifecycle,
    lock,
    meta,
    modal_tasks,
    run,
    smoke,
    test,
)
from tasks.cli import envelope_parse_errors

envelope_parse_errors()  # flag-parse errors become envelopes too (with --json)

ns = Collection()
for module in (run, batch, lifecycle, modal_tasks, contracts, test, smoke, faults, bench, meta, ci,
               lock):
    for task in module.TASKS:
        ns.add_task(task)
ns.add_collection(evidence.ns)
ns.add_collection(infra.ns)
ns.configure({"run": {"echo": False}})
