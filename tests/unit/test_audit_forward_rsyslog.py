"""RFC 5425 forwarding received by a real audit repository: rsyslog (imtcp over GnuTLS, mutual TLS) parses each
octet-counted frame as RFC 5424 and its structured data with mmpstrucdata, so the record is read back by a parser
that is not ours. A repository whose certificate the sink cannot verify gets nothing; the records wait and reach
the right repository in order once it answers, also across a restart of the repository.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orthanc_config import pki
from orthanc_config.audit_sink import Sink, SinkConfig, _uid
from orthanc_config.plugin import pacsguard_syslog as rfc5424

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
GTLS = next(Path("/usr/lib").glob("*/rsyslog/lmnsd_gtls.so"), Path("/usr/lib/rsyslog/lmnsd_gtls.so"))
ORTHANC = _uid("orthanc")
pytestmark = [
    pytest.mark.skipif(not Path(RSYSLOGD).exists(), reason="needs rsyslogd (make setup installs rsyslog)"),
    pytest.mark.skipif(not GTLS.exists(), reason="needs rsyslog's GnuTLS driver (make setup installs rsyslog-gnutls)"),
    pytest.mark.skipif(ORTHANC < 0, reason="needs the orthanc user (make setup installs orthanc)"),
]

CONFIG = """
global(workDirectory="{work}" defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{cert}" defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/name"
       permittedPeer=["pacs-host.example"])
