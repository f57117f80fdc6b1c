"""A full image store refuses stores visibly and loses nothing; two Orthancs sharing the index and the store
each see every study."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from benchmarks.instances import instance
from orthanc_config.layout import HostLayout
from orthanc_config.local_stack import LocalOptions, down, local_profile, spawn_orthanc, up
from pacsguard.posture.clients import reachable
from tests.host.conftest import service_reachable_dir, slot_name, slot_subnet
from tests.host.test_reliability import _pixel_md5, _send, _stored_pixel_md5

pytestmark = pytest.mark.host


def test_full_disk_refuses_stores_keeps_earlier_ones_and_recovers() -> None:
    base = service_reachable_dir()
    opts = LocalOptions(
        name=slot_name("pgfull"), state_dir=base / "state", subnet=slot_subnet(14), install_packages=False
    )
    storage = Path(local_profile(opts).storage_dir)
    storage.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0750", "tmpfs", str(storage)], check=True)
    try:
        doc = up(opts, say=lambda _m: None)
        doc["_users"] = json.loads(Path(doc["credentials_file"]).read_text())["users"]
        stored = []
        for _ in range(30):  # 0.5 MB each: the 6 MB store fills well before the end
            ds = instance("CT")
            if len(_send(doc, [ds])) != 1:
                break
            stored.append(ds)
        assert 0 < len(stored) < 30, "the store never reported a failure"
        for ds in stored:  # nothing evicted, nothing corrupted
            assert _stored_pixel_md5(doc, ds.SOPInstanceUID) == _pixel_md5(ds)
        subprocess.run(["mount", "-o", "remount,size=64m", str(storage)], check=True)
        assert len(_send(doc, [instance("CT")])) == 1, "stores did not resume once space was back"
    finally:
        down(opts, purge=False, say=lambda _m: None)
        subprocess.run(["umount", str(storage)], check=False)
        down(opts, purge=True, say=lambda _m: None)
        shutil.rmtree(base, ignore_errors=True)


def _loopback_json(ns: list[str], port: int, password: str, path: str, data: str | None = None) -> list:
    # As nginx's worker user: the firewall admits no other local user to Orthanc's HTTP port.
    as_nginx = ["setpriv", "--reuid=www-data", "--regid=www-data", "--clear-groups"]
    cmd = [*ns, *as_nginx, "curl", "-s", "-u", f"admin:{password}", f"http://127.0.0.1:{port}{path}"]
    if data is not None:
        cmd += ["-X", "POST", "-H", "Content-Type: application/json", "--data", data]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def test_two_orthancs_share_index_and_store(stack: dict) -> None:
    opts = stack["_options"]
    layout = HostLayout(local_profile(opts))
    second = layout.state / "orthanc-b"
    shutil.copytree(layout.config_dir, second, dirs_exist_ok=True)
    cfg = json.loads((second / "orthanc.json").read_text())
    # The first Orthanc sits behind the nginx DICOM edge; the second terminates DICOM TLS itself, so the test
    # reaches it directly (what is under test here is the shared index and store, not the edge).
    server_cert, server_key = layout.server
    cfg.update(DicomPort=2763, HttpPort=8043, Name="pacsguard-b", DicomTlsEnabled=True,
               DicomTlsCertificate=str(server_cert), DicomTlsPrivateKey=str(server_key),
               DicomTlsTrustedCertificates=str(layout.ca[0]), DicomTlsRemoteCertificateRequired=True)  # fmt: skip
    for m in cfg["DicomModalities"].values():
        m.update(Host=stack["source_addresses"]["bound"], UseDicomTls=True)
    (second / "orthanc.json").write_text(json.dumps(cfg))
    subprocess.run(["chown", "-R", "root:orthanc", str(second)], check=True)
    ns = ["ip", "netns", "exec", opts.name]
    subprocess.run(
        [*ns, "nft", "insert", "rule", "inet", "pacsguard", "input", "tcp", "dport", "2763", "accept"], check=True
    )
    pid = spawn_orthanc(ns, second, layout.orthanc_output_socket)
    try:
        deadline = time.monotonic() + 30
        while not reachable(stack["dicom"]["host"], 2763, timeout=0.3) and time.monotonic() < deadline:
            time.sleep(0.1)
        a_batch, b_batch = [instance("CT") for _ in range(6)], [instance("CT") for _ in range(6)]
        b_target = {**stack, "dicom": {**stack["dicom"], "port": 2763}}
        threads = [
            threading.Thread(target=_send, args=(stack, a_batch)),
            threading.Thread(target=_send, args=(b_target, b_batch)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        password = stack["_users"]["admin"]["password"]
        for port in (8042, 8043):  # each process, asked on its own loopback port, sees all twelve instances
            seen = set(_loopback_json(ns, port, password, "/instances"))
            for ds in a_batch + b_batch:
                hits = [
                    r["ID"]
                    for r in _loopback_json(ns, port, password, "/tools/lookup", ds.SOPInstanceUID)
                    if r["Type"] == "Instance"
                ]
                assert hits and hits[0] in seen, f"port {port} does not see {ds.SOPInstanceUID}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        subprocess.run([*ns, "nft", "-f", stack["firewall"]], check=True)
        shutil.rmtree(second, ignore_errors=True)
