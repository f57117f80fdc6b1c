"""RFC 5425 forwarding as a setting of a real local stack: `local up --audit-forward HOST:PORT --audit-forward-ca`
sends every record of the trail to an audit repository (rsyslog, mutual TLS) on the machine's side of the stack's
link. The repository starts after the stack: what was recorded meanwhile waits, and arrives in order."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from orthanc_config import pki
from orthanc_config.local_stack import LocalOptions, down, up
from pacsguard.posture.clients import https
from tests.host.conftest import host_prerequisites, service_reachable_dir, slot_name, slot_subnet
from tests.unit.test_audit_forward_rsyslog import GTLS, RSYSLOGD, Repository, sd, wait_for

pytestmark = pytest.mark.host
PORT = 6514  # RFC 5425's port, on the stack's own link address


@pytest.fixture(scope="module")
def forwarding_stack() -> Iterator[tuple[dict, Repository]]:
    reason = host_prerequisites()
    if reason:
        pytest.skip(reason)
    if not Path(RSYSLOGD).exists() or not GTLS.exists():
        pytest.skip("needs rsyslogd and its GnuTLS driver (make setup installs rsyslog and rsyslog-gnutls)")
    work = service_reachable_dir()
    opts = LocalOptions(name=slot_name("pgfwd"), state_dir=work / "state", subnet=slot_subnet(11),
                        install_packages=False)  # fmt: skip
    address = opts.link.host_addresses[0]
    ca = pki.create_ca(work / "repo-ca", "Audit Repository CA", 2)
    server = pki.issue(ca, work / "repo-ca", "repo", address, days=1, server=True, addresses=(address,))
    client = pki.issue(ca, work / "repo-ca", "client", "pacs-host.example", days=1, server=False, client=True,
                       dns_names=("pacs-host.example",))  # fmt: skip
    forward = {"host": address, "port": str(PORT), "ca": str(ca.cert), "cert": str(client.cert),
               "key": str(client.key)}  # fmt: skip
    opts = dataclasses.replace(opts, audit_forward=tuple(forward.items()))
    repo = None
    try:
        doc = up(opts, say=lambda _m: None)
        doc["_users"] = json.loads(Path(doc["credentials_file"]).read_text())["users"]
        repo = Repository(work, PORT, ca, server, address=address)  # after the stack: records wait for it
        yield doc, repo
    finally:
        if repo is not None:
            repo.stop()
        down(opts, purge=True, say=lambda _m: None)
        shutil.rmtree(work, ignore_errors=True)


def test_every_record_reaches_the_repository_in_order(forwarding_stack: tuple[dict, Repository]) -> None:
    stack, repo = forwarding_stack
    admin = next(name for name, u in stack["_users"].items() if u["role"] == "admin")
    assert https(stack, "GET", "/system", admin)[0] == 200
    trail = Path(stack["audit_log"])

    def plugin_recorded_it(r: dict) -> bool:
        fields = sd(r)
        return fields.get("path") == "/system" and fields.get("layer") == "orthanc-http" and fields.get("user") == admin

    wait_for(lambda: any(plugin_recorded_it(r) for r in repo.records()), "the plugin's record of GET /system", 30)
    received = [sd(r) for r in repo.records()]
    stored = [json.loads(line) for line in trail.read_text().splitlines() if line.strip()]
    # From the first record on, with those written before the repository started: none lost, none reordered.
    assert [int(f["seq"]) for f in received] == list(range(1, len(received) + 1))
    assert [f["hash"] for f in received] == [s["hash"] for s in stored[: len(received)]]
    assert {"orthanc", "nginx"} <= {f.get("sender") for f in received}
