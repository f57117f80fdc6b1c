"""C-STORE ingest: the hardened local stack vs plain Orthanc, with DCMTK storescp over TLS as the wire's ceiling.

    sudo .venv/bin/python -m benchmarks.ingest [--instances 60] [--rounds 3]

Same machine, same instances, interleaved round by round (the order rotates each round) so drift in the
machine hits every target alike. Plain Orthanc (no TLS, SQLite, no plugin) and storescp run in a namespace of
their own: Orthanc cannot bind to one address, so it is never started in the machine's own namespace.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from benchmarks.instances import batch, size_mb
from orthanc_config import netns, pki
from orthanc_config.local_stack import LocalOptions, down, up

RESULTS = Path(__file__).resolve().parent / "results"
PLAIN = netns.Link.for_name("pgplain", "198.18.13.0")


def _plain_config(state: Path) -> dict[str, Any]:
    return {
        "Name": "plain",
        "StorageDirectory": str(state / "db"),
        "IndexDirectory": str(state / "db"),
        "DicomAet": "PLAIN",
        "DicomPort": 4242,
        "HttpPort": 8042,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowEcho": True,
        "AuthenticationEnabled": False,
        "RemoteAccessAllowed": True,
        "Plugins": [],
        "StorageCompression": False,
    }


def _wait(host: str, port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{host}:{port} did not open")


def send(targets: dict, name: str, instances: list) -> float:
    t = targets[name]
    ae = AE(ae_title=t["aet"])
    ae.add_requested_context(CTImageStorage)
    ae.maximum_pdu_size = 0
    kwargs = {"ae_title": t["called"]}
    if t.get("tls"):
        kwargs["tls_args"] = (t["tls"], t["host"])
    start = time.perf_counter()
    assoc = ae.associate(t["host"], t["port"], **kwargs)
    assert assoc.is_established, f"{name}: association refused"
    for ds in instances:
        status = assoc.send_c_store(ds)
        assert status and status.Status == 0, f"{name}: C-STORE failed ({status})"
    assoc.release()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pacsguard-bench-", dir="/var/tmp"))
    base.chmod(0o755)
    hardened = LocalOptions(name="pgbench", state_dir=base / "hardened", subnet="198.18.12.0", install_packages=False)
    procs: list[subprocess.Popen] = []
    try:
        doc = up(hardened, say=lambda m: print(f"hardened: {m}", flush=True))
        netns.create(PLAIN)
        plain_state = base / "plain"
        (plain_state / "db").mkdir(parents=True)
        shutil.chown(plain_state / "db", "orthanc", "orthanc")
        (plain_state / "orthanc.json").write_text(json.dumps(_plain_config(plain_state)))
        prefix = netns.exec_prefix(PLAIN.name)
        procs.append(
            subprocess.Popen(
                [
                    *prefix,
                    "setpriv",
                    "--reuid=orthanc",
                    "--regid=orthanc",
                    "--init-groups",
                    "/usr/sbin/Orthanc",
                    str(plain_state / "orthanc.json"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        # The wire's ceiling: DCMTK receiving over the same mutual TLS, writing files, nothing else.
        ca = pki.Issued(Path(doc["ca_cert"]), Path(doc["ca_key"]))
        srv = pki.issue(ca, base / "scp", "scp", "scp", days=1, server=True, addresses=(PLAIN.ns_address,))
        (base / "scp" / "out").mkdir()
        procs.append(
            subprocess.Popen(
                [
                    *prefix,
                    "storescp",
                    "-aet",
                    "CEILING",
                    "+tls",
                    str(srv.key),
                    str(srv.cert),
                    "+cf",
                    doc["ca_cert"],
                    "-od",
                    str(base / "scp" / "out"),
                    "11113",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait(PLAIN.ns_address, 4242)
        _wait(PLAIN.ns_address, 11113)
        import ssl

        m = doc["modalities"][0]
        hardened_ctx = ssl.create_default_context(cafile=doc["ca_cert"])
        hardened_ctx.load_cert_chain(m["cert"], m["key"])
        targets = {
            "plain": {"host": PLAIN.ns_address, "port": 4242, "aet": "BENCH", "called": "PLAIN"},
            "hardened": {
                "host": doc["dicom"]["host"],
                "port": doc["dicom"]["port"],
                "aet": m["aet"],
                "called": doc["dicom"]["called_aet"],
                "tls": hardened_ctx,
            },
            "storescp_tls": {
                "host": PLAIN.ns_address,
                "port": 11113,
                "aet": m["aet"],
                "called": "CEILING",
                "tls": hardened_ctx,
            },
        }
        order = list(targets)
        seconds: dict[str, list[float]] = {k: [] for k in order}
        sizes: dict[str, float] = {k: 0.0 for k in order}
        counts: dict[str, int] = {k: 0 for k in order}
        for r in range(args.rounds):
            rotated = order[r % len(order) :] + order[: r % len(order)]
            for name in rotated:
                instances = batch(args.instances)  # fresh UIDs: every store is a new instance
                seconds[name].append(send(targets, name, instances))
                sizes[name] += sum(size_mb(ds) for ds in instances)
                counts[name] += len(instances)
                print(f"round {r + 1}: {name:13} {len(instances)} instances in {seconds[name][-1]:.2f}s", flush=True)
        result: dict[str, Any] = {"instances_per_round": args.instances, "rounds": args.rounds, "targets": {}}
        for name in order:
            total = sum(seconds[name])
            result["targets"][name] = {
                "instances_per_s": counts[name] / total,
                "mb_per_s": sizes[name] / total,
                "round_seconds": seconds[name],
                "median_round_s": statistics.median(seconds[name]),
            }
        t = result["targets"]
        result["ratio_hardened_to_plain"] = t["hardened"]["instances_per_s"] / t["plain"]["instances_per_s"]
        result["ratio_hardened_to_ceiling"] = t["hardened"]["instances_per_s"] / t["storescp_tls"]["instances_per_s"]
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
        for name in order:
            print(f"{name:13} {t[name]['instances_per_s']:7.1f} inst/s {t[name]['mb_per_s']:7.1f} MB/s")
        print(
            f"hardened/plain = {result['ratio_hardened_to_plain']:.2f} (goal >= 0.8); "
            f"hardened/ceiling = {result['ratio_hardened_to_ceiling']:.2f}"
        )
    finally:
        for p in procs:
            p.terminate()
        netns.delete(PLAIN)
        down(hardened, purge=True, say=lambda _m: None)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
