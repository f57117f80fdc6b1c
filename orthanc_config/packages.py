"""The Debian packages a PACS host needs, installed once, with the distribution's services left off.

Debian starts orthanc (WebDAV on, DICOM store open to anyone) and nginx (default site on :80) on install,
on every interface. PACSGuard runs its own instances with its own configuration, so those are stopped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

PACKAGES = (
    "orthanc",
    "orthanc-python",
    "orthanc-postgresql",
    "orthanc-dicomweb",
    "orthanc-gdcm",
    "nginx-light",
    "libnginx-mod-stream",  # the DICOM TLS edge (nginx-light lacks the stream module)
    "nftables",
    "dcmtk",
    "iproute2",
    "openssl",
    "procps",
    "python3-cryptography",
    "python3-jwt",
    "postgresql-15",
    "postgresql-client-15",
)
# Not for PACS hosts: what `make test` needs beyond them (the browser test drives Debian's Chromium).
TEST_PACKAGES = (
    "chromium",
    "chromium-driver",
    "systemd",  # systemd-analyze checks the rendered units
    "rsyslog",  # a real RFC 5425 audit repository for the forwarding tests (run by the tests, on loopback)
    "rsyslog-gnutls",
)
DISTRO_SERVICES = ("orthanc", "nginx")
# Started by Debian on install; the tests run their own. Stopped only when this install brought it: a machine whose
# own system log is rsyslog keeps it.
TEST_SERVICES = ("rsyslog",)


def missing(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    out = []
    for pkg in packages:
        res = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True, check=False)
        if "install ok installed" not in res.stdout:
            out.append(pkg)
    return out


def install(packages: tuple[str, ...] = PACKAGES, stop_if_new: tuple[str, ...] = ()) -> None:
    todo = missing(packages)
    if not todo:
        print("system packages: all present")
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print(f"system packages: installing {' '.join(todo)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *todo], check=True, env=env)
    disable_distro_services(sudo, DISTRO_SERVICES + tuple(svc for svc in stop_if_new if svc in todo))


def disable_distro_services(sudo: list[str], services: tuple[str, ...] = DISTRO_SERVICES) -> None:
    if shutil.which("systemctl") and os.path.isdir("/run/systemd/system"):
        for svc in services:
            subprocess.run([*sudo, "systemctl", "disable", "--now", svc], check=False, capture_output=True)
    else:
        for svc in services:
            subprocess.run([*sudo, "service", svc, "stop"], check=False, capture_output=True)


def main(argv: list[str]) -> int:
    if argv[1:] == ["install"]:
        install()
        return 0
    if argv[1:] == ["install-test"]:
        install(TEST_PACKAGES, stop_if_new=TEST_SERVICES)
        return 0
    if argv[1:] == ["missing"]:
        print(" ".join(missing()))
        return 0
    print("usage: python3 -m orthanc_config.packages install|install-test|missing", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