module(load="mmpstrucdata")
template(name="record" type="list") {{
  constant(value="{{\\"pri\\":\\"") property(name="pri")
  constant(value="\\",\\"app\\":\\"") property(name="app-name" format="json")
  constant(value="\\",\\"msgid\\":\\"") property(name="msgid" format="json")
  constant(value="\\",\\"peer\\":\\"") property(name="fromhost-ip")
  constant(value="\\",\\"sd\\":") property(name="$!rfc5424-sd")
  constant(value="}}\\n")
}}
ruleset(name="repository") {{
  action(type="mmpstrucdata")
  action(type="omfile" file="{out}" template="record" flushOnTXEnd="on" asyncWriting="off")
}}
input(type="imtcp" address="{address}" port="{port}" ruleset="repository")
"""


@dataclass
class Pki:
    ca: pki.Issued
    repository: pki.Issued  # the repository's server certificate, named localhost
    client: pki.Issued  # this host's client certificate
    stranger: pki.Issued  # a server certificate for localhost from another CA


@pytest.fixture
def certs(tmp_path: Path) -> Pki:
    ca = pki.create_ca(tmp_path / "ca", "Audit Repository CA", 2)
    other = pki.create_ca(tmp_path / "other", "Someone Else's CA", 2)
    names = {"dns_names": ("localhost",), "addresses": ("127.0.0.1",)}
    client = pki.issue(
        ca, tmp_path / "ca", "client", "pacs-host.example", days=1, server=False, client=True,
        dns_names=("pacs-host.example",),
    )  # fmt: skip
    return Pki(
        ca,
        pki.issue(ca, tmp_path / "ca", "repo", "localhost", days=1, server=True, **names),  # type: ignore[arg-type]
        client,
        pki.issue(other, tmp_path / "other", "repo", "localhost", days=1, server=True, **names),  # type: ignore[arg-type]
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Repository:
    """One rsyslogd in the foreground, on loopback, writing each record it parsed as a JSON line."""

    def __init__(self, tmp: Path, port: int, ca: pki.Issued, server: pki.Issued, address: str = "127.0.0.1") -> None:
        self.dir = tmp / f"rsyslog-{time.monotonic_ns()}"
        self.dir.mkdir()
        self.out = tmp / "received.jsonl"
        conf = self.dir / "rsyslog.conf"
        conf.write_text(CONFIG.format(work=self.dir, ca=ca.cert, cert=server.cert, key=server.key, out=self.out,
                                      port=port, address=address))  # fmt: skip
        check = subprocess.run([RSYSLOGD, "-N1", "-f", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(conf), "-i", str(self.dir / "pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_for(lambda: _listening(address, port) or self.proc.poll() is not None, "rsyslogd to listen")
        assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else "rsyslogd exited"

    def records(self) -> list[dict]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _listening(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def wait_for(done: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not done():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def repositories(tmp_path: Path) -> Iterator[list[Repository]]:
    started: list[Repository] = []
    yield started
    for repo in started:
        repo.stop()


@pytest.fixture
def sinks() -> Iterator[list[Sink]]:
    made: list[Sink] = []
    yield made
    for sink in made:
        if sink.forwarder:
            sink.forwarder.stop()


def sink_for(tmp_path: Path, port: int, certs: Pki, sinks: list[Sink]) -> Sink:
    forward = {"host": "127.0.0.1", "port": port, "ca": str(certs.ca.cert), "server_name": "localhost",
               "cert": str(certs.client.cert), "key": str(certs.client.key)}  # fmt: skip
    config = SinkConfig(
        trail=str(tmp_path / "audit.jsonl"), audit_socket="", orthanc_socket="",
        orthanc_log=str(tmp_path / "orthanc.log"), reader_group="root", forward=forward,
    )  # fmt: skip
    sink = Sink(config)
    sink.orthanc_pids.add(4242)  # plugin_record's messages come from "the Orthanc server", pid 4242
    sinks.append(sink)
    return sink


def plugin_record(sink: Sink, user: str) -> None:
    record = {"event_id": "110106", "event": "Export", "action": "R", "outcome": "0", "user": user,
              "layer": "orthanc-http", "path": "/studies/s1/archive", "study_uids": ["1.2.3", "1.2.4"],
              "reason": 'quotes " and ] and \\ survive'}  # fmt: skip
    sink.datagram(rfc5424.format_record(record, hostname="pacs"), ORTHANC, 4242)


def sd(received: dict) -> dict:
    return received["sd"]["atna@32473"]


def start(tmp_path: Path, certs: Pki, repositories: list[Repository], sinks: list[Sink],
          server: pki.Issued | None = None) -> tuple[int, Repository, Sink]:  # fmt: skip
    """A repository (with the right certificate unless told) and a sink forwarding to it."""
    port = free_port()
    repositories.append(repo := Repository(tmp_path, port, certs.ca, server or certs.repository))
    return port, repo, sink_for(tmp_path, port, certs, sinks)


def test_rsyslog_receives_every_record_as_rfc5424_with_its_atna_structured_data(
    tmp_path: Path, certs: Pki, repositories: list[Repository], sinks: list[Sink]
) -> None:
    _port, repo, sink = start(tmp_path, certs, repositories, sinks)
    for user in ("radiologist1", "radiologist2"):
        plugin_record(sink, user)
    wait_for(lambda: len(repo.records()) == 2, "rsyslog to store two records")
    first, second = repo.records()
    # PRI 109: facility log audit (13) * 8 + severity notice (5)
    assert (first["app"], first["msgid"], first["pri"]) == ("pacsguard", "110106", "109")
    fields = sd(first)
    assert (fields["user"], fields["sender"], fields["seq"], fields["layer"]) == ("radiologist1", "orthanc", "1",
                                                                                  "orthanc-http")  # fmt: skip
    assert fields["reason"] == 'quotes " and ] and \\ survive'
    assert fields["hash"] == json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[0])["hash"]
    assert (sd(second)["user"], sd(second)["seq"]) == ("radiologist2", "2")


def test_a_repository_with_a_certificate_it_cannot_verify_gets_nothing_and_the_records_wait(
    tmp_path: Path, certs: Pki, repositories: list[Repository], sinks: list[Sink]
) -> None:
    port, impostor, sink = start(tmp_path, certs, repositories, sinks, server=certs.stranger)
    forwarder = sink.forwarder
    assert forwarder is not None
    for user in ("a", "b", "c"):
        plugin_record(sink, user)
    wait_for(lambda: forwarder.failures >= 2, "the sink to try the impostor twice")
    assert "certificate verify failed" in forwarder.last_error
    assert forwarder.sent == 0 and impostor.records() == []
    impostor.stop()
    repositories.append(repo := Repository(tmp_path, port, certs.ca, certs.repository))
    wait_for(lambda: len(repo.records()) == 3, "the held records to reach the real repository", limit=30)
    assert [sd(r)["user"] for r in repo.records()] == ["a", "b", "c"]


def test_records_sent_while_the_repository_restarts_are_not_lost(
    tmp_path: Path, certs: Pki, repositories: list[Repository], sinks: list[Sink]
) -> None:
    port, repo, sink = start(tmp_path, certs, repositories, sinks)
    plugin_record(sink, "before")
    wait_for(lambda: len(repo.records()) == 1, "the first record")
    repo.stop()
    for user in ("during-1", "during-2"):
        plugin_record(sink, user)
    repositories.append(again := Repository(tmp_path, port, certs.ca, certs.repository))
    plugin_record(sink, "after")
    wait_for(lambda: any(sd(r)["user"] == "after" for r in again.records()), "the record after the restart")
    assert [sd(r)["user"] for r in again.records()] == ["before", "during-1", "during-2", "after"]
