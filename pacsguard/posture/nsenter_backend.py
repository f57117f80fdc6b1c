"""A testinfra backend into a process's namespaces (`nsenter://PID`): the host checks of a machine that is a set of
namespaces on this one (an emulated EC2 instance of the rehearsal: its own mount, root and network namespaces).
Commands run as root in that process's mount and network namespaces, inside its root directory."""

from __future__ import annotations

from typing import Any

from testinfra.backend import base

SCHEME = "nsenter"


class NsenterBackend(base.BaseBackend):
    NAME = SCHEME

    def __init__(self, pid: str, *args: Any, **kwargs: Any) -> None:
        if not pid.isdigit():
            raise RuntimeError(f"nsenter://{pid}: name the process whose namespaces to enter by its pid")
        self.pid = pid
        super().__init__(pid, *args, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        out = self.run_local("nsenter -t %s --mount --net --root --wd /bin/sh -c %s", self.pid, cmd)
        out.command = self.encode(cmd)
        return out


def register() -> None:
    """Make `nsenter://PID` a testinfra host URL like ssh:// or docker://."""
    from testinfra import backend

    backend.BACKENDS.setdefault(SCHEME, f"{__name__}.NsenterBackend")
