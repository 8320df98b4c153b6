"""The artifacts root's layout: where a run's files and its receipts live.

One definition for both sides of the process boundary: the kit writes the receipts here (in the
child, standard library only), and the host reads, judges, confines and resumes by the same
names (:mod:`runtime.runner`, :mod:`runtime.adapters.outcome`, :mod:`runtime.batch.store`).
"""

from __future__ import annotations

from pathlib import Path

#: Default write prefixes: ``runs/<execution id>/``.
RUNS_DIRNAME = "runs"
#: Per-run receipts the host keeps beside the prefix: ``execution/<execution id>/``.
EXECUTION_DIRNAME = "execution"
#: Batches: ``batches/<batch id>/`` (manifest, items.ndjson, receipt, the items' prefixes).
BATCHES_DIRNAME = "batches"
#: Every folder the runtime itself creates directly under the artifacts root.
ROOT_FOLDERS = (RUNS_DIRNAME, EXECUTION_DIRNAME, BATCHES_DIRNAME)
#: The receipt in a write prefix (and a batch's receipt in its folder).
RECEIPT_NAME = "receipt.json"
#: The receipt's second copy, the one file a child writes in its execution folder.
DETERMINISM_NAME = "determinism.json"


def run_prefix(artifacts_root: Path, execution_id: str) -> Path:
    """A run's default write prefix."""
    return artifacts_root / RUNS_DIRNAME / execution_id


def execution_dir(artifacts_root: Path, execution_id: str) -> Path:
    """The folder holding a run's second receipt copy (``DETERMINISM_NAME``)."""
    return artifacts_root / EXECUTION_DIRNAME / execution_id
