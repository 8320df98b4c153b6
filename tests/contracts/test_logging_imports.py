"""runtime.logging keeps structlog's console extras (rich, colorama) off the CLI path."""

import subprocess
import sys

PROBE = ("import sys, runtime.logging; "
         "print(sorted(m for m in ('rich', 'colorama', 'better_exceptions') if m in sys.modules))")


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_importing_runtime_logging_loads_no_console_extras():
    assert _run(PROBE) == "[]"


def test_console_extras_stay_importable_after_runtime_logging():
    assert _run("import runtime.logging, rich; print(rich.__name__)") == "rich"


def test_logging_still_renders_json_after_the_import_guard():
    code = ("import sys, runtime.logging as l; l.configure_logging('info', stream=sys.stdout); "
            "l.get_logger().info('bench.probe', n=1)")
    assert '"event":"bench.probe"' in _run(code)
