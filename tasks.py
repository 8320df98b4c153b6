"""Invoke root: wiring only.

Invoke imports this file as the module ``tasks`` before it would see the ``tasks/`` folder, so we
give this module a ``__path__`` pointing at that folder: ``tasks.run``, ``tasks.test`` … then
import as submodules of this one, and the user's layout (``tasks.py`` + ``tasks/``) both work.
"""

from pathlib import Path

from invoke.collection import Collection

__path__ = [str(Path(__file__).resolve().parent / "tasks")]

from tasks import bench, meta, run, test  # needs __path__ first

ns = Collection()
for module in (run, test, meta, bench):
    for task in module.TASKS:
        ns.add_task(task)
ns.configure({"run": {"echo": False}})
