"""The build context is assembled in Python, byte-for-byte reproducible (hermetic, no engine)."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from runtime.errors import ImageUnpinnedError
from runtime.images.build import build_context
from runtime.registry.edit import set_base_image
from runtime.registry.load import Registry
from tests.helpers import ROOT, copy_project

BASE_DIGEST = "sha256:" + "c" * 64


@pytest.fixture
def project(tmp_path):
    copy_project(tmp_path)
    set_base_image(tmp_path / "registry" / "processors.yaml", repository="127.0.0.1:5000/base",
                   digest=BASE_DIGEST)
    return tmp_path


def _context(root):
    registry = Registry.load(root)
    return build_context(registry.resolve("text/stats@1"), registry)


def test_context_ignores_checkout_mtimes(project):
    first, _ = _context(project)
    os.utime(project / "processors" / "text" / "stats" / "main.py", (1, 1))
    second, _ = _context(project)
    assert first == second


def test_context_entries_have_fixed_owner_and_mtime(project):
    context, _ = _context(project)
    with tarfile.open(fileobj=io.BytesIO(context)) as archive:
        members = archive.getmembers()
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, 1700000000)}


def test_context_holds_the_processor_and_the_in_container_entry(project):
    context, _ = _context(project)
    with tarfile.open(fileobj=io.BytesIO(context)) as archive:
        names = set(archive.getnames())
    assert {"Dockerfile", "rootfs/opt/processor/main.py", "rootfs/opt/processor/stats.py",
            "rootfs/opt/runtime/runtime/child/entry.py",
            "rootfs/opt/runtime/runtime/kit/context.py"} <= names


def test_dockerfile_builds_from_the_base_by_digest(project):
    context, _ = _context(project)
    with tarfile.open(fileobj=io.BytesIO(context)) as archive:
        dockerfile = archive.extractfile("Dockerfile").read().decode()  # type: ignore[union-attr]
    assert dockerfile.splitlines()[0] == f"FROM 127.0.0.1:5000/base@{BASE_DIGEST}"


def test_labels_name_ref_version_and_source_hash(project):
    _, labels = _context(project)
    assert labels["io.processor-runtime.ref"] == "text/stats@1"
    assert labels["org.opencontainers.image.version"] == "1"
    assert len(labels["io.processor-runtime.source-sha256"]) == 64


def test_missing_base_image_is_unpinned_with_the_task_to_run(tmp_path):
    copy_project(tmp_path)
    with pytest.raises(ImageUnpinnedError, match=r"inv infra\.base-image"):
        _context(tmp_path)


def test_context_carries_exactly_what_images_carry(project):
    """The build context and the change detector derive from one definition (images/content.py)."""
    from runtime.images.content import image_paths

    context, _ = _context(project)
    with tarfile.open(fileobj=io.BytesIO(context)) as archive:
        baked = {m.name.removeprefix("rootfs/opt/runtime/") for m in archive.getmembers()
                 if m.isfile() and m.name.startswith("rootfs/opt/runtime/")}
    assert baked == set(image_paths(ROOT))


def test_what_images_carry_imports_with_nothing_else(tmp_path):
    """The container entry and the kit import from the carried files alone (standard library)."""
    import subprocess
    import sys

    from runtime.images.content import image_files

    for rel, data in image_files(ROOT).items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    probe = ("import sys; sys.path[:0] = [sys.argv[1]]; import runtime.child.entry, "
             "runtime.kit.context; print(sorted(m for m in sys.modules if m.startswith('runtime')))")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(tmp_path)],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "runtime.child.entry" in done.stdout
