"""Measuring processes, one per measurement, so each starts clean (``python -m bench.worker``).

``warm N``      N x run_processor() and N x subprocess.run(bare), paired call by call.
``fanout N C R`` R paired batches of N runs at concurrency C: run_processor vs bare.
``flood ours|raw BYTES``  drain a child's BYTES of stderr via runtime.child.spawn or a raw pipe;
                  reports seconds and this process's own peak RSS.
``batch N C R``  R paired rounds: one run_batch of N items at concurrency C vs N bare runs
                  in a C-thread pool; wall seconds per round.
``batch-rss N C`` one run_batch of N mock items; this process's RSS sampled as items settle.
``warm-account N`` a warm run's CPU, ours vs bare (``getrusage``, parent and children), and
                  where our parent's share goes (``cProfile`` on CPU time over N more runs).
``fanout-account N R`` R alternating rounds of N runs in a pool of one thread per core, ours vs
                  bare: wall, parent and children CPU and the cores' idle time per round.
``pool-choice N R`` R rounds of N runs, one worker per core, in rotating order: run_processor in
                  a thread pool, in a process pool (forkserver), and the bare runs in a thread
                  pool: wall seconds per round, so the batch's pool is chosen by measurement.
``batch-modal N C`` against an in-process fake Modal server: one run_batch of N items on modal
                  (one Function.map call) vs N single run_processor modal calls in a C-thread
                  pool; wall seconds of each and the RPCs each sent.
Each prints one JSON object on stdout. Pairs alternate who goes first (``bench.stats.interleave``).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.measure import ROOT, bare_env, bare_payload, entrypoint, python
from bench.stats import interleave

REF = "demo/echo@1"
FLOOD_CHILD = Path(__file__).resolve().parent / "flood_child.py"


def _ours(scratch: Path) -> None:
    from runtime.runner import run_processor

    envelope = run_processor(REF, inputs={"message": "bench"}, artifacts_root=scratch / "ours",
                             root=ROOT)
    if envelope.status != "success":
        raise RuntimeError(f"run_processor returned {envelope.status}")


def _bare(main: Path, scratch: Path, env: dict[str, str]) -> None:
    payload = bare_payload(REF, scratch)
    done = subprocess.run([python(), str(main)], input=payload, capture_output=True, env=env,
                          cwd=main.parent, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bare run failed with rc {done.returncode}: {done.stderr[-500:]!r}")


def warm(calls: int) -> dict[str, Any]:
    """Per-call seconds of both paths, paired call by call (who goes first alternating) after
    one warm-up each."""
    main, env = entrypoint(REF), bare_env()
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as tmp:
        scratch = Path(tmp)
        _ours(scratch)
        _bare(main, scratch, env)
        ours, floor = interleave(lambda: _timed(lambda: _ours(scratch)),
                                 lambda: _timed(lambda: _bare(main, scratch, env)), calls)
    return {"ours": ours, "floor": floor}


def _cpu_ms(who: int) -> tuple[float, float]:
    usage = resource.getrusage(who)
    return usage.ru_utime * 1000, usage.ru_stime * 1000


def warm_account(calls: int, blocks: int = 10) -> dict[str, Any]:
    """CPU ms per run of both paths (user and system, this process and its children), medians of
    ``blocks`` alternating blocks of ``calls // blocks`` serial runs; then our functions by
    cumulative share of this process's CPU over ``calls`` profiled runs (``cProfile`` with a CPU
    clock: the profiler inflates every call, so shares, not its times, are what it tells)."""
    import cProfile
    import pstats

    main, env = entrypoint(REF), bare_env()
    per_block = max(1, calls // blocks)
    cpu: dict[str, dict[str, list[float]]] = {
        side: {part: [] for part in ("user", "system", "child_user", "child_system")}
        for side in ("ours", "bare")}
    with tempfile.TemporaryDirectory(prefix="bench-warm-account-") as tmp:
        scratch = Path(tmp)
        _ours(scratch)
        _bare(main, scratch, env)
        sides: list[tuple[str, Callable[[], None]]] = [
            ("ours", lambda: _ours(scratch)), ("bare", lambda: _bare(main, scratch, env))]
        for block in range(blocks):
            for side, call in (sides if block % 2 == 0 else sides[::-1]):
                before = _cpu_ms(resource.RUSAGE_SELF) + _cpu_ms(resource.RUSAGE_CHILDREN)
                for _ in range(per_block):
                    call()
                after = _cpu_ms(resource.RUSAGE_SELF) + _cpu_ms(resource.RUSAGE_CHILDREN)
                for part, start, end in zip(cpu[side], before, after, strict=True):
                    cpu[side][part].append((end - start) / per_block)
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(calls):
            _ours(scratch)
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    shares = []
    for (filename, line, name), (_cc, _nc, tottime, cumtime, _callers) in \
            stats.stats.items():  # type: ignore[attr-defined]
        relative = os.path.relpath(filename, ROOT)
        if relative.startswith("runtime/") and name != "<module>":
            shares.append((f"{relative}:{line} {name}", cumtime / total, tottime / total))
    shares.sort(key=lambda row: -row[1])
    return {"calls": calls, "cpu": cpu, "shares": shares}


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _pool_rounds(prefix: str, runs: int, concurrency: int, repetitions: int,
                 ours_round: Callable[[Path, ThreadPoolExecutor, int], None]) -> dict[str, Any]:
    """Wall seconds per round of ``ours_round`` vs ``runs`` bare runs in the same thread pool,
    rounds paired (who goes first alternating), after one warm-up run of each path."""
    main, env = entrypoint(REF), bare_env()
    numbers = iter(range(repetitions))
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, \
            ThreadPoolExecutor(max_workers=concurrency) as pool:
        scratch = Path(tmp)
        _ours(scratch)
        _bare(main, scratch, env)
        ours, floor = interleave(
            lambda: _timed(lambda: ours_round(scratch, pool, next(numbers))),
            lambda: _timed(lambda: list(pool.map(lambda _i: _bare(main, scratch, env),
                                                 range(runs)))),
            repetitions)
    return {"ours": ours, "floor": floor}


def fanout(runs: int, concurrency: int, repetitions: int) -> dict[str, Any]:
    """Wall seconds of ``runs`` runs through a thread pool, per batch, batches paired."""

    def round_(scratch: Path, pool: ThreadPoolExecutor, _number: int) -> None:
        list(pool.map(lambda _i: _ours(scratch), range(runs)))

    return _pool_rounds("bench-fanout-", runs, concurrency, repetitions, round_)


def fanout_account(runs: int, rounds: int) -> dict[str, Any]:
    """Where a fan-out round's core time goes: per round of ``runs`` runs through a pool of one
    thread per core, its wall and this process's and the children's CPU (``getrusage``), both
    paths in alternating order. Cores times wall, less both CPUs, is the time a core sat idle:
    waiting on the GIL, on a reap, on a spawn. Seconds per round, lists paired round by round."""
    cores = len(os.sched_getaffinity(0))
    main, env = entrypoint(REF), bare_env()
    parts = ("wall", "parent", "children", "idle")
    found: dict[str, dict[str, list[float]]] = {side: {part: [] for part in parts}
                                                for side in ("ours", "bare")}

    def cpu() -> tuple[float, float, float]:
        return (time.perf_counter(), sum(_cpu_ms(resource.RUSAGE_SELF)) / 1000,
                sum(_cpu_ms(resource.RUSAGE_CHILDREN)) / 1000)

    with tempfile.TemporaryDirectory(prefix="bench-fanout-account-") as tmp, \
            ThreadPoolExecutor(max_workers=cores) as pool:
        scratch = Path(tmp)
        _ours(scratch)
        _bare(main, scratch, env)
        sides: list[tuple[str, Callable[[int], None]]] = [
            ("ours", lambda _i: _ours(scratch)), ("bare", lambda _i: _bare(main, scratch, env))]
        for number in range(rounds):
            for side, call in (sides if number % 2 == 0 else sides[::-1]):
                before = cpu()
                list(pool.map(call, range(runs)))
                wall, parent, children = (end - start for start, end in
                                          zip(before, cpu(), strict=True))
                for part, value in zip(parts, (wall, parent, children,
                                               cores * wall - parent - children), strict=True):
                    found[side][part].append(value)
    return {"runs": runs, "rounds": rounds, "cores": cores, "seconds": found}


_POOL_SCRATCH: list[Path] = []


def _pool_worker_init(scratch: str) -> None:
    """A process-pool worker's set-up: where its runs write (set once, read by each run)."""
    _POOL_SCRATCH[:] = [Path(scratch)]


