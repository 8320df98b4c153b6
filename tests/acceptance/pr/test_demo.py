from pathlib import Path

from tests.helpers import run_cli


def test_human_summary_names_status_outputs_and_location(tmp_path):
    result = run_cli("run-processor", "--ref", "demo/echo@1", "--artifacts-root", str(tmp_path))
    assert result.rc == 0, result.stderr
    assert result.stdout.startswith("success: demo/echo@1 (local, mock)")
    assert "outputs/echo.txt" in result.stdout
    assert str(tmp_path) in result.stdout
    assert list(Path(tmp_path, "runs").iterdir())
