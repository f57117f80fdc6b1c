"""`pacsguard verify`: run the posture suite (pacsguard/posture, shipped in the package; pytest underneath) against a
target description."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from policies.catalog import by_id
from policies.model import ENDPOINT, FAILED_CALL, Finding

SUITE = Path(__file__).resolve().parent / "posture"  # package data of the wheel, not a test folder
REQUIRED = ("https_url", "dicom", "ca_cert", "modalities", "credentials_file", "audit_log")


class TargetError(Exception):
    """A target description that cannot be verified (missing, malformed, unreachable): exit code 2."""


def load_target(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise TargetError(f"cannot read target {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise TargetError(f"target {path} is not JSON: {exc}") from None
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise TargetError(
            f"target {path} lacks {', '.join(missing)} (the shape of `pacsguard local status --format json`)"
        )
    if len(doc["modalities"]) < 2:
        raise TargetError(
            f"target {path} lists fewer than two modalities: the rights probes need one with and one without"
        )
    import socket

    try:
        socket.create_connection((doc["dicom"]["host"], doc["dicom"]["port"]), timeout=3).close()
    except OSError as exc:
        raise TargetError(
            f"the target's DICOM port {doc['dicom']['host']}:{doc['dicom']['port']} is unreachable: {exc}"
        ) from None
    return doc


def run(target_file: Path, echo: Callable[[str], None] = lambda _l: None) -> list[Finding]:
    load_target(target_file)
    with tempfile.TemporaryDirectory(prefix="pacsguard-verify-") as tmp:
        results = Path(tmp) / "results.jsonl"
        cmd = [
            sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "pacsguard.verify_plugin", "-p", "no:cacheprovider",
            "-o", "addopts=", "-W", "ignore::DeprecationWarning", "--rootdir", str(SUITE),
            "--target", str(target_file), "--verify-results", str(results),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=SUITE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            echo(line.rstrip())
        proc.wait()
        rows = [json.loads(x) for x in results.read_text().splitlines()] if results.exists() else []
    if not rows:
        raise TargetError("the posture suite produced no result (see its output above)")
    return wire_findings(rows)


def wire_findings(rows: list[dict]) -> list[Finding]:
    """One finding per probe. A control whose every probe was skipped has no evidence: its skips carry the
    "endpoint" cause (a critical/high one exits 1 unless --allow-skipped); a skipped probe beside probes that ran
    is reported but proves nothing either way."""
    proven = {r["control"] for r in rows if r["status"] in ("pass", "fail")}
    out = []
    for r in rows:
        cause = ""
        if r["status"] == "skipped" and r["control"] not in proven:
            cause = ENDPOINT
        elif r["status"] == "error":
            cause = FAILED_CALL
        out.append(Finding(r["control"], r["status"], by_id(r["control"]).severity, r["probe"], r["message"], cause))
    return out


def attack_cases(findings: list[Finding]) -> dict[str, int]:
    """Each posture test (one probe, one parameter) is one attack case: it ran unless skipped, it held if it
    passed for every control it evidences."""
    statuses: dict[str, set[str]] = {}
    for f in findings:
        statuses.setdefault(f.resource, set()).add(f.status)
    ran = [s for s in statuses.values() if s != {"skipped"}]
    return {
        "ran": len(ran),
        "held": sum(1 for s in ran if s == {"pass"}),
        "skipped": len(statuses) - len(ran),
    }