def _pool_worker_run(_index: int) -> None:
    """One run in a process-pool worker (module level: a worker process imports it by name)."""
    _ours(_POOL_SCRATCH[0])


def pool_choice(runs: int, rounds: int) -> dict[str, Any]:
    """Threads or processes for a pool of ``run_processor`` calls: ``rounds`` rounds of ``runs``
    runs through a thread pool and a process pool (``forkserver``: no fork of a threaded parent)
    of one worker per core, each round also timing the bare runs in a thread pool; the order
    rotates round by round. Each pool is warmed first (a worker process pays its imports once)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    cores = len(os.sched_getaffinity(0))
    main, env = entrypoint(REF), bare_env()
    found: dict[str, list[float]] = {"threads": [], "processes": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="bench-pool-choice-") as tmp, \
            ThreadPoolExecutor(max_workers=cores) as threads, \
            ProcessPoolExecutor(max_workers=cores, initializer=_pool_worker_init, initargs=(tmp,),
                                mp_context=multiprocessing.get_context("forkserver")) as procs:
        scratch = Path(tmp)
        list(procs.map(_pool_worker_run, range(2 * cores)))
        list(threads.map(lambda _i: _ours(scratch), range(cores)))
        _bare(main, scratch, env)
        sides: list[tuple[str, Callable[[], object]]] = [
            ("threads", lambda: list(threads.map(lambda _i: _ours(scratch), range(runs)))),
            ("processes", lambda: list(procs.map(_pool_worker_run, range(runs)))),
            ("bare", lambda: list(threads.map(lambda _i: _bare(main, scratch, env),
                                              range(runs))))]
        for number in range(rounds):
            shift = number % len(sides)
            for side, call in sides[shift:] + sides[:shift]:
                found[side].append(_timed(call))
    return {"runs": runs, "rounds": rounds, "cores": cores, "seconds": found}


def _batch_source(scratch: Path, items: int) -> Path:
    """An NDJSON file of ``items`` demo/echo inputs, written line by line (never held whole)."""
    source = scratch / "inputs.ndjson"
    with source.open("w", encoding="utf-8") as handle:
        for index in range(items):
            handle.write(json.dumps({"message": f"bench {index}"}) + "\n")
    return source


def _quiet_logs() -> None:
    """Warnings only, as a person's ``inv run-batch`` logs: the harness captures our stderr, and
    info events of 100,000 items would be its memory, not ours."""
    from runtime.logging import configure_logging

    configure_logging("warning", stream=sys.stderr)


def batch(items: int, concurrency: int, repetitions: int) -> dict[str, Any]:
    """Wall seconds of one ``run_batch`` of ``items`` vs the same count of bare runs in a pool
    of ``concurrency`` threads (the batch uses its own pool of that size)."""
    from runtime.batch import run_batch

    _quiet_logs()
    with tempfile.TemporaryDirectory(prefix="bench-batch-inputs-") as inputs:
        source = _batch_source(Path(inputs), items)

        def round_(scratch: Path, _pool: ThreadPoolExecutor, number: int) -> None:
            result = run_batch(REF, source, concurrency=concurrency, root=ROOT,
                               artifacts_root=scratch / f"ours-{number}")
            if not result.ok:
                raise RuntimeError(f"run_batch failed: {result.to_envelope()}")

        return _pool_rounds("bench-batch-", items, concurrency, repetitions, round_)


def batch_rss(items: int, concurrency: int) -> dict[str, Any]:
    """Peak RSS of a ``run_batch`` of ``items`` mock items, plus (done, RSS KiB) samples at each
    twentieth of the batch: flat memory shows as samples that stop growing after the start."""
    from runtime.batch import run_batch
    from runtime.batch.progress import Progress

    _quiet_logs()
    step = max(1, items // 20)
    samples: list[tuple[int, int]] = []

    def sample(progress: Progress) -> None:
        if progress.final or progress.done % step == 0:
            samples.append((progress.done, status_kib("VmRSS")))

    with tempfile.TemporaryDirectory(prefix="bench-batch-rss-") as tmp:
        scratch = Path(tmp)
        source = _batch_source(scratch, items)
        started = time.perf_counter()
        result = run_batch(REF, source, concurrency=concurrency, root=ROOT,
                           artifacts_root=scratch / "art", on_progress=sample)
        seconds = time.perf_counter() - started
        # Read before the folder goes: removing it lists each 100 000-entry folder whole
        # (shutil.rmtree), a peak of the bench's own clean-up, not of the batch.
        peak = peak_rss_kib()
    if not result.ok:
        raise RuntimeError(f"run_batch failed: {result.to_envelope()}")
    return {"items": items, "seconds": seconds, "maxrss_kib": peak, "samples": samples}


MODAL_OVERRIDE = "127.0.0.1:5000/bench@sha256:" + "cd" * 32  # dev override; never pulled


def batch_modal(items: int, concurrency: int) -> dict[str, Any]:
    """``run_batch(adapter="modal")`` (the SDK's ``Function.map``) vs the home-made loop it
    replaces, ``items`` single modal runs in a pool of ``concurrency`` threads, both against one
    in-process fake Modal server (so this measures our client side and the protocol, not
    Modal's scheduling)."""
    from collections import Counter

    from runtime.batch import run_batch
    from runtime.modal.ops import deploy_modal
    from runtime.modal.target import ModalTarget
    from runtime.runner import run_processor
    from runtime.testing.fake_server import FakeModalServer

    _quiet_logs()
    with tempfile.TemporaryDirectory(prefix="bench-batch-modal-") as tmp:
        scratch = Path(tmp)
        with FakeModalServer(scratch / "fake-modal", source_root=ROOT) as server:
            os.environ.update(server.environ())
            deploy_modal(ModalTarget(REF, "dev"), image_override=MODAL_OVERRIDE, root=ROOT)
            source = _batch_source(scratch, items)
            run_processor(REF, inputs={"message": "warm-up"}, adapter="modal", root=ROOT,
                          artifacts_root=scratch / "warm-up")  # client and channel set up once
            before = len(server.rpcs)
            started = time.perf_counter()
            result = run_batch(REF, source, adapter="modal", concurrency=concurrency, root=ROOT,
                               artifacts_root=scratch / "ours")
            ours = time.perf_counter() - started
            if not result.ok:
                raise RuntimeError(f"run_batch failed: {result.to_envelope()}")
            ours_rpcs = Counter(server.rpcs[before:])
            before = len(server.rpcs)

            def single(index: int) -> None:
                run_processor(REF, inputs={"message": f"bench {index}"}, adapter="modal",
                              root=ROOT, artifacts_root=scratch / "floor")

            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                list(pool.map(single, range(items)))
            floor = time.perf_counter() - started
            floor_rpcs = Counter(server.rpcs[before:])
    return {"ours": [ours], "floor": [floor], "ours_rpcs": dict(ours_rpcs),
            "floor_rpcs": dict(floor_rpcs)}


def _drain_raw(argv: list[str]) -> int:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    total = 0
    while chunk := os.read(fd, 64 * 1024):
        total += len(chunk)
    proc.stderr.close()
    proc.wait()
    return total


def _drain_ours(argv: list[str]) -> int:
    from runtime.adapters.childlog import StderrForwarder
    from runtime.child.spawn import spawn

    with open(os.devnull, "w") as sink:  # noqa: PTH123 - a text stream for the forwarder
        result = spawn(argv, timeout_s=3600, on_stderr_line=StderrForwarder(stream=sink))
    if result.rc != 0:
        raise RuntimeError(f"flood child failed with rc {result.rc}")
    return result.stderr_len


def flood(path: str, size: int) -> dict[str, Any]:
    """Seconds to drain ``size`` bytes of stderr, bytes seen, and this process's peak RSS."""
    argv = [python(), str(FLOOD_CHILD), str(size)]
    drain = _drain_ours if path == "ours" else _drain_raw
    if path == "ours":  # import before the clock starts, like a warm parent would have
        import runtime.adapters.childlog
        import runtime.child.spawn  # noqa: F401
    started = time.perf_counter()
    seen = drain(argv)
    seconds = time.perf_counter() - started
    if seen != size:
        raise RuntimeError(f"drained {seen} bytes, expected {size}")
    return {"seconds": seconds, "bytes": seen, "maxrss_kib": peak_rss_kib()}


def status_kib(field: str) -> int:
    """One KiB figure of ``/proc/self/status`` (``VmRSS``, ``VmHWM``); -1 when unreadable."""
    try:
        with open("/proc/self/status") as status:  # noqa: PTH123
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def peak_rss_kib() -> int:
    """This process's peak RSS. ``VmHWM`` belongs to the address space exec gave us; ``ru_maxrss``
    would also carry the high-water mark of the process we were forked from (Linux keeps it
    across exec), i.e. the bench harness's own size."""
    peak = status_kib("VmHWM")
    return peak if peak >= 0 else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def modal(calls: int) -> dict[str, Any]:
    """Per-call seconds of ``run_processor(adapter="modal")`` vs a bare SDK lookup + call of the
    same deployed function with the same kind of payload, alternating, on the fake Modal server.

    The set-up is the Modal tests' (``tests/modal_support.py``): a pinned copy of the project, a
    started :class:`~runtime.testing.fake_server.FakeModalServer` this process's SDK talks to,
    and ``deploy_modal`` of ``demo/echo@1`` to env ``dev``.
    """
    import uuid

    import modal as sdk

    from runtime.child.spawn import SpawnResult
    from runtime.logging import configure_logging
    from runtime.modal.app import ARTIFACTS_MOUNT
    from runtime.modal.ops import deploy_modal
    from runtime.modal.target import ModalTarget
    from runtime.runner import run_processor
    from tests.modal_support import OVERRIDE, pinned_project, start_fake_modal

    configure_logging("warning", stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-modal-") as tmp:
        scratch = Path(tmp)
        root = pinned_project(scratch / "project")
        server = start_fake_modal(scratch / "fake-modal", root)
        try:
            os.environ.update(server.environ())
            os.environ["PROCESSOR_RUNTIME_ROOT"] = str(root)
            target = ModalTarget(REF, "dev")
            deploy_modal(target, image_override=OVERRIDE, root=root)
            app, function = target.app_name, target.function_name

            def ours_call() -> None:
                envelope = run_processor(REF, adapter="modal", inputs={"message": "bench"},
                                         artifacts_root=scratch / "ours", root=root)
                if envelope.status != "success":
                    raise RuntimeError(f"modal run returned {envelope.status}")

            def bare_call() -> None:
                eid = f"bare-{uuid.uuid4().hex[:12]}"
                payload = {"execution_id": eid, "ref": REF, "mode": "mock",
                           "inputs": {"message": "bench"},
                           "write_prefix": f"{ARTIFACTS_MOUNT}/runs/{eid}",
                           "artifacts_root": ARTIFACTS_MOUNT}
                handle = sdk.Function.from_name(app, function, environment_name="dev").hydrate()
                result = handle.spawn(payload).get(timeout=120)
                if SpawnResult.from_wire(result).rc != 0:
                    raise RuntimeError(f"bare modal call failed: {str(result)[:200]}")

            ours_call()
            bare_call()
            ours, floor = interleave(lambda: _timed(ours_call), lambda: _timed(bare_call), calls)
        finally:
            server.close()
    return {"ours": ours, "floor": floor}


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "warm":
        result = warm(int(args[0]))
    elif command == "warm-account":
        result = warm_account(int(args[0]))
    elif command == "fanout-account":
        result = fanout_account(int(args[0]), int(args[1]))
    elif command == "pool-choice":
        result = pool_choice(int(args[0]), int(args[1]))
    elif command == "fanout":
        result = fanout(int(args[0]), int(args[1]), int(args[2]))
    elif command == "flood":
        result = flood(args[0], int(args[1]))
    elif command == "batch":
        result = batch(int(args[0]), int(args[1]), int(args[2]))
    elif command == "batch-rss":
        result = batch_rss(int(args[0]), int(args[1]))
    elif command == "batch-modal":
        result = batch_modal(int(args[0]), int(args[1]))
    elif command == "modal":
        result = modal(int(args[0]))
    else:
        raise SystemExit(f"unknown worker command {command!r}")
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
