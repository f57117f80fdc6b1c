"""Backup and restore drill: a sealed backup of the test stack restores into a fresh stack with equal counts
and every instance byte-identical (MD5); a wrong key or a damaged archive touches nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from orthanc_config.local_backup import backup, restore
from orthanc_config.local_stack import LocalOptions, LocalStackError, down, up
from pacsguard.posture.clients import https
from pacsguard.posture.dicom_files import unique_ct
from tests.host.conftest import service_reachable_dir, slot_name, slot_subnet

pytestmark = pytest.mark.host


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 (integrity fingerprint)


def test_backup_restores_into_a_fresh_stack_with_every_instance_intact(stack: dict, tmp_path: Path) -> None:
    uploaded = {}
    for i in range(12):
        path, _ = unique_ct(tmp_path, f"ct{i}.dcm")
        code, body, _ = https(stack, "POST", "/instances", "technologist1", body=path.read_bytes())
        assert code == 200
        uploaded[json.loads(body)["ID"]] = _md5(path.read_bytes())
    key, archive = tmp_path / "backup.key", tmp_path / "stack.pgbk"
    report = backup(stack["_options"], archive, key, say=lambda _m: None)
    assert archive.stat().st_mode & 0o777 == 0o600 and report["instances"] >= len(uploaded)
    assert b"PACSGUARD^TEST" not in archive.read_bytes()  # sealed: no patient name in clear

    base = service_reachable_dir()
    fresh = LocalOptions(
        name=slot_name("pgdrill"), state_dir=base / "state", subnet=slot_subnet(11), install_packages=False
    )
    try:
        doc = up(fresh, say=lambda _m: None)
        doc["_users"] = json.loads(Path(doc["credentials_file"]).read_text())["users"]
        result = restore(fresh, archive, key, say=lambda _m: None)
        assert result["instances"] == report["instances"] and result["verified_md5"] == report["files"]
        for orthanc_id, md5 in uploaded.items():
            code, data, _ = https(doc, "GET", f"/instances/{orthanc_id}/file", "radiologist1")
            assert code == 200 and _md5(data) == md5, orthanc_id

        wrong = tmp_path / "wrong.key"
        wrong.write_text("00" * 32)
        with pytest.raises(LocalStackError, match="wrong key"):
            restore(fresh, archive, wrong, say=lambda _m: None)
        damaged = tmp_path / "damaged.pgbk"
        blob = bytearray(archive.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        damaged.write_bytes(bytes(blob))
        with pytest.raises(LocalStackError):
            restore(fresh, damaged, key, say=lambda _m: None)
        # Refused archives changed nothing: the restored data is still all there.
        assert https(doc, "GET", f"/instances/{next(iter(uploaded))}/file", "radiologist1")[0] == 200
    finally:
        down(fresh, purge=True, say=lambda _m: None)
        shutil.rmtree(base, ignore_errors=True)
