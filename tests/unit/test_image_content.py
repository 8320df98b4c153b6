"""What an image carries is enough for Modal's container entrypoint to import the deployed
function by module and qualname, with the standard library alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.images.content import carried_by_image, image_files
from runtime.modal.app import modal_function
from tests.helpers import ROOT

_IMPORT = ("import importlib, sys; "
           "module = importlib.import_module({module!r}); "
           "fn = getattr(module, {qualname!r}); "
           "leaked = sorted(m for m in ('modal', 'yaml', 'pydantic', 'structlog') if m in sys.modules); "
           "print(fn.__module__, fn.__qualname__, leaked)")


def _materialise(target: Path) -> Path:
    for path, data in image_files(ROOT).items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(data)
    return target


def test_the_deployed_function_imports_from_the_image_files_alone(tmp_path):
    image = _materialise(tmp_path / "image")
    # -I -S: no site-packages, no user paths, no project checkout; only the image's files.
    code = _IMPORT.format(module=modal_function.__module__, qualname=modal_function.__qualname__)
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, "
                          f"{str(image)!r}); {code}"], capture_output=True, text=True,
                         cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["runtime.modal.app", "modal_function", "[]"]


@pytest.mark.parametrize("path", ["runtime/modal/app.py", "runtime/modal/naming.py",
                                  "runtime/registry/refs.py"])
def test_a_change_to_the_functions_modules_changes_every_image(path):
    assert carried_by_image(path)


def test_the_host_side_modal_modules_stay_out_of_the_image():
    assert not carried_by_image("runtime/modal/ops.py")
    assert not carried_by_image("runtime/modal/boundary.py")
