"""Batches: many inputs (NDJSON, one object a line) through the one execution surface.

``run_batch`` validates every line up front, runs each item through
:func:`runtime.runner.run_processor` in a bounded pool, writes the per-item envelopes in input
order and a batch receipt, and resumes a batch by its id. ``inputs`` streams and checks the file,
``store`` owns the batch folder (item ids, results, receipts), ``progress`` reports on stderr.
"""

from __future__ import annotations

from runtime.batch.run import BatchResult, run_batch

__all__ = ["BatchResult", "run_batch"]
