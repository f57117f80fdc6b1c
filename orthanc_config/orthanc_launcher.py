"""Start Orthanc as the orthanc user with its stdout and stderr connected to the audit sink.

The launcher runs as root: it connects to the sink's root-only stream socket, makes that connection
Orthanc's stdout and stderr, then drops to the orthanc user and becomes Orthanc. So the sink reads exactly
what the Orthanc process writes, and no other process (the orthanc user included) can add a line to it.
Standard library only (EC2 runs it from the host bundle under Debian's Python).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from pathlib import Path

from orthanc_config import http_stack

ORTHANC_BIN = "/usr/sbin/Orthanc"
SINK_WAIT_S = 15.0


def orthanc_command(config_dir: str) -> list[str]:
    # --verbose-dicom: every association and C-FIND/C-GET/C-MOVE reaches the sink's log (values masked by
    # DeidentifyLogs), which is how they become audit records; Orthanc 1.10 has no plugin hook for them.
    return ["setpriv", "--reuid=orthanc", "--regid=orthanc", "--init-groups", "--inh-caps=-all", "--bounding-set=-all",
            "--no-new-privs", ORTHANC_BIN, "--verbose-dicom", config_dir]  # fmt: skip


# DCMTK (inside Orthanc) leaves Nagle's algorithm on unless this is set: each C-STORE response then waits for the
# peer's delayed ACK (~40 ms), which caps one association near 20 instances/s however fast the rest is.
DICOM_SOCKET_ENV = {"TCP_NODELAY": "1"}


def orthanc_environment(base: dict[str, str], library_dir: str | None) -> dict[str, str]:
    """Orthanc's environment: `base` and no Nagle delay on DICOM sockets, plus the deeper-stack civetweb GDCM
    needs when the bootstrap made it."""
    env = {**base, **DICOM_SOCKET_ENV}
    if library_dir and http_stack.is_prepared(Path(library_dir)):
        env["LD_LIBRARY_PATH"] = library_dir
    return env


def connect_output(output_socket: str, wait_s: float = SINK_WAIT_S) -> socket.socket:
    """Connect to the sink, waiting a little for it (systemd starts the two units together)."""
    deadline = time.monotonic() + wait_s
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(output_socket)
        except OSError as exc:
            sock.close()
            if time.monotonic() >= deadline:
                raise OSError(
                    f"the audit sink is not listening on {output_socket} ({exc.strerror}): start it first"
                ) from None
            time.sleep(0.1)
            continue
        sock.shutdown(socket.SHUT_RD)
        return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pacsguard-run-orthanc", description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", required=True)
    parser.add_argument("--output-socket", required=True)
    parser.add_argument("--library-dir", help="where http_stack.py put the deeper-stack civetweb")
    args = parser.parse_args(argv)
    try:
        sock = connect_output(args.output_socket)
    except OSError as exc:
        print(f"pacsguard-run-orthanc: error: {exc}", file=sys.stderr)
        return 2
    # Should the sink ever close its end, Orthanc gets EPIPE on a log write instead of dying of SIGPIPE.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    os.dup2(sock.fileno(), 1)
    os.dup2(sock.fileno(), 2)
    sock.close()
    command = orthanc_command(args.config_dir)
    # The launcher's own module path (a local stack runs it from the checkout) is nothing Orthanc's plugin needs.
    env = orthanc_environment({k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, args.library_dir)
    os.execvpe(command[0], command, env)  # noqa: S606 (a fixed argument list, no shell)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
