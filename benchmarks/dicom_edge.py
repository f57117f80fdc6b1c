"""The DICOM edge's cost: C-STORE ingest and C-ECHO latency through nginx's stream TLS vs Orthanc's own TLS.

    sudo .venv/bin/python -m benchmarks.dicom_edge [--files 120] [--parallel 4] [--rounds 7] [--echoes 40]

Two Orthancs with the same configuration (SQLite, no plugin, the same AE allow-list and certificates) run side by
side in a namespace of their own: "direct" terminates DICOM TLS itself (the old set-up), "edge" listens in clear on
loopback behind nginx rendered by `render_dicom_stream` (the product's edge, unchanged). The sender is DCMTK
(storescu, several parallel associations; echoscu), a C client, so the client does not bound the figures. Rounds
interleave and alternate their order; every round sends new instances; the ingest ratio is the median of the
rounds' edge/direct ratios. Goals (issue 13): ingest through the edge
>= 0.9 of direct, C-ECHO p50 overhead <= 5 ms. Writes benchmarks/results/dicom_edge.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.instances import write_series
from benchmarks.slot import slot_name, slot_subnet
from benchmarks.targets import wait_port
from orthanc_config import netns, pki
from orthanc_config.profile import HostProfile, Modality
from orthanc_config.render_dicom_edge import NGINX_STREAM_MODULE, DicomEdgePaths, EdgeCertificate, render_dicom_stream

RESULTS = Path(__file__).resolve().parent / "results"
LINK = netns.Link.for_name(slot_name("pgedge"), slot_subnet(23))
AET, CALLED = "BENCH", "PACSGUARD"
DIRECT_PORT, EDGE_PORT, BACKEND_PORT = 2763, 2762, 4242


def _orthanc_config(root: Path, *, tls: dict | None, port: int, http_port: int, host: str) -> dict:
    cfg = {
        "Name": root.name,
        "StorageDirectory": str(root / "db"),
        "IndexDirectory": str(root / "db"),
        "StorageCompression": False,
        "Plugins": [],
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {"bench": "bench-only-unused"},
        "DicomAet": CALLED,
        "DicomPort": port,
        "DicomCheckCalledAet": True,
        "DicomCheckModalityHost": True,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomModalities": {AET: {"AET": AET, "Host": host, "Port": 11112, "AllowEcho": True, "AllowStore": True}},
        "DicomTlsEnabled": bool(tls),
    }
    if tls:
        cfg.update(
            DicomTlsCertificate=tls["cert"],
            DicomTlsPrivateKey=tls["key"],
            DicomTlsTrustedCertificates=tls["ca"],
            DicomTlsRemoteCertificateRequired=True,
        )
    return cfg


@contextmanager
def targets(base: Path, log=print) -> Iterator[dict[str, Any]]:
    """The direct and edge Orthancs and nginx, up in their own namespace for the length of the block."""
    procs: list[subprocess.Popen] = []
    prefix = netns.exec_prefix(LINK.name)
    netns.create(LINK)
    try:
        pki_dir = base / "pki"
        ca = pki.create_ca(pki_dir, "Bench CA", 10)
        server = pki.issue(ca, pki_dir, "server", "bench", days=5, server=True, addresses=(LINK.ns_address,))
        rsa = pki.issue(ca, pki_dir, "server-rsa", "bench", days=5, server=True, key_type="rsa")
        client = pki.issue(ca, pki_dir, "client", AET, days=5, server=False)
        relay = pki.issue(ca, pki_dir, "pacs-client", CALLED, days=5, server=False)
        pki.write_crl(ca, pki_dir / "crl.pem", {})
        for path in pki_dir.iterdir():
            if path == ca.key:
                continue
            shutil.chown(path, "root", "orthanc")
            path.chmod(0o640 if path.suffix == ".key" else 0o644)
        profile = HostProfile(
            name="bench",
            mode="local",
            dicom_port=EDGE_PORT,
            orthanc_dicom_port=BACKEND_PORT,
            modalities=(Modality(AET, LINK.host_addresses[0], 11112, ("echo", "store")),),
            modality_cidrs=(f"{LINK.host_addresses[0]}/32",),
            dicom_connections_per_source=64,
        )
        stream = render_dicom_stream(
            profile,
            DicomEdgePaths(
                str(server.cert),
                str(server.key),
                str(rsa.cert),
                str(rsa.key),
                str(ca.cert),
                str(pki_dir / "crl.pem"),
                str(relay.cert),
                str(relay.key),
                str(base),
            ),
            (EdgeCertificate(AET, pki.fingerprint(pki.load_cert(client.cert))),),
            (LINK.ns_address,),
        )
        nginx_conf = base / "nginx.conf"
        nginx_conf.write_text(
            f"load_module {NGINX_STREAM_MODULE};\nuser www-data;\nworker_processes auto;\npid {base}/nginx.pid;\n"
            f"error_log {base}/nginx-error.log warn;\nevents {{ worker_connections 1024; }}\n{stream}"
        )
        tls = {"cert": str(server.cert), "key": str(server.key), "ca": str(ca.cert)}
        configs = {
            "direct": _orthanc_config(
                base / "direct", tls=tls, port=DIRECT_PORT, http_port=8043, host=LINK.host_addresses[0]
            ),
            "edge": _orthanc_config(
                base / "edge", tls=None, port=BACKEND_PORT, http_port=8044, host=profile.edge_address(AET)
            ),
        }
        for name, cfg in configs.items():
            (base / name / "db").mkdir(parents=True)
            shutil.chown(base / name / "db", "orthanc", "orthanc")
            (base / name / "orthanc.json").write_text(json.dumps(cfg))
            output = open(base / f"{name}.log", "wb")  # noqa: SIM115 (handed to the process)
            procs.append(
                subprocess.Popen(
                    [
                        *prefix,
                        "setpriv",
                        "--reuid=orthanc",
                        "--regid=orthanc",
                        "--init-groups",
                        "/usr/sbin/Orthanc",
                        str(base / name / "orthanc.json"),
                    ],
                    stdout=output,
                    stderr=output,
                )
            )
        res = subprocess.run([*prefix, "nginx", "-c", str(nginx_conf)], capture_output=True, text=True)
        if res.returncode:
            raise RuntimeError(f"nginx: {res.stderr}")
        wait_port(LINK.ns_address, DIRECT_PORT)
        wait_port(LINK.ns_address, EDGE_PORT)
        log(f"direct Orthanc TLS on {LINK.ns_address}:{DIRECT_PORT}, nginx edge on {LINK.ns_address}:{EDGE_PORT}")
        client_args = ["+tls", str(client.key), str(client.cert), "+cf", str(ca.cert), "-aet", AET, "-aec", CALLED]
        yield {
            "direct": {"port": DIRECT_PORT, "args": client_args, "storage": base / "direct" / "db"},
            "edge": {"port": EDGE_PORT, "args": client_args, "storage": base / "edge" / "db"},
        }
    finally:
        subprocess.run([*prefix, "nginx", "-c", str(base / "nginx.conf"), "-s", "quit"], capture_output=True)
        for p in procs:
            p.terminate()
            p.wait(15)
        netns.delete(LINK)


def ingest(target: dict, files: list[Path], parallel: int) -> float:
    """Seconds for `parallel` storescu processes (one association each) to store their share of `files`."""
    shares = [files[i::parallel] for i in range(parallel)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            ["storescu", *target["args"], LINK.ns_address, str(target["port"]), *map(str, share)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for share in shares
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        if p.returncode:
            raise RuntimeError(f"storescu failed: {err.decode()[-400:]}")
    return time.perf_counter() - start


def echo_ms(target: dict) -> float:
    start = time.perf_counter()
    res = subprocess.run(
        ["echoscu", *target["args"], LINK.ns_address, str(target["port"])], capture_output=True, timeout=30
    )
    if res.returncode:
        raise RuntimeError(f"echoscu failed: {res.stderr.decode()[-300:]}")
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--echoes", type=int, default=40)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    base = Path(tempfile.mkdtemp(prefix="pacsguard-edge-bench-", dir="/var/tmp"))
    base.chmod(0o755)
    try:
        with targets(base) as t:
            order = ["direct", "edge"]
            seconds: dict[str, list[float]] = {k: [] for k in order}
            megabytes: dict[str, list[float]] = {k: [] for k in order}
            for r in range(args.rounds):
                for name in order if r % 2 == 0 else order[::-1]:
                    folder = base / "files" / f"{name}-{r}"
                    mb = write_series(folder, args.files)
                    seconds[name].append(ingest(t[name], sorted(folder.iterdir()), args.parallel))
                    megabytes[name].append(mb)
                    shutil.rmtree(folder)
                    print(f"round {r + 1}: {name:6} {args.files} files ({mb:.0f} MB) in {seconds[name][-1]:.2f}s")
            echoes: dict[str, list[float]] = {k: [] for k in order}
            for i in range(args.echoes):
                for name in order if i % 2 == 0 else order[::-1]:
                    echoes[name].append(echo_ms(t[name]))
            # Every instance landed (storescu can exit 0 after a refused C-STORE): one file each, plus the index.
            stored = {k: sum(1 for f in t[k]["storage"].rglob("*") if f.is_file()) for k in order}
            short = [k for k in order if stored[k] < args.files * args.rounds]
            if short:
                raise RuntimeError(f"instances missing from {short}: {stored}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result: dict[str, Any] = {
        "files_per_round": args.files,
        "parallel_associations": args.parallel,
        "rounds": args.rounds,
        "echoes": args.echoes,
        "sender": "DCMTK storescu/echoscu 3.6.7",
        "load_average_1min": [load_before, os.getloadavg()[0]],  # other work on the machine during the run
        "targets": {
            k: {
                "mb_per_s": sum(megabytes[k]) / sum(seconds[k]),
                "instances_per_s": args.files * args.rounds / sum(seconds[k]),
                "round_seconds": seconds[k],
                "echo_p50_ms": statistics.median(echoes[k]),
                "echo_p95_ms": statistics.quantiles(echoes[k], n=20)[-1],
            }
            for k in order
        },
    }
    d, e = result["targets"]["direct"], result["targets"]["edge"]
    # Each round sends to both targets back to back: the median of the per-round ratios shrugs off load
    # that other work on the machine puts on a few rounds.
    rates = {k: [mb / sec for mb, sec in zip(megabytes[k], seconds[k], strict=True)] for k in order}
    result["ingest_round_ratios"] = [e_ / d_ for e_, d_ in zip(rates["edge"], rates["direct"], strict=True)]
    result["ingest_ratio_edge_to_direct"] = statistics.median(result["ingest_round_ratios"])
    result["echo_p50_overhead_ms"] = e["echo_p50_ms"] - d["echo_p50_ms"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dicom_edge.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"ingest edge/direct = {result['ingest_ratio_edge_to_direct']:.2f} (goal >= 0.9); "
        f"C-ECHO p50 overhead = {result['echo_p50_overhead_ms']:.1f} ms (goal <= 5)"
    )


if __name__ == "__main__":
    main()
