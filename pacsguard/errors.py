"""Bad input ends a command with one line on stderr and exit code 2 (DESIGN.md contract)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2


class UserError(Exception):
    """Input the user can fix: an unknown stack, an invalid setting, an unreachable target."""


@contextmanager
def user_errors(*kinds: type[Exception]) -> Iterator[None]:
    try:
        yield
    except (UserError, *kinds) as exc:
        fail(str(exc))


def fail(message: str, echo: Callable[[str], None] | None = None) -> None:
    (echo or (lambda m: print(m, file=sys.stderr)))(f"pacsguard: error: {message}")
    raise typer.Exit(EXIT_BAD_INPUT)
