"""`pacsguard verify` against a rehearsed instance: the target JSON an operator would write for an EC2 host, and the
verifier's place in the network (the site network behind the load balancer: modalities and reading rooms).

What the rehearsal plays that AWS would: the ALB's identity header (signed with the key the region serves at the
ALB key endpoint, see Region), and the operator's copies of the stack CA and modality certificates (read from the
stack CA secret, as `pacsguard aws modality-cert` does). Host checks enter the instance's namespaces (nsenter://).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from orthanc_config.layout import HostLayout
from tests.rehearsal.balancer import UNBOUND_ADDRESS, Balancer
from tests.rehearsal.instance import Instance
from tests.rehearsal.region import Region

# One signed-in user per role, as the ALB would name them (their passwords are the IdP's, never the host's).
USERS = {f"{role}@rehearsal.example": role for role in ("admin", "radiologist", "technologist", "auditor", "service")}


def _private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def operator_files(region: Region, folder: Path) -> dict:
    """The stack CA (certificate and key) and every modality's pair, from the stack CA secret."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = json.loads(region.client("secretsmanager").get_secret_value(SecretId=region.plan["ca_secret_name"])[
        "SecretString"])  # fmt: skip
    (folder / "ca.crt").write_text(doc["ca_cert"])
    modalities = []
    for m in region.plan["profile"].modalities:
        pair = doc["modalities"][m.aet]
        (folder / f"{m.aet}.crt").write_text(pair["cert"])
        key = _private(folder / f"{m.aet}.key", pair["key"])
        modalities.append({"aet": m.aet, "cert": str(folder / f"{m.aet}.crt"), "key": str(key),
                           "rights": list(m.rights), "bound_address": m.host, "source": m.host})  # fmt: skip
    users = {name: {"role": role, "password": ""} for name, role in USERS.items()}
    return {
        "ca_cert": str(folder / "ca.crt"),
        "ca_key": str(_private(folder / "ca.key", doc["ca_key"])),
        "modalities": modalities,
        "credentials_file": str(_private(folder / "users.json", json.dumps({"users": users}))),
    }


def target(region: Region, inst: Instance, operator: dict) -> dict:
    profile = region.plan["profile"]
    layout = HostLayout(profile)
    root = f"/proc/{inst.anchor_pid}/root"  # the instance's files, as the verifier and the host backend see them
    return {
        "name": inst.instance_id,
        "https_url": f"https://{inst.address}/",
        "viewer_url": f"https://{inst.address}/viewer/" if profile.viewer else None,
        "dicom": {"host": inst.address, "port": profile.dicom_port, "called_aet": profile.dicom_aet},
        **operator,
        "operator_files_local": True,  # ca_key, modality keys and users are the verifier's copies, not the host's
        "alb": region.alb_target(),
        "jwt_signing_key": region.alb_target()["signing_key"],
        "machine_issuer": region.machine_target(),
        "session_timeout_minutes": profile.session_timeout_minutes,
        "audit_log": root + str(layout.audit_log),
        "audit_socket": str(layout.audit_socket),
        "auth_failure_log": root + str(layout.log_dir / "auth-failures.jsonl"),
        "dicom_connection_log": root + str(layout.log_dir / "dicom-connections.jsonl"),
        "source_addresses": {"bound": profile.modalities[0].host, "unbound": UNBOUND_ADDRESS},
        "orthanc_http_port": profile.orthanc_http_port,
        "orthanc_dicom_port": profile.orthanc_dicom_port,
        "dicom_relay_port": profile.dicom_relay_port,
        "edge_addresses": {m.aet: profile.edge_address(m.aet) for m in profile.modalities},
        "database_port": profile.database.port,
        "database_remote": True,  # RDS
        "config_dir": str(layout.config_dir),
        "pki_dir": str(layout.pki),
        "firewall": str(layout.nft_file),
        "orthanc_config": str(layout.config_dir / "orthanc.json"),
        "orthanc_credentials": str(layout.config_dir / "credentials.json"),
        "nginx_config": str(layout.nginx_dir / "nginx.conf"),
        "pki_inventory": root + str(layout.pki / "inventory.json"),
        "orthanc_version": profile.orthanc_version,
        "host_backend": f"nsenter://{inst.anchor_pid}",
    }


def verify(balancer: Balancer, target_file: Path, report: Path) -> subprocess.CompletedProcess:
    """`pacsguard verify` from the site network (where modalities and reading rooms are)."""
    return balancer.in_modality_network(
        sys.executable, "-m", "pacsguard.cli", "verify", "--target", str(target_file), "--format", "json",
        "--output", str(report), capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip


def probes(balancer: Balancer, target_file: Path, results: Path, selection: str) -> list[dict]:
    """Some posture probes only (pytest -k), as `pacsguard verify` runs them; one result row per control."""
    suite = Path(__file__).resolve().parents[2] / "pacsguard" / "posture"
    balancer.in_modality_network(
        sys.executable, "-m", "pytest", str(suite), "-q", "-p", "pacsguard.verify_plugin", "-p", "no:cacheprovider",
        "-o", "addopts=", "--rootdir", str(suite), "--target", str(target_file), "--verify-results", str(results),
        "-k", selection, capture_output=True, text=True,
    )  # fmt: skip
    return [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
