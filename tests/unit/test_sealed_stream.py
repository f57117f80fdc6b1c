"""Backup encryption: round trip, and every kind of damage is an error, never a partial restore."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from orthanc_config import sealed_stream as ss

KEY = bytes(range(32))


def _seal(data: bytes) -> bytes:
    out = io.BytesIO()
    ss.seal(io.BytesIO(data), out, KEY)
    return out.getvalue()


def _unseal(blob: bytes, key: bytes = KEY) -> bytes:
    return b"".join(ss.unseal(io.BytesIO(blob), key))


@pytest.mark.parametrize("size", [0, 1, ss.CHUNK - 1, ss.CHUNK, 3 * ss.CHUNK + 17])
def test_round_trip(size: int) -> None:
    data = bytes((i * 7) % 251 for i in range(size))
    blob = _seal(data)
    assert size < 64 or data[:64] not in blob  # no plaintext run survives
    assert _unseal(blob) == data


def test_wrong_key_is_refused() -> None:
    with pytest.raises(ss.SealError, match="wrong key"):
        _unseal(_seal(b"study"), bytes(32))


def test_truncation_at_a_chunk_boundary_is_detected() -> None:
    data = b"x" * (2 * ss.CHUNK + 5)
    blob = _seal(data)
    first_chunk_end = len(ss.MAGIC) + 8 + 4 + ss.CHUNK + 16
    with pytest.raises(ss.SealError, match="truncated"):
        _unseal(blob[:first_chunk_end])


def test_a_flipped_bit_is_detected() -> None:
    blob = bytearray(_seal(b"pixel data" * 100))
    blob[40] ^= 1
    with pytest.raises(ss.SealError):
        _unseal(bytes(blob))


def test_new_key_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "backup.key"
    ss.new_key(path)
    assert path.stat().st_mode & 0o777 == 0o600 and len(ss.load_key(path)) == 32
    with pytest.raises(FileExistsError):
        ss.new_key(path)
