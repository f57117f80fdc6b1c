"""The benchmark targets, up for the length of a `with` block and gone afterwards:

- hardened: a local stack (mutual TLS, RBAC/audit plugin, PostgreSQL over its Unix socket) in its own namespace;
- plain: Orthanc with no TLS, SQLite and only the DICOMweb plugin, in a namespace of its own (Orthanc binds
  every interface, so it never runs in the machine's namespace): what an out-of-the-box Orthanc gives a user;
- plain_tls: the same plain Orthanc (SQLite, no plugin) with Orthanc's own DICOM TLS, mutual (the client's
  certificate required, the stack's CA trusted), in plain's namespace: issue 18's baseline, which the modality
  reaches over mutual TLS as it reaches the hardened stack;
- plain_pg: the same plain Orthanc on a PostgreSQL index (orthanc-postgresql, one index connection as the product
  has, a cluster with PostgreSQL's durable defaults, no TLS), in plain's namespace: hardened / plain_pg is the
  hardening's own cost, plain_pg / plain the database choice's;
- storescp_tls: DCMTK's receiver over the same mutual TLS, the wire's ceiling.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from benchmarks.plain_postgres import plain_postgres
from benchmarks.slot import slot_name, slot_subnet
from orthanc_config import netns, pki
from orthanc_config.local_stack import LocalOptions, down, up
from orthanc_config.orthanc_launcher import DICOM_SOCKET_ENV

PLAIN = netns.Link.for_name(slot_name("pgplain"), slot_subnet(13))
HARDENED_NAME, HARDENED_SUBNET = slot_name("pgbench"), slot_subnet(12)


PLUGINS = "/usr/share/orthanc/plugins"
PORTS = {
    "plain": (4242, 8042),
    "plain_pg": (4243, 8043),
    "plain_tls": (4244, 8044),
}  # (DICOM, HTTP) in plain's namespace


def _plain_config(
    state: Path, name: str = "plain", index_uri: str = "", tls: pki.Issued | None = None, ca: str = ""
) -> dict[str, Any]:
    dicom, http = PORTS[name]
    cfg: dict[str, Any] = {
        "Name": name, "StorageDirectory": str(state / "db"), "IndexDirectory": str(state / "db"),
        "DicomAet": name.upper().replace("_", ""), "DicomPort": dicom, "HttpPort": http,
        "DicomAlwaysAllowStore": True, "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowFind": True,
        "AuthenticationEnabled": False, "RemoteAccessAllowed": True,
        "Plugins": [f"{PLUGINS}/libOrthancDicomWeb.so"], "StorageCompression": False,
    }  # fmt: skip
    if tls:
        # Orthanc 1.10.1's own DICOM TLS (FACTS.md), mutual: a client without a certificate of `ca` is refused.
        cfg.update({
            "DicomTlsEnabled": True, "DicomTlsCertificate": str(tls.cert), "DicomTlsPrivateKey": str(tls.key),
            "DicomTlsTrustedCertificates": ca, "DicomTlsRemoteCertificateRequired": True,
        })  # fmt: skip
    if index_uri:
        # The product's index settings (render_orthanc.credential_settings) without TLS: one connection, no lock.
        from orthanc_config.render_orthanc import INDEX_CONNECTIONS

        cfg["Plugins"].append(f"{PLUGINS}/libOrthancPostgreSQLIndex.so")
        cfg["PostgreSQL"] = {
            "EnableIndex": True, "EnableStorage": False, "ConnectionUri": index_uri, "Lock": False,
            "IndexConnectionsCount": INDEX_CONNECTIONS,
        }  # fmt: skip
    return cfg


def _plain_entry(name: str, state: Path) -> dict[str, Any]:
    dicom, http = PORTS[name]
    aet = name.upper().replace("_", "")
    return {
        "host": PLAIN.ns_address, "port": dicom, "aet": "BENCH", "called": aet, "http": f"http://{PLAIN.ns_address}:{http}",
        "dcmtk": ["-aet", "BENCH", "-aec", aet], "netns": PLAIN.name, "storage": state / "db",
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
    # Two runs in one slot would share these namespaces, and the first to finish would tear down the other's.
    busy = [n for n in (PLAIN.name, HARDENED_NAME) if netns.exists(n)]
    if busy:
        raise RuntimeError(f"namespace {busy[0]} exists: another benchmark of this slot is running (or left it)")
    base = Path(tempfile.mkdtemp(prefix="pacsguard-bench-", dir="/var/tmp"))
    base.chmod(0o755)
    hardened = LocalOptions(
        name=HARDENED_NAME, state_dir=base / "hardened", subnet=HARDENED_SUBNET, install_packages=False
    )
    procs: list[subprocess.Popen] = []
    cleanup = ExitStack()
    try:
        doc = up(hardened, say=lambda m: log(f"hardened: {m}"))
        netns.create(PLAIN)
        prefix = netns.exec_prefix(PLAIN.name)
        index_uri = cleanup.enter_context(plain_postgres(base / "plain_pg_index", prefix))
        run_as_orthanc = [*prefix, "setpriv", "--reuid=orthanc", "--regid=orthanc", "--init-groups"]
        # Orthanc and storescp get what the hardened launcher gives Orthanc (orthanc_launcher.DICOM_SOCKET_ENV):
        # without it Nagle's delay caps any one association near 20 instances/s, and the ratios would compare
        # that delay, not the hardening.
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": {**os.environ, **DICOM_SOCKET_ENV}}
        ca = pki.Issued(Path(doc["ca_cert"]), Path(doc["ca_key"]))
        # plain_tls's server certificate from the stack's CA, its key readable by the orthanc group only.
        plain_tls = pki.issue(ca, base / "plain_tls_pki", "orthanc", "plain_tls", days=1, server=True,
                              addresses=(PLAIN.ns_address,), key_gid=grp.getgrnam("orthanc").gr_gid)  # fmt: skip
        for name, uri, tls in (("plain", "", None), ("plain_pg", index_uri, None), ("plain_tls", "", plain_tls)):
            state = base / name
            (state / "db").mkdir(parents=True)
            shutil.chown(state / "db", "orthanc", "orthanc")
            (state / "orthanc.json").write_text(json.dumps(_plain_config(state, name, uri, tls, doc["ca_cert"])))
            procs.append(subprocess.Popen([*run_as_orthanc, "/usr/sbin/Orthanc", str(state / "orthanc.json")], **quiet))
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
        for port in (*PORTS["plain"], *PORTS["plain_pg"], *PORTS["plain_tls"], 11113):
            wait_port(PLAIN.ns_address, port)
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
            "plain": _plain_entry("plain", base / "plain"),
            "plain_pg": {**_plain_entry("plain_pg", base / "plain_pg"), "index": base / "plain_pg_index"},
            # The same modality certificate as the hardened stack's sender, over Orthanc's own mutual TLS.
            "plain_tls": {
                **_plain_entry("plain_tls", base / "plain_tls"),
                "aet": m["aet"],
                "tls": tls,
                "dcmtk": [*dcmtk_tls[:-2], "-aec", "PLAINTLS"],
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
        cleanup.close()
        netns.delete(PLAIN)
        down(hardened, purge=True, say=lambda _m: None)
        shutil.rmtree(base, ignore_errors=True)
