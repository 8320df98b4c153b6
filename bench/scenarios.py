"""The scenarios of issue 6: each measures our path and its floor in the same run.

Every scenario returns a list of :class:`Row`; one needing something this machine lacks (the Docker
engine, a task not merged yet) returns a row with status ``skipped: <reason>``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import ROOT, bare_env, bare_payload, entrypoint, inv, python, timed_run
from bench.stats import Direction, interleave, median, ratio, verdict

REF = "demo/echo@1"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    """Repetitions and sizes; ``--quick`` shrinks them to fit in under a minute."""

    cold_reps: int
    warm_calls: int
    flood_bytes: int
    flood_reps: int
    fanout_runs: int
    fanout_reps: int
    docker_reps: int
    rebuild_reps: int
    evidence_files: int
    evidence_bytes: int
    evidence_reps: int
    batch_items: int
    batch_reps: int
    batch_rss_items: int
    modal_batch_items: int = 200
    modal_calls: int = 30


# Even repetition counts: pairs alternate who goes first (bench.stats.interleave), so each side
# leads equally often.
FULL = Sizes(cold_reps=16, warm_calls=200, flood_bytes=1024 * MIB, flood_reps=4, fanout_runs=200,
             fanout_reps=4, docker_reps=40, rebuild_reps=3, evidence_files=10_000,
             evidence_bytes=1024 * MIB, evidence_reps=2, batch_items=1_000, batch_reps=4,
             batch_rss_items=100_000)
QUICK = Sizes(cold_reps=6, warm_calls=20, flood_bytes=64 * MIB, flood_reps=4, fanout_runs=20,
              fanout_reps=4, docker_reps=6, rebuild_reps=2, evidence_files=1_000,
              evidence_bytes=64 * MIB, evidence_reps=2, batch_items=40, batch_reps=1,
              batch_rss_items=400, modal_batch_items=10, modal_calls=8)


@dataclass
class Row:
    """One checked figure: ``checked`` is ``ratio`` (ours/floor) or ``ours`` (an absolute bound)."""

    scenario: str
    metric: str
    unit: str
    target: float | None = None
    direction: Direction = "max"
    checked: str = "ratio"
    ours: float | None = None
    floor: float | None = None
    status: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """ours / floor when both exist."""
        if self.ours is None or not self.floor:
            return None
        return ratio(self.ours, self.floor)

    def settle(self) -> Row:
        """Set ``status`` from the figures (kept when already skipped/failed)."""
        if self.status:
            return self
        value = self.ratio if self.checked == "ratio" else self.ours
        if value is None or self.target is None:
            self.status = "n/a"
        else:
            self.status = verdict(value, self.target, self.direction)
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures, including the derived ratio."""
        return {"scenario": self.scenario, "metric": self.metric, "unit": self.unit,
                "ours": self.ours, "floor": self.floor, "ratio": self.ratio,
                "checked": self.checked, "target": self.target, "direction": self.direction,
                "status": self.status, "note": self.note, "samples": self.samples}


def _skipped(scenario: str, metric: str, reason: str, target: float | None = None,
             direction: Direction = "max", checked: str = "ratio", unit: str = "") -> Row:
    return Row(scenario, metric, unit, target, direction, checked, status=f"skipped: {reason}")


