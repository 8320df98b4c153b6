"""A fake Modal input cancelled while its container is still being created leaves none behind.

Modal stops a cancelled input's container; the fake's docker worker creates it in a thread, so a
``FunctionCallCancel`` landing during the create (a loaded engine takes seconds) used to leave the
container running with nobody holding its id (a CI run found one after the ``hang`` case).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from runtime.testing._container import start_surviving_cancel


class SlowWorker:
    """Starts in a thread that goes on after a cancel, as the docker worker's create does; the
    create finishes only once the test lets it (``release``), so the cancel always lands first."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.stopped: list[Any] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def _create(self) -> str:
        self.entered.set()
        assert self.release.wait(30), "the test never released the create"
        if self.fail:
            raise RuntimeError("engine refused the create")
        return "container-1"

    async def start(self, launch: Any) -> Any:
        return await asyncio.to_thread(self._create)

    async def stop(self, started: Any) -> None:
        self.stopped.append(started)


async def _cancel_during_start(worker: SlowWorker) -> None:
    job = asyncio.ensure_future(start_surviving_cancel(worker, None))  # type: ignore[arg-type]
    await asyncio.to_thread(worker.entered.wait, 30)  # the create is under way in its thread
    job.cancel()
    await asyncio.sleep(0)  # the cancel is delivered while the create still runs
    worker.release.set()
    with pytest.raises(asyncio.CancelledError):
        await job


def test_a_start_cancelled_midway_stops_what_it_still_brings_up():
    worker = SlowWorker()
    asyncio.run(_cancel_during_start(worker))
    assert worker.stopped == ["container-1"]


def test_a_start_cancelled_midway_that_then_fails_has_nothing_to_stop():
    worker = SlowWorker(fail=True)
    asyncio.run(_cancel_during_start(worker))
    assert worker.stopped == []


def test_an_uncancelled_start_returns_what_it_started_and_stops_nothing():
    worker = SlowWorker()
    worker.release.set()
    assert asyncio.run(start_surviving_cancel(worker, None)) == "container-1"  # type: ignore[arg-type]
    assert worker.stopped == []
