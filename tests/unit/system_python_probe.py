"""Run by Debian's /usr/bin/python3 with host-bundle.zip first on sys.path: the host code paths that broke there.

Prints one JSON object: check name -> "ok" or the error. Standard library and Debian python3-* only.
"""

import io
import json
import os
import sys
import tarfile
import tempfile
import traceback
from pathlib import Path

results = {}


def check(name):
    def wrap(fn):
        try:
            fn()
            results[name] = "ok"
        except BaseException:
            results[name] = traceback.format_exc(limit=3)
        return fn

    return wrap


work = Path(tempfile.mkdtemp(prefix="pacsguard-syspy-"))


@check("pki_renewal_check")
def _pki():
    from orthanc_config import pki

    ca = pki.create_ca(work / "pki", "CA", 10)
    leaf = pki.issue(ca, work / "pki", "server", "h", days=5, server=True)
    assert pki.expires_within(leaf.cert, 30) and not pki.expires_within(ca.cert, 1)


@check("backup_extract")
def _extract():
    from orthanc_config.local_backup import extract_data

    def tar_of(name):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"ok"))
        buf.seek(0)
        return buf

    dest = work / "x"
    dest.mkdir()
    with tarfile.open(fileobj=tar_of("storage/a"), mode="r|") as tar:
        extract_data(tar, dest)
    assert (dest / "storage" / "a").read_bytes() == b"ok"
    try:
        with tarfile.open(fileobj=tar_of("../escape"), mode="r|") as tar:
            extract_data(tar, dest)
    except tarfile.TarError:
        pass
    else:
        raise AssertionError("a member outside the folder was extracted")
    assert not (work / "escape").exists()


@check("install_plugin_from_zip")
def _plugin():
    if os.geteuid() != 0:
        raise RuntimeError("skipped: needs root to chown the plugin to root")
    from orthanc_config import bootstrap
    from orthanc_config.layout import HostLayout
    from orthanc_config.profile import HostProfile

    layout = HostLayout(HostProfile(name="t", mode="aws", state_dir=str(work / "state")))
    bootstrap.install_plugin(layout)
    assert sorted(p.name for p in layout.plugin_dir.iterdir()) == sorted(bootstrap.PLUGIN_FILES)


@check("identity_keys_service")
def _identity_keys():
    import socket
    import threading

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from orthanc_config import identity_keys as keys

    def pem(key):
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    good = pem(ec.generate_private_key(ec.SECP256R1()))
    bodies = {"https://k/good-kid": good, "https://k/rsa-kid": pem(rsa.generate_private_key(65537, 2048))}
    service = keys.KeyService("https://k/{kid}", "", work / "keys", lambda url: bodies[url])
    server = keys.KeyServer(work / "keys.sock", service)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def ask(line):
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(work / "keys.sock"))
            conn.sendall(line)
            return conn.makefile("rb").read()

    try:
        assert ask(b"alb good-kid\n") == b"ok\n" + good
        assert ask(b"alb rsa-kid\n").startswith(b"error the load balancer key endpoint returned a key that is not")
    finally:
        server.shutdown()
        server.server_close()


results["python"] = sys.version.split()[0]
print(json.dumps(results))
