"""RFC 5425: the trail's records to a remote audit repository, as RFC 5424 messages over mutual TLS.

Each message is octet-counted (`MSG-LEN SP SYSLOG-MSG`). The repository's certificate is verified against
the configured CA and its name; a client certificate identifies this host. Records wait in a bounded queue
while the repository is unreachable and are sent in order once it answers; the local trail is written first,
so nothing is lost to an outage. RFC 5425 has no acknowledgement: a connection the repository closed is noticed
before the next record goes out (a repository restart loses nothing); a repository that vanishes without closing
may still miss the record sent into that dead connection (the local trail keeps it). Standard library only.
"""

from __future__ import annotations

import queue
import select
import socket
import ssl
import sys
import threading

from orthanc_config.plugin import pacsguard_syslog as rfc5424

QUEUE_LIMIT = 100_000
RETRY_S = 2.0


def frame(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


class Forwarder:
    def __init__(self, host: str, port: int, ca: str, cert: str = "", key: str = "", server_name: str = "") -> None:
        self.address = (host, int(port))
        self.server_name = server_name or host
        self.context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert:
            self.context.load_cert_chain(cert, key or None)
        self.queue: queue.Queue[bytes] = queue.Queue(QUEUE_LIMIT)
        self.hostname = socket.gethostname()
        self.sent = 0
        self.failures = 0  # connections or sends that failed (a repository down, a certificate refused)
        self.last_error = ""
        self.stopping = threading.Event()
        threading.Thread(target=self._run, name="rfc5425-forwarder", daemon=True).start()

    def stop(self) -> None:
        """Stop trying (the sink is shutting down); what is still queued stays in the local trail."""
        self.stopping.set()
        self.queue.put_nowait(b"")  # wakes a sender waiting for the next record

    def send(self, entry: dict) -> None:
        record = {k: v for k, v in entry.items() if isinstance(v, str | int | list) and not isinstance(v, bool)}
        message = rfc5424.format_record({k: v if isinstance(v, list) else str(v) for k, v in record.items()},
                                        hostname=self.hostname)  # fmt: skip
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            print("pacsguard-audit-sink: forwarding queue full, the repository misses records", file=sys.stderr)

    def _run(self) -> None:
        pending: bytes | None = None
        while not self.stopping.is_set():
            try:
                with (
                    socket.create_connection(self.address, timeout=10) as raw,
                    self.context.wrap_socket(raw, server_hostname=self.server_name) as tls,
                ):
                    while not self.stopping.is_set():
                        pending = pending or self.queue.get()
                        if not pending:
                            continue
                        if _closed_by_peer(tls):
                            # Sending on it would "succeed" into a dead connection and lose the record.
                            raise ConnectionError("the audit repository closed the connection")
                        tls.sendall(frame(pending))
                        pending = None
                        self.sent += 1
            except OSError as exc:
                self.failures += 1
                self.last_error = str(exc)
                print(f"pacsguard-audit-sink: audit repository {self.address}: {exc}", file=sys.stderr, flush=True)
                self.stopping.wait(RETRY_S)


def _closed_by_peer(tls: ssl.SSLSocket) -> bool:
    """A repository never sends application data (RFC 5425): what can be read is its close_notify or FIN, or
    TLS 1.3's post-handshake messages (session tickets), which are no data."""
    if not select.select([tls], [], [], 0)[0]:
        return False
    timeout = tls.gettimeout()
    tls.setblocking(False)
    try:
        return tls.recv(4096) == b""
    except ssl.SSLWantReadError:
        return False  # only handshake messages were waiting
    except OSError:
        return True
    finally:
        tls.settimeout(timeout)
