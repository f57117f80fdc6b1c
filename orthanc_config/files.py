"""A rendered file: its content and exactly who may read it. Renderers return these; the bootstrap writes them."""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RenderedFile:
    path: str
    content: str
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    secret: bool = False

    def write(self) -> None:
        """Write atomically with the final owner and mode set before the content becomes visible."""
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.pacsguard-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchown(fd, pwd.getpwnam(self.owner).pw_uid, grp.getgrnam(self.group).gr_gid)
            os.fchmod(fd, self.mode)
            os.write(fd, self.content.encode())
        finally:
            os.close(fd)
        os.replace(tmp, target)
