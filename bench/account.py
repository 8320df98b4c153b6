"""Where the cold CLI's time goes: a table regenerated into ``bench/README.md``.

``inv bench --account`` (or ``python -m bench.account [REPS]``) measures, in one go:

* the **phases** of ``inv run-processor --ref demo/echo@1 --json``, medians over REPS runs: from
  the process's spawn to its first event (interpreter, imports, Invoke's parsing), the checks
  before the child's spawn, the child itself (its ``elapsed_ms``), the judging after its exit, the
  settle, and from the last event to the reap (printing the envelope, interpreter exit) — from the
  NDJSON events' timestamps against the harness's own clock;
* the floor beside it: ``inv --version`` and the bare ``python main.py < payload``;
* the **imports** over ``inv --version`` (``-X importtime``: module count and self time, by
  package), the CPU-time-insensitive view on a shared machine;
* a **profile** of one run (``cProfile``): our own functions by cumulative time;
* a **warm run's CPU** (``python -m bench.worker warm-account N``): this process's and the
  children's user and system CPU per run against the bare floor's, and our functions' shares of
  the parent's CPU. With as many busy children as cores (fan-out, batch) every millisecond of
  parent CPU is taken from them: (child + parent) / (child + floor parent) bounds those ratios.
* a **fan-out round's core time** (``python -m bench.worker fanout-account N R``): per run, the
  wall, both CPUs and the time the cores sat idle, ours against the bare pool's, so the fan-out
  ratio's excess splits into the parent's CPU, the children's and the idle cores'.
* **threads or processes** for a pool of runs (``python -m bench.worker pool-choice N R``): the
  same runs through a thread pool and a process pool, both against the bare thread pool, so the
  batch's pool is the one the numbers choose.

The markdown goes between ``<!-- account:start -->`` and ``<!-- account:end -->``.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.importdiff import group, imports
from bench.measure import ROOT, bare_env, bare_payload, entrypoint, inv, python, timed_run
from bench.stats import median

WARM_CALLS = 300
FANOUT_RUNS, FANOUT_ROUNDS = 200, 6
POOL_RUNS, POOL_ROUNDS = 100, 6

REF = "demo/echo@1"
README = ROOT / "bench" / "README.md"
START, END = "<!-- account:start -->", "<!-- account:end -->"
ARGV = ["run-processor", "--ref", REF, "--json"]
# (label, first event, second event): the phases between consecutive events of one run.
PHASES = (
    ("checks before the spawn (ids, registry, inputs schema, folders, child env)",
     "execution.start", "adapter.invoke.start"),
    ("child wall incl. spawn, drain and the judge of its envelope and files",
     "adapter.invoke.start", "adapter.invoke.complete"),
    ("settle (confinement, output schema, meta)", "adapter.invoke.complete", "execution.settle"),
)


def _stamp(event: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def timeline(scratch: Path) -> dict[str, float]:
    """One cold run's phases in ms (see the module docstring)."""
    started = time.time()
    done = subprocess.run([inv(), *ARGV, "--artifacts-root", str(scratch)], cwd=ROOT,
                          capture_output=True, check=False)
    reaped = time.time()
    if done.returncode:
        raise RuntimeError(f"inv run-processor failed with rc {done.returncode}")
    events: dict[str, dict[str, Any]] = {}
    for line in done.stderr.decode("utf-8", "replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "timestamp" in event and "." in str(event["timestamp"]):
            events.setdefault(str(event.get("event")), event)
    phases = {"spawn of `inv` to its first event (interpreter, imports, Invoke)":
              (_stamp(events["execution.start"]) - started) * 1000}
    for label, first, second in PHASES:
        phases[label] = (_stamp(events[second]) - _stamp(events[first])) * 1000
    child = float(events["adapter.invoke.complete"].get("elapsed_ms", 0))
    phases["  of which the child itself (its elapsed_ms)"] = child
    phases["last event to the reap (envelope printed, interpreter exit)"] = (
        reaped - _stamp(events["execution.settle"])) * 1000
    phases["total wall (spawn to reap)"] = (reaped - started) * 1000
    return phases


def floor(scratch: Path) -> dict[str, float]:
    """The floor's two parts in ms."""
    main = entrypoint(REF)
    version = timed_run([inv(), "--version"], cwd=ROOT)
    bare = timed_run([python(), str(main)], stdin=bare_payload(REF, scratch), env=bare_env(),
                     cwd=main.parent)
    return {"`inv --version`": version.seconds * 1000,
            "bare `python main.py < payload`": bare.seconds * 1000}


def import_account() -> tuple[int, float, list[tuple[str, float]]]:
    """(extra modules, their self ms, top packages by self ms) over ``inv --version``."""
    base = {name for name, _ in imports(["--version"])}
    extra = [(name, us) for name, us in imports(ARGV) if name not in base]
    totals: collections.Counter[str] = collections.Counter()
    for name, us in extra:
        totals[group(name)] += us
    return len(extra), sum(us for _, us in extra) / 1000, [
        (name, us / 1000) for name, us in totals.most_common(12)]


def profile(scratch: Path, top: int = 12) -> list[tuple[str, float, float]]:
    """Our own functions (runtime/, tasks/) by cumulative ms in one profiled run: (name, cum, tot)."""
    with tempfile.NamedTemporaryFile(suffix=".prof", delete=False) as handle:
        out = Path(handle.name)
    try:
        subprocess.run([python(), "-m", "cProfile", "-o", str(out), "-m", "invoke", *ARGV,
                        "--artifacts-root", str(scratch)], cwd=ROOT, capture_output=True,
                       check=True)
        stats = pstats.Stats(str(out))
        rows = []
        for (filename, line, name), (_cc, _nc, tottime, cumtime, _callers) in \
                stats.stats.items():  # type: ignore[attr-defined]
            relative = os.path.relpath(filename, ROOT)
            if relative.startswith(("runtime/", "tasks/")) and name != "<module>":
                rows.append((f"{relative}:{line} {name}", cumtime * 1000, tottime * 1000))
        return sorted(rows, key=lambda row: -row[1])[:top]
    finally:
        out.unlink(missing_ok=True)


def _worker_json(command: str, *args: object) -> dict[str, Any]:
    """A ``bench.worker`` command's JSON, measured in its own process so nothing here counts."""
    done = subprocess.run([python(), "-m", "bench.worker", command, *map(str, args)], cwd=ROOT,
                          capture_output=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{command} worker failed: "
                           + done.stderr.decode("utf-8", "replace")[-800:])
    return dict(json.loads(done.stdout))


def warm_cpu(calls: int = WARM_CALLS) -> dict[str, Any]:
    """The ``warm-account`` worker's JSON."""
    return _worker_json("warm-account", calls)


def _paired(ours: dict[str, list[float]], bare: dict[str, list[float]],
            ) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Medians of each part on both sides, and the extra as the median of the paired
    differences (sample i of each side ran next to each other: a drift between pairs cancels)."""
    return ({part: median(values) for part, values in ours.items()},
            {part: median(values) for part, values in bare.items()},
            {part: median([a - b for a, b in zip(ours[part], bare[part], strict=True)])
             for part in ours})


def _ratio(ours: list[float], bare: list[float]) -> float:
    """The median of the paired rounds' ratios, ours over bare."""
    return median([a / b for a, b in zip(ours, bare, strict=True)])


def warm_lines(found: dict[str, Any], top: int = 18) -> list[str]:
    """The markdown of a warm run's CPU (see the module docstring). Blocks are paired (block i of
    each side ran next to each other): the extra is the median of the paired differences, which
    a machine whose speed drifts between blocks does not move."""
    cpu = found["cpu"]
    ours, bare, extra = _paired(cpu["ours"], cpu["bare"])
    blocks = len(cpu["ours"]["user"])
    parent = ours["user"] + ours["system"]
    parent_extra = extra["user"] + extra["system"]
    floor_run = sum(bare.values())
    rows = [("this process, user", "user"), ("this process, system", "system"),
            ("children (the processor), user", "child_user"),
            ("children (the processor), system", "child_system")]
    return [
        f"A warm run's CPU, per run ({found['calls']} serial `run_processor` calls of "
        f"`demo/echo@1` against as many bare runs, `getrusage`, in {blocks} alternating blocks; "
        "medians, and the extra as the median of the paired blocks' differences):",
        "",
        "| CPU per run | ours | bare | extra |",
        "| --- | --- | --- | --- |",
        *[f"| {label} | {_fmt(ours[key])} | {_fmt(bare[key])} | {_fmt(extra[key])} |"
          for label, key in rows],
        "",
        "With every core busy with a child (fan-out, batch at concurrency 2 on 2 cores) the "
        "parent's extra CPU comes out of the children's: with children of equal cost that alone "
        f"puts those ratios at ≈ {1 + parent_extra / floor_run:.3f}x.",
        "",
        f"Where this process's {_fmt(parent)} a run goes (`cProfile` on CPU time over "
        f"{found['calls']} more runs; shares of its profiled time times the unprofiled CPU "
        "above; nested rows overlap):",
        "",
        "| function | cumulative | est. per run | own share |",
        "| --- | --- | --- | --- |",
        *[f"| `{name}` | {cum * 100:.1f} % | {_fmt(cum * parent)} | {own * 100:.1f} % |"
          for name, cum, own in found["shares"][:top]],
    ]


def fanout_cpu(runs: int = FANOUT_RUNS, rounds: int = FANOUT_ROUNDS) -> dict[str, Any]:
    """The ``fanout-account`` worker's JSON."""
    return _worker_json("fanout-account", runs, rounds)


def fanout_lines(found: dict[str, Any]) -> list[str]:
    """The markdown of a fan-out round's core time per run, rounds paired like the warm blocks.
    Per round, cores times wall is the parent's, the children's and the idle time; the medians
    of those parts add up only about."""
    runs, cores, seconds = found["runs"], found["cores"], found["seconds"]
    per_run = {side: {part: [value * 1000 / runs for value in values]
                      for part, values in parts.items()} for side, parts in seconds.items()}
    ours, bare, extra = _paired(per_run["ours"], per_run["bare"])
    ratio = _ratio(seconds["ours"]["wall"], seconds["bare"]["wall"])
    core_extra = cores * extra["wall"]
    rows = [("wall (the pool's, divided by its runs)", "wall"), ("this process's CPU", "parent"),
            ("children's CPU (the processor)", "children"),
            (f"idle core time ({cores} cores x wall - both CPUs)", "idle")]
    return [
        f"A fan-out round's core time, per run ({found['rounds']} alternating rounds of {runs} "
        f"`run_processor` calls of `demo/echo@1` in a pool of {cores} threads, one per core, "
        "against as many bare runs in the same pool; `getrusage`; medians, and the extra as the "
        "median of the paired rounds' differences):",
        "",
        "| per run | ours | bare | extra |",
        "| --- | --- | --- | --- |",
        *[f"| {label} | {_fmt(ours[key])} | {_fmt(bare[key])} | {_fmt(extra[key])} |"
          for label, key in rows],
        "",
        f"The rounds' ratio (paired median) is **{ratio:.3f}x**. Their extra core time, "
        f"{_fmt(core_extra)} a run, splits into the parent's extra CPU, the children's and the "
        "idle cores' (medians of each, so the parts add up only about). A core idles while a "
        "worker thread waits for the GIL the other holds, or between a child's exit and the "
        "next spawn: the parent's work costs the pool more core time than its own CPU.",
    ]


def pool_cpu(runs: int = POOL_RUNS, rounds: int = POOL_ROUNDS) -> dict[str, Any]:
    """The ``pool-choice`` worker's JSON."""
    return _worker_json("pool-choice", runs, rounds)


def pool_lines(found: dict[str, Any]) -> list[str]:
    """The markdown of threads against processes: each pool's wall per run and its ratio to the
    bare pool of the same round (median of the rounds' ratios)."""
    runs, cores, seconds = found["runs"], found["cores"], found["seconds"]
    bare = seconds["bare"]
    rows = []
    for side, label in (("threads", "thread pool"), ("processes", "process pool (forkserver)"),
                        ("bare", "bare runs, thread pool")):
        rows.append(f"| {label} | {_fmt(median(seconds[side]) * 1000 / runs)} "
                    f"| {_ratio(seconds[side], bare):.3f}x |")
    return [
        f"Threads or processes ({found['rounds']} rounds of {runs} `run_processor` calls of "
        f"`demo/echo@1`, {cores} workers, one per core, the order rotating round by round; "
        "each pool warmed first):",
        "",
        "| pool | wall per run | ratio to the bare pool |",
        "| --- | --- | --- |",
        *rows,
    ]


def _fmt(ms: float) -> str:
    return f"{ms:.1f} ms"


def account(reps: int = 5) -> str:
    """The markdown account (medians of ``reps`` runs; load before and after)."""
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-account-") as tmp:
        scratch = Path(tmp)
        timeline(scratch / "warm")  # page cache, bytecode, the registry and schema caches
        runs = [timeline(scratch / "runs") for _ in range(reps)]
        floors = [floor(scratch) for _ in range(reps)]
        modules, self_ms, packages = import_account()
        profiled = profile(scratch / "profile")
    warm = warm_cpu()
    fanned = fanout_cpu()
    pools = pool_cpu()
    after = os.getloadavg()
    phases = {label: median([run[label] for run in runs]) for label in runs[0]}
    floor_parts = {label: median([f[label] for f in floors]) for label in floors[0]}
    floor_total = median([sum(f.values()) for f in floors])
    total = phases["total wall (spawn to reap)"]
    lines = [
        f"Regenerated by `inv bench --account` ({reps} runs each, medians; load "
        f"{load[0]:.2f} → {after[0]:.2f}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC).",
        "",
        "| phase of one cold `inv run-processor --ref demo/echo@1 --json` | median |",
        "| --- | --- |",
        *[f"| {label} | {_fmt(ms)} |" for label, ms in phases.items()],
        "",
        "| floor | median |",
        "| --- | --- |",
        *[f"| {label} | {_fmt(ms)} |" for label, ms in floor_parts.items()],
        f"| floor total | {_fmt(floor_total)} |",
        f"| **ratio** (total wall / floor total) | **{total / floor_total:.2f}x** "
        f"(target ≤ 1.30x: ≤ {_fmt(1.3 * floor_total)}) |",
        "",
        f"Imports over `inv --version`: **{modules} modules, {self_ms:.1f} ms self time** "
        "(`-X importtime`, one run):",
        "",
        "| package | self time |",
        "| --- | --- |",
        *[f"| `{name}` | {_fmt(ms)} |" for name, ms in packages],
        "",
        "Profile of one run (`cProfile`; our functions by cumulative time, profiler overhead "
        "included):",
        "",
        "| function | cumulative | own |",
        "| --- | --- | --- |",
        *[f"| `{name}` | {_fmt(cum)} | {_fmt(tot)} |" for name, cum, tot in profiled],
        "",
        *warm_lines(warm),
        "",
        *fanout_lines(fanned),
        "",
        *pool_lines(pools),
    ]
    return "\n".join(lines)


def replace_between(text: str, body: str) -> str:
    """``text`` with everything between the account markers replaced by ``body`` (markers kept);
    ValueError when the markers are missing or out of order."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"markers {START} … {END} not found in order")
    return text[: start + len(START)] + "\n" + body.rstrip("\n") + "\n" + text[end:]


def write_account(reps: int = 5, readme: Path = README) -> str:
    """Measure and write the account into ``readme``; returns the markdown."""
    body = account(reps)
    readme.write_text(replace_between(readme.read_text("utf-8"), body), "utf-8")
    return body


if __name__ == "__main__":
    print(write_account(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
