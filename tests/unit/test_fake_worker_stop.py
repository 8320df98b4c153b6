"""Stopping a fake Modal task's container never pulls it out from under its waiter.

The docker worker waits for a container's exit in a thread, then reads its log tail. Stopping
the container (a cancelled input, the server closing) used to remove it at once: the waiter's
log read then met the engine's 409 ("can not get logs from container which is dead or marked for
removal"), the error escaped the task's clean-up, and the task's socket server was never closed
(a CI run failed on the unclosed socket). The engine here is a stand-in that answers as the real
one does for a removed container.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from docker.errors import APIError, NotFound

from runtime.testing._container import DockerWorker, Finished
from runtime.testing.fake_server import _settle


def _refusal(status: int, text: str) -> APIError:
    response = requests.Response()
    response.status_code = status
    cls = NotFound if status == 404 else APIError
    return cls(f"{status} Client Error", response=response, explanation=text)


class Engine:
    """One container that runs until it is killed or removed, and the engine's answers about
    it: its logs while it exists, 409 once it is being removed (as dockerd answers)."""

    def __init__(self, logs_error: int | None = None) -> None:
        self.calls: list[str] = []
        self.exited = threading.Event()
        self.removed = False
        self.logs_error = logs_error

    # the docker SDK's low-level API, as the worker calls it
    def wait(self, container_id: str, timeout: Any = None) -> dict[str, int]:
        assert self.exited.wait(30), "the container never exited"
        self.calls.append("wait")
        return {"StatusCode": 137}

    def logs(self, container_id: str, **options: Any) -> bytes:
        self.calls.append("logs")
        if self.removed:
            raise _refusal(409, "can not get logs from container which is dead or marked for "
                                "removal")
        if self.logs_error is not None:
            raise _refusal(self.logs_error, "engine failure")
        return b"the container's last words\n"

    def kill(self, container_id: str) -> None:
        self.calls.append("kill")
        self.exited.set()

    def remove_container(self, container_id: str, force: bool = False) -> None:
        self.calls.append("remove")
        self.removed = True
        self.exited.set()

    @property
    def api(self) -> Engine:
        return self


def _worker(engine: Engine, tmp_path: Path) -> DockerWorker:
    worker = DockerWorker(tmp_path)
    worker._engine = engine
    return worker


async def _wait_then_stop(worker: DockerWorker, finished: Finished) -> None:
    waiter = asyncio.ensure_future(worker.wait("c1", finished))
    await asyncio.sleep(0)  # the waiter is in the engine's wait
    await worker.stop("c1")
    await waiter


def test_a_stopped_container_is_removed_only_after_its_waiter_read_the_logs(tmp_path):
    engine = Engine()
    finished = Finished()
    asyncio.run(_wait_then_stop(_worker(engine, tmp_path), finished))
    assert engine.calls == ["kill", "wait", "logs", "remove"]
    assert finished.rc == 137
    assert finished.stderr_tail == b"the container's last words\n"


def test_a_container_removed_by_someone_else_leaves_its_waiter_without_a_tail(tmp_path):
    engine = Engine()
    finished = Finished()

    async def scenario() -> None:
        waiter = asyncio.ensure_future(_worker(engine, tmp_path).wait("c1", finished))
        await asyncio.sleep(0)
        await asyncio.to_thread(engine.remove_container, "c1", force=True)  # not our stop
        await waiter

    asyncio.run(scenario())
    assert engine.calls == ["remove", "wait", "logs"]
    assert finished.stderr_tail == b""


def test_any_other_engine_failure_while_waiting_still_raises(tmp_path):
    engine = Engine(logs_error=500)
    engine.exited.set()
    with pytest.raises(APIError):
        asyncio.run(_worker(engine, tmp_path).wait("c1", Finished()))


def test_a_container_nobody_waits_on_is_removed_without_a_kill(tmp_path):
    engine = Engine()
    asyncio.run(_worker(engine, tmp_path).stop("c1"))
    assert engine.calls == ["remove"]


def test_a_waiters_own_failure_goes_to_the_tail_instead_of_escaping_the_clean_up():
    finished = Finished()
    finished.stderr_tail = b"before\n"

    async def failing() -> None:
        raise RuntimeError("engine went away")

    async def scenario() -> None:
        await _settle(asyncio.ensure_future(failing()), finished)

    asyncio.run(scenario())
    assert finished.stderr_tail.startswith(b"before\n")
    assert b"waiting on the task failed: RuntimeError: engine went away" in finished.stderr_tail
