"""Where a report goes: stdout, or a file written whole (a failed run never leaves half a report)."""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported by the commands that print with it, not by `pacsguard --help`
    from rich.console import Console


@cache
def progress(message: str) -> AbstractContextManager[object]:
    """A spinner on stderr when it is a terminal. Elsewhere rich would draw nothing, so it is not even imported
    (~30 ms of a plan whose output goes to a pipe or file)."""
    if not (sys.stderr.isatty() or os.environ.get("FORCE_TERMINAL")):
        return nullcontext()
    return stderr_console().status(message)


def stderr_console() -> Console:
    """Progress and notes go to stderr, so stdout stays the report."""
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def report_console(output: Path | None) -> Iterator[Console]:
    from rich.console import Console

    if output is None:
        yield Console()
        return
    buffer = io.StringIO()
    yield Console(file=buffer, width=160, color_system=None)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(buffer.getvalue())
    os.replace(tmp, output)


def write_report(text: str, output: Path | None) -> None:
    """Print, or write the file whole (atomically)."""
    if output is None:
        print(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")
    os.replace(tmp, output)


def emit(fmt: object, findings: list, ctx: object, output: Path | None, inventory: object = None) -> None:
    """Render findings in `fmt` (table, sarif, junit, html) to stdout or a file."""
    from pacsguard.reports import ReportFormat, html, junit, sarif, text

    if fmt == ReportFormat.table:
        with report_console(output) as out:
            if inventory is not None:
                from pacsguard.inventory import plan_document, print_plan_table

                print_plan_table(plan_document(inventory, []), out, with_findings=False)  # type: ignore[arg-type]
            text.print_findings(findings, ctx, out)  # type: ignore[arg-type]
        return
    renderer = {ReportFormat.sarif: sarif.render, ReportFormat.junit: junit.render, ReportFormat.html: html.render}[fmt]
    write_report(renderer(findings, ctx), output)  # type: ignore[operator]
