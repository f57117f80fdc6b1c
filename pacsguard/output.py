"""Where a report goes: stdout, or a file written whole (a failed run never leaves half a report)."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console


@contextmanager
def report_console(output: Path | None) -> Iterator[Console]:
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
