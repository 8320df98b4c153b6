"""Small project-level tasks."""

from __future__ import annotations

from invoke.context import Context

from tasks.cli import task


@task
def version(c: Context) -> None:
    """Print the processor-runtime version."""
    import runtime

    print(runtime.__version__)


TASKS = [version]