def _worker(*args: str) -> dict[str, Any]:
    """Run ``python -m bench.worker ARGS`` in its own process; its stdout is one JSON object."""
    done = subprocess.run([python(), "-m", "bench.worker", *args], cwd=ROOT, capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench worker {args} failed: {done.stderr.decode(errors='replace')[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def cold_cli(sizes: Sizes) -> list[Row]:
    """``inv run-processor --json`` vs ``inv --version`` + bare ``python main.py < payload``."""
    main = entrypoint(REF)
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        scratch = Path(tmp)
        ours_argv = [inv(), "run-processor", "--ref", REF, "--json", "--artifacts-root",
                     str(scratch / "ours")]

        def ours() -> float:
            sample = timed_run(ours_argv, cwd=ROOT)
            if sample.rc != 0:
                raise RuntimeError(f"inv run-processor failed with rc {sample.rc}")
            return sample.seconds

        def floor() -> float:
            version = timed_run([inv(), "--version"], cwd=ROOT)
            bare = timed_run([python(), str(main)], stdin=bare_payload(REF, scratch),
                             env=bare_env(), cwd=main.parent)
            if version.rc or bare.rc:
                raise RuntimeError(f"floor failed: inv --version rc {version.rc}, bare rc {bare.rc}")
            return version.seconds + bare.seconds

        interleave(ours, floor, 1)  # warm-up: page cache and bytecode
        o, f = interleave(ours, floor, sizes.cold_reps)
    return [Row("cold CLI", "wall", "s", 1.3, ours=median(o), floor=median(f),
                samples={"ours": o, "floor": f}).settle()]


def warm_api(sizes: Sizes) -> list[Row]:
    """N x run_processor() in one process vs N x subprocess.run([python, main.py]), per call."""
    result = _worker("warm", str(sizes.warm_calls))
    o, f = result["ours"], result["floor"]
    return [Row("warm API", f"per call (median of {len(o)})", "s", 1.05, ours=median(o),
                floor=median(f), samples={"ours": o, "floor": f},
                note=f"mean ours {sum(o) / len(o):.4f}s, floor {sum(f) / len(f):.4f}s").settle()]


def stderr_flood(sizes: Sizes) -> list[Row]:
    """Drain a child's stderr flood through runtime.child.spawn vs a raw pipe: throughput and RSS."""
    size = str(sizes.flood_bytes)
    runs = interleave(lambda: _worker("flood", "ours", size), lambda: _worker("flood", "raw", size),
                      sizes.flood_reps)
    ours_tp = [sizes.flood_bytes / r["seconds"] / MIB for r in runs[0]]
    floor_tp = [sizes.flood_bytes / r["seconds"] / MIB for r in runs[1]]
    ours_rss = [r["maxrss_kib"] / 1024 for r in runs[0]]
    floor_rss = [r["maxrss_kib"] / 1024 for r in runs[1]]
    label = f"{sizes.flood_bytes // MIB} MiB"
    return [
        Row("stderr flood", f"throughput ({label})", "MiB/s", 0.7, "min", ours=median(ours_tp),
            floor=median(floor_tp), samples={"ours": ours_tp, "floor": floor_tp}).settle(),
        Row("stderr flood", "parent peak RSS", "MiB", 64, "max", "ours", ours=max(ours_rss),
            floor=max(floor_rss), samples={"ours": ours_rss, "floor": floor_rss},
            note="max over repetitions, each its own measuring process").settle(),
    ]


def fan_out(sizes: Sizes) -> list[Row]:
    """N runs at concurrency 2 through run_processor in a thread pool vs bare runs, wall."""
    result = _worker("fanout", str(sizes.fanout_runs), "2", str(sizes.fanout_reps))
    o, f = result["ours"], result["floor"]
    return [Row("fan-out", f"wall ({sizes.fanout_runs} runs, concurrency 2)", "s", 1.05,
                ours=median(o), floor=median(f), samples={"ours": o, "floor": f}).settle()]


BATCH_RSS_GROWTH_MIB = 16


def batch_scenario(sizes: Sizes) -> list[Row]:
    """run_batch of N items at concurrency 2 vs N bare runs in a 2-thread pool (wall)."""
    timed = _worker("batch", str(sizes.batch_items), "2", str(sizes.batch_reps))
    o, f = timed["ours"], timed["floor"]
    return [Row("batch", f"wall ({sizes.batch_items} items, concurrency 2)", "s", 1.05,
                ours=median(o), floor=median(f), samples={"ours": o, "floor": f}).settle()]


def batch_rss_scenario(sizes: Sizes) -> list[Row]:
    """The parent's RSS over a batch of many mock items: its peak, and how much it grew after
    the first twentieth (flat memory: the growth stays small whatever the size). Its own
    scenario: 100,000 items take the machine for about 40 minutes."""
    rss = _worker("batch-rss", str(sizes.batch_rss_items), str(max(2, os.cpu_count() or 2)))
    samples = [kib / 1024 for _done, kib in rss["samples"]]
    growth = max(samples) - samples[0] if samples else None
    label = f"{sizes.batch_rss_items} mock items"
    return [
        Row("batch-rss", f"parent peak RSS ({label})", "MiB", 128, "max", "ours",
            ours=rss["maxrss_kib"] / 1024, samples={"rss_mib": samples},
            note=f"{rss['seconds']:.0f}s for the batch").settle(),
        Row("batch-rss", f"parent RSS growth after 5% ({label})", "MiB", BATCH_RSS_GROWTH_MIB,
            "max", "ours", ours=growth, samples={"rss_mib": samples}).settle(),
    ]


def _engine() -> tuple[str | None, str]:
    """(DOCKER_HOST, '') when the engine is reachable, else (None, reason)."""
    try:
        from runtime.devinfra import services as infra
    except ImportError as exc:
        return None, f"runtime.devinfra.services not importable ({exc})"
    try:
        state = infra.status(ROOT)
    except Exception as exc:  # noqa: BLE001 - any probe failure means "not available here"
        return None, f"infra status failed: {exc}"
    if not state.engine_reachable or not state.docker_host:
        return None, "Docker engine not reachable (run `inv infra.up`)"
    return state.docker_host, ""


def _inv_tasks() -> set[str]:
    done = subprocess.run([inv(), "--list", "--list-format", "json"], cwd=ROOT,
                          capture_output=True, check=False)
    if done.returncode != 0:
        return set()
    names: set[str] = set()

    def walk(collection: dict[str, Any], prefix: str) -> None:
        for item in collection.get("tasks", []):
            names.add(prefix + item["name"])
        for sub in collection.get("collections", []):
            walk(sub, f"{prefix}{sub['name']}.")

    walk(json.loads(done.stdout), "")
    return names


def _find_digest(value: Any) -> str | None:
    """The first ``sha256:…`` string found in a JSON value (envelopes differ per task)."""
    if isinstance(value, str):
        found = re.search(r"sha256:[0-9a-f]{64}", value)
        return found.group(0) if found else None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    for item in items:
        digest = _find_digest(item)
        if digest:
            return digest
    return None


def _released_project(scratch: Path) -> Path:
    """A temporary copy of ``registry/`` + ``processors/`` with demo/echo built, pushed, pinned.

    The committed registry YAML is never touched: the base image (cached by ``inv
    infra.base-image``) is recorded in the copy and the pin is written there too.
    """
    from runtime.images.base import build_base_image
    from runtime.images.build import build_processor, pin_processor, push_processor
    from runtime.images.engine import engine_session
    from runtime.registry.edit import set_base_image

    with engine_session() as client:
        base = build_base_image(client=client)
    root = scratch / "project"
    for folder in ("registry", "processors"):
        shutil.copytree(ROOT / folder, root / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    set_base_image(root / "registry" / "processors.yaml", repository=base["repository"],
                   digest=base["digest"])
    build_processor(REF, root=root)
    pushed = push_processor(REF, root=root)
    pin_processor(REF, pushed.digest, verify=True, root=root)
    return root


def _docker_ready(scenario: str, target: float, checked: str = "ratio",
                  unit: str = "") -> tuple[str | None, Row | None]:
    """(DOCKER_HOST, None) when the adapter, engine and CLI are there, else (None, skipped row)."""
    from runtime.adapters import ADAPTERS

    if "docker" not in ADAPTERS:
        return None, _skipped(scenario, "wall", "docker adapter not registered", target,
                              checked=checked, unit=unit)
    host, reason = _engine()
    if host is None:
        return None, _skipped(scenario, "wall", reason, target, checked=checked, unit=unit)
    if shutil.which("docker") is None:
        return None, _skipped(scenario, "wall", "docker CLI not on PATH", target,
                              checked=checked, unit=unit)
    return host, None


def docker_adapter(sizes: Sizes) -> list[Row]:
    """run_processor(adapter=docker) vs ``docker run --rm -i --network none IMAGE python3
    /opt/processor/main.py < payload`` of the same pinned image (in a temporary project)."""
    host, skipped = _docker_ready("docker adapter", 1.10)
    if host is None:
        assert skipped is not None
        return [skipped]
    from runtime.images.build import PROCESSOR_DIR
    from runtime.registry.load import Registry
    from runtime.runner import run_processor

    docker = shutil.which("docker") or "docker"
    env = {**bare_env(), "DOCKER_HOST": host}
    with tempfile.TemporaryDirectory(prefix="bench-docker-") as tmp:
        scratch = Path(tmp)
        root = _released_project(scratch)
        version = Registry.load(root).resolve(REF).version
        pinned = f"{version.image.repository}@{version.image.digest}"
        payload = json.dumps({"execution_id": "ex-bench", "ref": REF, "mode": "mock",
                              "inputs": {"message": "bench"}, "write_prefix": "/tmp/out",
                              "artifacts_root": "/tmp/art"}).encode()

        def ours() -> float:
            started = time.perf_counter()
            envelope = run_processor(REF, adapter="docker", inputs={"message": "bench"},
                                     artifacts_root=scratch / "ours", root=root)
            if envelope.status != "success":
                raise RuntimeError(f"docker adapter run returned {envelope.status}")
            return time.perf_counter() - started

        def floor() -> float:
            sample = timed_run([docker, "run", "--rm", "-i", "--network", "none", pinned,
                                "python3", f"{PROCESSOR_DIR}/{version.entrypoint}"],
                               stdin=payload, env=env)
            if sample.rc != 0:
                raise RuntimeError(f"docker run floor failed with rc {sample.rc}")
            return sample.seconds

        interleave(ours, floor, 1)
        o, f = interleave(ours, floor, sizes.docker_reps)
    return [Row("docker adapter", "wall", "s", 1.10, ours=median(o), floor=median(f),
                samples={"ours": o, "floor": f}).settle()]


def _image_id(envelope: Any) -> str | None:
    """The built image ID of a ``build-processor --json`` line (any digest as a fallback)."""
    if isinstance(envelope, dict) and isinstance(envelope.get("image_id"), str):
        return str(envelope["image_id"])
    return _find_digest(envelope)


def noop_rebuild(sizes: Sizes) -> list[Row]:
    """``inv build-processor`` again after a first build: wall ≤ 2 s and the same image ID."""
    if "build-processor" not in _inv_tasks():
        return [_skipped("no-op rebuild", "wall", "task build-processor not present", 2.0,
                         checked="ours", unit="s")]
    host, skipped = _docker_ready("no-op rebuild", 2.0, checked="ours", unit="s")
    if host is None:
        assert skipped is not None
        return [skipped]
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp:
        root = _released_project(Path(tmp))
        env = {**os.environ, "PROCESSOR_RUNTIME_ROOT": str(root)}
        argv = [inv(), "build-processor", "--ref", REF, "--json"]
        first = timed_run(argv, cwd=ROOT, env=env)
        if first.rc != 0:
            raise RuntimeError(f"inv build-processor failed with rc {first.rc}")
        digests = {_image_id(json.loads(first.stdout))}
        seconds: list[float] = []
        for _ in range(sizes.rebuild_reps):
            sample = timed_run(argv, cwd=ROOT, env=env)
            if sample.rc != 0:
                raise RuntimeError(f"inv build-processor failed with rc {sample.rc}")
            seconds.append(sample.seconds)
            digests.add(_image_id(json.loads(sample.stdout)))
    same = len(digests) == 1 and None not in digests
    row = Row("no-op rebuild", "wall", "s", 2.0, "max", "ours", ours=median(seconds),
              samples={"ours": seconds}, note=f"image ids: {sorted(map(str, digests))}")
    if not same:
        row.status = "miss: image id changed"
    return [row.settle()]


def _evidence_tree(root: Path, files: int, total: int) -> None:
    """``files`` files summing to ``total`` bytes of incompressible-ish data in 100 folders."""
    import random

    rng = random.Random(6)
    size = total // files
    for i in range(files):
        folder = root / f"d{i % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.bin").write_bytes(rng.randbytes(size))


def evidence_package(sizes: Sizes) -> list[Row]:
    """``inv evidence.package`` of a large folder vs ``tar czf`` of the same folder."""
    names = _inv_tasks()
    if "evidence.package" not in names:
        return [_skipped("evidence.package", "wall", "task evidence.package not present", 1.5)]
    helptext = subprocess.run([inv(), "--help", "evidence.package"], cwd=ROOT, capture_output=True,
                              text=True, check=False).stdout
    flags = re.findall(r"--([a-z][a-z-]*)", helptext)
    source = next((f for f in ("source", "src", "runs", "runs-dir", "from", "input", "folder")
                   if f in flags), None)
    out = next((f for f in ("out", "output", "dest", "to") if f in flags), None)
    if source is None or out is None:
        return [_skipped("evidence.package", "wall",
                         f"cannot point the task at a folder (flags: {', '.join(flags)})", 1.5)]
    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as tmp:
        scratch = Path(tmp)
        tree = scratch / "tree"
        _evidence_tree(tree, sizes.evidence_files, sizes.evidence_bytes)

        def ours() -> tuple[float, int]:
            target = scratch / "ours.tar.gz"
            target.unlink(missing_ok=True)
            s = timed_run([inv(), "evidence.package", f"--{source}", str(tree), f"--{out}",
                           str(target)], cwd=ROOT, rss=True)
            if s.rc != 0:
                raise RuntimeError(f"inv evidence.package failed with rc {s.rc}")
            return s.seconds, s.maxrss_kib

        def floor() -> tuple[float, int]:
            s = timed_run(["tar", "czf", str(scratch / "floor.tar.gz"), "-C", str(tree), "."],
                          rss=True)
            if s.rc != 0:
                raise RuntimeError(f"tar czf failed with rc {s.rc}")
            return s.seconds, s.maxrss_kib

        o, f = interleave(ours, floor, sizes.evidence_reps)
    label = f"{sizes.evidence_files} files / {sizes.evidence_bytes // MIB} MiB"
    ours_rss = [r / 1024 for _, r in o]
    return [
        Row("evidence.package", f"wall ({label})", "s", 1.5, ours=median([s for s, _ in o]),
            floor=median([s for s, _ in f]), samples={"ours": [s for s, _ in o],
                                                      "floor": [s for s, _ in f]}).settle(),
        Row("evidence.package", "peak RSS", "MiB", 128, "max", "ours", ours=max(ours_rss),
            floor=max(r / 1024 for _, r in f), samples={"ours": ours_rss}).settle(),
    ]


def batch_modal_scenario(sizes: Sizes) -> list[Row]:
    """run_batch of N items on modal (one ``Function.map``) vs N single modal runs in a 2-thread
    pool, both against the in-process fake Modal server; and the map calls the batch made."""
    done = _worker("batch-modal", str(sizes.modal_batch_items), "2")
    o, f = done["ours"], done["floor"]
    ours_rpcs, floor_rpcs = done["ours_rpcs"], done["floor_rpcs"]
    label = f"{sizes.modal_batch_items} items, concurrency 2, fake Modal"
    return [
        Row("batch-modal", f"wall ({label})", "s", 1.05, ours=median(o), floor=median(f),
            samples={"ours": o, "floor": f},
            note="the fake runs each input as a host subprocess: this is our client side and "
                 "the protocol, not Modal's scheduling").settle(),
        Row("batch-modal", "FunctionMap calls per batch", "calls", 1, "max", "ours",
            ours=float(ours_rpcs.get("FunctionMap", 0)),
            floor=float(floor_rpcs.get("FunctionMap", 0)),
            note=f"single runs: {floor_rpcs.get('FunctionMap', 0)} FunctionMap + "
                 f"{floor_rpcs.get('FunctionGet', 0)} FunctionGet; the batch: "
                 f"{ours_rpcs.get('FunctionPutInputs', 0)} FunctionPutInputs, "
                 f"{ours_rpcs.get('FunctionGet', 0)} FunctionGet").settle(),
    ]


def modal_adapter(sizes: Sizes) -> list[Row]:
    """``run_processor(adapter="modal")`` vs a bare SDK lookup + call on the fake Modal server,
    per call (``python -m bench.worker modal N``). No target yet (issue 16 asks for the figure);
    the row reports the ratio."""
    try:
        import modal  # noqa: F401 - only whether the SDK is installed
    except ImportError:
        return [_skipped("modal adapter", "per call", "the modal SDK is not installed", unit="s")]
    result = _worker("modal", str(sizes.modal_calls))
    o, f = result["ours"], result["floor"]
    return [Row("modal adapter", f"per call, fake server (median of {len(o)})", "s", None,
                ours=median(o), floor=median(f), samples={"ours": o, "floor": f},
                note="ours adds the volume fetch of the outputs and receipt, and the judging"
                ).settle()]


SCENARIOS = {
    "cold-cli": cold_cli,
    "warm-api": warm_api,
    "stderr-flood": stderr_flood,
    "fan-out": fan_out,
    "docker": docker_adapter,
    "rebuild": noop_rebuild,
    "evidence": evidence_package,
    "batch": batch_scenario,
    "batch-rss": batch_rss_scenario,
    "batch-modal": batch_modal_scenario,
    "modal": modal_adapter,
}


def run_scenario(name: str, sizes: Sizes) -> list[Row]:
    """Run one scenario; an unexpected failure becomes a ``failed: …`` row, not a crash."""
    try:
        return SCENARIOS[name](sizes)
    except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the others
        from runtime.logging import get_logger

        get_logger().warning("bench.scenario.failed", scenario=name, error=str(exc)[:500])
        return [Row(name, "-", "", status=f"failed: {type(exc).__name__}: {str(exc)[:200]}")]
