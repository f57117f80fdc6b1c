"""The ingest benchmark's goal baseline, plain Orthanc over its own DICOM TLS, is mutual TLS as issue 18 sends it:
a modality certificate of the CA stores, a sender without a certificate or without TLS is refused."""

from __future__ import annotations

import grp
import json
import shutil
import subprocess

import pytest

from benchmarks.instances import write_series
from benchmarks.targets import PORTS, _plain_config
from orthanc_config import pki
from tests.host.conftest import host_prerequisites, service_reachable_dir

# In a network namespace of its own (loopback only), so nothing outside it reaches this Orthanc.
SCRIPT = """ip link set lo up
setpriv --reuid=orthanc --regid=orthanc --init-groups /usr/sbin/Orthanc "$1/orthanc.json" >"$1/orthanc.out" 2>&1 &
P=$!
i=0; while ! (exec 3<>/dev/tcp/127.0.0.1/$2) 2>/dev/null; do i=$((i+1)); [ $i -gt 300 ] && break; sleep 0.1; done
storescu +tls "$1/m.key" "$1/m.crt" +cf "$1/ca.crt" -aec PLAINTLS 127.0.0.1 "$2" "$1"/ct/00000.dcm >/dev/null 2>&1 \
  && echo stored || echo refused
storescu +tla +cf "$1/ca.crt" -aec PLAINTLS 127.0.0.1 "$2" "$1"/ct/00001.dcm >/dev/null 2>&1 \
  && echo stored || echo refused
storescu -aec PLAINTLS 127.0.0.1 "$2" "$1"/ct/00002.dcm >/dev/null 2>&1 && echo stored || echo refused
kill $P; wait $P
"""


def test_plain_tls_baseline_stores_over_mutual_tls_only() -> None:
    reason = host_prerequisites()
    if reason:
        pytest.skip(reason)
    base = service_reachable_dir()
    try:
        ca = pki.create_ca(base / "ca", "bench CA", days=1)
        server = pki.issue(ca, base / "srv", "orthanc", "plain_tls", days=1, server=True, addresses=("127.0.0.1",),
                           key_gid=grp.getgrnam("orthanc").gr_gid)  # fmt: skip
        modality = pki.issue(ca, base / "mod", "m", "MODALITY", days=1, server=False)
        shutil.copy(modality.key, base / "m.key")
        shutil.copy(modality.cert, base / "m.crt")
        shutil.copy(ca.cert, base / "ca.crt")
        (base / "db").mkdir()
        shutil.chown(base / "db", "orthanc", "orthanc")
        (base / "orthanc.json").write_text(json.dumps(_plain_config(base, "plain_tls", "", server, str(ca.cert))))
        write_series(base / "ct", 3)
        res = subprocess.run(["unshare", "-n", "bash", "-c", SCRIPT, "probe", str(base), str(PORTS["plain_tls"][0])],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        outcomes = res.stdout.split()
        assert outcomes == ["stored", "refused", "refused"], (res.stdout, (base / "orthanc.out").read_text()[-800:])
    finally:
        shutil.rmtree(base, ignore_errors=True)
