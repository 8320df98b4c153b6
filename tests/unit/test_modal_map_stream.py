"""The modal adapter's map stream: inputs fed while the map runs, outputs back in input order,
each input's client wait counted from its submission (an output held behind a slower
neighbour still taken at its turn), a failed map handed to every waiting input."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from runtime.adapters.modal import MapStream


class _StubBoundary:
    """A ``map_function`` reading the async feed the way the SDK does (on an event loop of its
    own) and answering each payload with ``answer(payload)`` in input order."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.seen: list[dict[str, Any]] = []

    def map_function(self, handle: Any, payloads: Any) -> Any:
        loop = asyncio.new_event_loop()
        feed = payloads.__aiter__()
        try:
            while True:
                try:
                    payload = loop.run_until_complete(feed.__anext__())
                except StopAsyncIteration:
                    return
                self.seen.append(payload)
                yield self.answer(payload)
        finally:
            loop.close()


def _answer(payload: dict[str, Any]) -> Any:
    if payload.get("sleep"):
        time.sleep(payload["sleep"])
    if payload.get("fail"):
        return RuntimeError("input failed")
    return {"n": payload["n"]}


def test_outputs_come_back_to_their_own_inputs_in_order():
    boundary = _StubBoundary(_answer)
    stream = MapStream(boundary, handle=None, name="t")
    slots = [stream.submit({"n": n}) for n in range(5)]
    assert [slot.wait(5)["n"] for slot in slots] == [0, 1, 2, 3, 4]
    stream.close(5)
    assert [p["n"] for p in boundary.seen] == [0, 1, 2, 3, 4]


def test_a_failed_input_is_its_exception_object_in_place():
    stream = MapStream(_StubBoundary(_answer), handle=None, name="t")
    first, failed, last = (stream.submit({"n": 0}), stream.submit({"n": 1, "fail": True}),
                           stream.submit({"n": 2}))
    assert first.wait(5) == {"n": 0}
    assert isinstance(failed.wait(5), RuntimeError)
    assert last.wait(5) == {"n": 2}
    stream.close(5)


def test_an_output_held_behind_a_slow_neighbour_is_taken_at_its_turn():
    stream = MapStream(_StubBoundary(_answer), handle=None, name="t")
    slow = stream.submit({"n": 0, "sleep": 0.6})
    after = stream.submit({"n": 1})
    results: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: results.update(after=after.wait(0.3)))
    waiter.start()
    assert slow.wait(5) == {"n": 0}
    waiter.join(5)
    assert results == {"after": {"n": 1}}  # its deadline passed while it waited its turn
    stream.close(5)


def test_an_input_behind_a_slow_neighbour_times_out_when_it_would_alone():
    # Its output comes 1.6 s after its submission; alone it would time out at 0.8 s. Counted
    # from its turn (1.0 s) the output would have been let through.
    stream = MapStream(_StubBoundary(_answer), handle=None, name="t")
    slow = stream.submit({"n": 0, "sleep": 1.0})
    late = stream.submit({"n": 1, "sleep": 0.6})
    outcome: dict[str, Any] = {}

    def wait_late() -> None:
        try:
            outcome["value"] = late.wait(0.8)
        except TimeoutError:
            outcome["timeout"] = True

    waiter = threading.Thread(target=wait_late)
    waiter.start()
    assert slow.wait(5) == {"n": 0}
    waiter.join(5)
    assert outcome == {"timeout": True}
    stream.close(5)


def test_no_output_within_the_wait_is_the_builtin_timeout_error():
    release = threading.Event()

    def answer(payload: dict[str, Any]) -> Any:
        release.wait(10)
        return payload

    stream = MapStream(_StubBoundary(answer), handle=None, name="t")
    slot = stream.submit({"n": 0})
    with pytest.raises(TimeoutError):
        slot.wait(0.2)
    release.set()
    stream.close(5)


def test_a_failed_map_call_is_every_waiting_inputs_error_and_closes_the_stream():
    submitted = threading.Event()

    def answer(payload: dict[str, Any]) -> Any:
        submitted.wait(10)
        raise ConnectionError("map call lost")

    stream = MapStream(_StubBoundary(answer), handle=None, name="t")
    slots = [stream.submit({"n": n}) for n in range(3)]
    submitted.set()
    assert all(isinstance(slot.wait(5), ConnectionError) for slot in slots)
    deadline = time.monotonic() + 5
    while stream.open and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not stream.open
