"""`local restore` names the root cause of an unreadable backup, every time, whichever thread fails first."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from orthanc_config import sealed_stream
from orthanc_config.local_backup import unpack
from orthanc_config.local_stack import LocalStackError

KEY = bytes(range(32))


def _sealed_archive(path: Path) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with path.open("wb") as out:
        sealed_stream.seal(io.BytesIO(buf.getvalue()), out, KEY)
    return path


def test_archive_round_trips(tmp_path: Path) -> None:
    unpack(_sealed_archive(tmp_path / "b.pgbk"), KEY, tmp_path)
    assert (tmp_path / "manifest.json").read_text() == "{}"


def test_a_wrong_key_is_reported_as_the_wrong_key_on_every_attempt(tmp_path: Path) -> None:
    """The decrypting thread and the archive reader both fail; the reader used to win the race about half the
    time and report "empty file". Repeated because the old failure was a race, not a constant."""
    archive = _sealed_archive(tmp_path / "b.pgbk")
    messages = set()
    for i in range(40):
        dest = tmp_path / f"d{i}"
        dest.mkdir()
        with pytest.raises(LocalStackError) as err:
            unpack(archive, bytes(32), dest)
        messages.add(str(err.value))
    assert messages == {"cannot open the backup: wrong key, or the archive was modified"}
