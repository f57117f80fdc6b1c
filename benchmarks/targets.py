"""The three benchmark targets, up for the length of a `with` block and gone afterwards:

- hardened: a local stack (mutual TLS, RBAC/audit plugin, PostgreSQL over TLS) in its own namespace;
- plain: Orthanc with no TLS, SQLite and only the DICOMweb plugin, in a namespace of its own (Orthanc binds
  every interface, so it never runs in the machine's namespace);
- storescp_tls: DCMTK's receiver over the same mutual TLS, the wire's ceiling.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.slot import slot_name, slot_subnet
from orthanc_config import netns, pki
from orthanc_config.local_stack import LocalOptions, down, up
from orthanc_config.orthanc_launcher import DICOM_SOCKET_ENV

PLAIN = netns.Link.for_name(slot_name("pgplain"), slot_subnet(13))
HARDENED_NAME, HARDENED_SUBNET = slot_name("pgbench"), slot_subnet(12)


def _plain_config(state: Path) -> dict[str, Any]:
    return {
        "Name": "plain", "StorageDirectory": str(state / "db"), "IndexDirectory": str(state / "db"),
        "DicomAet": "PLAIN", "DicomPort": 4242, "HttpPort": 8042, "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowFind": True, "AuthenticationEnabled": False,
        "RemoteAccessAllowed": True, "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
        "StorageCompression": False,
    }  # fmt: skip


def wait_port(host: str, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{host}:{port} did not open")


@contextmanager
def bench_targets(log=print) -> Iterator[dict[str, dict[str, Any]]]:
    base = Path(tempfile.mkdtemp(prefix="pacsguard-bench-", dir="/var/tmp"))
    base.chmod(0o755)
    hardened = LocalOptions(
        name=HARDENED_NAME, state_dir=base / "hardened", subnet=HARDENED_SUBNET, install_packages=False
    )
    procs: list[subprocess.Popen] = []
    try:
        doc = up(hardened, say=lambda m: log(f"hardened: {m}"))
        netns.create(PLAIN)
        prefix = netns.exec_prefix(PLAIN.name)
        plain = base / "plain"
        (plain / "db").mkdir(parents=True)
        shutil.chown(plain / "db", "orthanc", "orthanc")
        (plain / "orthanc.json").write_text(json.dumps(_plain_config(plain)))
        run_as_orthanc = [*prefix, "setpriv", "--reuid=orthanc", "--regid=orthanc", "--init-groups"]
        # Orthanc and storescp get what the hardened launcher gives Orthanc (orthanc_launcher.DICOM_SOCKET_ENV):
        # without it Nagle's delay caps any one association near 20 instances/s, and the ratios would compare
        # that delay, not the hardening.
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": {**os.environ, **DICOM_SOCKET_ENV}}
        procs.append(subprocess.Popen([*run_as_orthanc, "/usr/sbin/Orthanc", str(plain / "orthanc.json")], **quiet))
        ca = pki.Issued(Path(doc["ca_cert"]), Path(doc["ca_key"]))
        srv = pki.issue(ca, base / "scp", "scp", "scp", days=1, server=True, addresses=(PLAIN.ns_address,))
        out = base / "scp" / "out"
        out.mkdir()
        scp = [
            "storescp",
            "-aet",
            "CEILING",
            "+tls",
            str(srv.key),
            str(srv.cert),
            "+cf",
            doc["ca_cert"],
            "-od",
            str(out),
            "--fork",  # one process per association, as Orthanc serves several at once
            "11113",
        ]
        procs.append(subprocess.Popen([*prefix, *scp], **quiet))
        wait_port(PLAIN.ns_address, 4242)
        wait_port(PLAIN.ns_address, 8042)
        wait_port(PLAIN.ns_address, 11113)
        m = doc["modalities"][0]
        ws = next(x for x in doc["modalities"] if "find" in x["rights"])
        tls = ssl.create_default_context(cafile=doc["ca_cert"])
        tls.load_cert_chain(m["cert"], m["key"])
        ws_tls = ssl.create_default_context(cafile=doc["ca_cert"])
        ws_tls.load_cert_chain(ws["cert"], ws["key"])
        # DCMTK's arguments for the same modality's certificate (mutual TLS, as the modality sends).
        dcmtk_tls = [
            "+tls",
            m["key"],
            m["cert"],
            "+cf",
            doc["ca_cert"],
            "-aet",
            m["aet"],
            "-aec",
            doc["dicom"]["called_aet"],
        ]
        users = json.loads(Path(doc["credentials_file"]).read_text())["users"]
        yield {
            "plain": {
                "host": PLAIN.ns_address,
                "port": 4242,
                "aet": "BENCH",
                "called": "PLAIN",
                "http": f"http://{PLAIN.ns_address}:8042",
                "dcmtk": ["-aet", "BENCH", "-aec", "PLAIN"],
                "netns": PLAIN.name,
                "storage": plain / "db",
            },
            "hardened": {
                "host": doc["dicom"]["host"],
                "port": doc["dicom"]["port"],
                "aet": m["aet"],
                "called": doc["dicom"]["called_aet"],
                "tls": tls,
                "find_aet": ws["aet"],
                "find_tls": ws_tls,
                "http": doc["https_url"].rstrip("/"),
                "ca": doc["ca_cert"],
                "user": ("radiologist1", users["radiologist1"]["password"]),
                "dcmtk": dcmtk_tls,
                "netns": HARDENED_NAME,
                "state_dir": doc["state_dir"],
                "database_port": doc["database_port"],
                "storage": Path(doc["state_dir"]) / "storage",
            },
            "storescp_tls": {
                "host": PLAIN.ns_address,
                "port": 11113,
                "aet": m["aet"],
                "called": "CEILING",
                "tls": tls,
                "dcmtk": [*dcmtk_tls[:-2], "-aec", "CEILING"],
                "storage": out,
            },
        }
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        netns.delete(PLAIN)
        down(hardened, purge=True, say=lambda _m: None)
        shutil.rmtree(base, ignore_errors=True)
