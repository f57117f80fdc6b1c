"""Where the hardened C-STORE's time goes: the hardened stack with one component switched off at a time, each a
measurement-only variant (never a setting the product has), on one local stack that Orthanc restarts on for each:

- product: what the local stack ships;
- no_store_filter: the plugin without its C-STORE filter (no per-instance callback, no record);
- filter_without_json: the filter writes its record but reads no tags (Orthanc converts no header to JSON);
- filter_without_record: the filter reads the UIDs but writes no record;
- no_verbose_dicom: Orthanc without --verbose-dicom (its DICOM lines never reach the audit sink);
- timed: the product's filter with a stopwatch around its two parts (reading the UIDs, and the record's write and
  acknowledgement), then the read the filter made before (GetInstanceSimplifiedJson, the whole header) for
  comparison: the callback thread's CPU and wall milliseconds per instance for each, logged by Orthanc every 25
  instances and read back from its log.

    sudo .venv/bin/python -m benchmarks.ingest_path [--instances 150] [--rounds 2] [--parallel 1 8]

Per run: instances/s, CPU ms per instance of every program in the stack's namespace (Orthanc with the plugin,
PostgreSQL, the audit sink, nginx) and the Orthanc log lines per instance the sink received and parsed. Plus the
sink's own per-record work, timed in this process on the lines and the record a C-STORE produces. The nginx TLS
edge (benchmarks.dicom_edge) and PostgreSQL's durable commit (benchmarks.stack_profile) are measured there.
Writes benchmarks/results/ingest_path.json; the stack is gone afterwards.
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
from pathlib import Path
from typing import Any

from benchmarks import stack_profile
from benchmarks.index_path import Stack
from benchmarks.ingest import machine, store
from benchmarks.instances import write_series
from benchmarks.populate import SCRATCH
from orthanc_config import local_stack

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("product", "no_store_filter", "filter_without_json", "filter_without_record", "no_verbose_dicom", "timed")
PROGRAMS = ("orthanc (incl. plugin)", "postgresql", "audit sink (python)", "nginx")
# The plugin's lines each variant changes in a measurement copy of the plugin script (the product's file is
# never touched); a line that is no longer in the plugin makes the benchmark fail instead of measuring nothing.
REGISTER = "orthanc.RegisterIncomingCStoreInstanceFilter(cstore_filter)\n"
STORE = "return GUARD.dicom_store(dicom.GetInstanceRemoteAet(), record_uids(dicom))"
PLUGIN_EDITS = {
    "no_store_filter": (REGISTER, ""),
    "filter_without_json": (STORE, "return GUARD.dicom_store(dicom.GetInstanceRemoteAet(), {})"),
    "filter_without_record": (STORE, "return 0 if record_uids(dicom) else pacsguard_guard.STORE_REFUSED"),
}
MEASURE_TAG = "PACSGuard-measure: "
TIMED_EVERY = 25  # the timed filter logs its running totals every this many instances
WARM_UP = TIMED_EVERY  # instances sent after each restart, before the measured runs
# The timed variant's wrapper, put before the filter's registration (so it registers the wrapper): it does what
# the product's filter does, in the same order, with thread_time/perf_counter readings between the parts.
TIMED_FILTER = (
    "import time as _time\n"
    "_spent = {'n': 0, 'uids_cpu': 0.0, 'uids_wall': 0.0, 'record_cpu': 0.0, 'record_wall': 0.0,\n"
    "          'simplified_json_cpu': 0.0, 'simplified_json_wall': 0.0}\n"
    "def cstore_filter(dicom):\n"
    "    c0, w0 = _time.thread_time(), _time.perf_counter()\n"
    "    try:\n"
    "        uids = record_uids(dicom)\n"
    "        c1, w1 = _time.thread_time(), _time.perf_counter()\n"
    "        status = GUARD.dicom_store(dicom.GetInstanceRemoteAet(), uids)\n"
    "        c2, w2 = _time.thread_time(), _time.perf_counter()\n"
    # the read the filter made before, timed after the store's status is known
    "        json.loads(dicom.GetInstanceSimplifiedJson())\n"
    "        c3, w3 = _time.thread_time(), _time.perf_counter()\n"
    "    except Exception as exc:\n"
    "        orthanc.LogError(f'PACSGuard: C-STORE refused after an error: {exc}')\n"
    "        return pacsguard_guard.STORE_REFUSED\n"
    "    _spent['n'] += 1\n"
    "    _spent['uids_cpu'] += c1 - c0; _spent['uids_wall'] += w1 - w0\n"
    "    _spent['record_cpu'] += c2 - c1; _spent['record_wall'] += w2 - w1\n"
    "    _spent['simplified_json_cpu'] += c3 - c2; _spent['simplified_json_wall'] += w3 - w2\n"
    f"    if _spent['n'] % {TIMED_EVERY} == 0:\n"
    f"        orthanc.LogWarning('{MEASURE_TAG}' + json.dumps(_spent))\n"
    "    return status\n"
)
PLUGIN_EDITS["timed"] = (REGISTER, TIMED_FILTER + REGISTER)
# The launcher as the product runs it, with Orthanc's command minus --verbose-dicom (no_verbose_dicom only).
QUIET_LAUNCHER = (
    "import sys\n"
    "from orthanc_config import orthanc_launcher as launcher\n"
    "full = launcher.orthanc_command\n"
    "launcher.orthanc_command = lambda d: [a for a in full(d) if a != '--verbose-dicom']\n"
    "raise SystemExit(launcher.main(sys.argv[1:]))\n"
)


class PathStack(Stack):
    """index_path's stack, restarted with a plugin or launcher variant instead of a database variant."""

    def __init__(self, base: Path) -> None:
        super().__init__(base)
        self.orthanc_json = self.layout.config_dir / "orthanc.json"
        self.shipped_orthanc = json.loads(self.orthanc_json.read_text())
        self.plugin_source = Path(self.shipped_orthanc["PythonScript"]).read_text()
        self.variants_dir = base / "plugin-variants"
        self.variants_dir.mkdir()
        self.variants_dir.chmod(0o755)

    def apply(self, variant: str) -> None:  # type: ignore[override]
        script = self.shipped_orthanc["PythonScript"]
        if variant in PLUGIN_EDITS:
            old, new = PLUGIN_EDITS[variant]
            if old not in self.plugin_source:
                raise RuntimeError(f"{variant}: the plugin no longer has {old.strip()!r}; update PLUGIN_EDITS")
            copy = self.variants_dir / f"{variant}.py"
            copy.write_text(self.plugin_source.replace(old, new))
            copy.chmod(0o644)
            script = str(copy)
        self.orthanc_json.write_text(json.dumps({**self.shipped_orthanc, "PythonScript": script}, indent=2))
        original = local_stack.spawn_orthanc
        if variant == "no_verbose_dicom":
            local_stack.spawn_orthanc = _quiet_spawn  # type: ignore[assignment]
        try:
            local_stack.restart_orthanc(self.opts, say=lambda _m: None)
        finally:
            local_stack.spawn_orthanc = original  # type: ignore[assignment]

    def log_lines(self) -> int:
        with open(self.layout.orthanc_log, "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))

    def measured(self) -> dict[str, float]:
        """The timed variant's last cumulative readings (zeros before any)."""
        found: dict[str, float] = {"n": 0}
        with open(self.layout.orthanc_log, errors="replace") as fh:
            for line in fh:
                if MEASURE_TAG in line:
                    found = json.loads(line.split(MEASURE_TAG, 1)[1])
                elif "Orthanc version: " in line:  # a restart: the counters start again
                    found = {"n": 0}
        return found

    def cpu_all(self) -> dict[str, float]:
        c = stack_profile.cpu_by_program(stack_profile.namespace_pids(self.opts.name))
        return {p: c.get(p, 0.0) for p in PROGRAMS}


def _quiet_spawn(prefix: list[str], config_dir: Path, output_socket: Path, library_dir: Path | None = None) -> int:
    """local_stack.spawn_orthanc's process (same user, environment, output socket) without --verbose-dicom."""
    import orthanc_config

    source = str(Path(orthanc_config.__file__).resolve().parent.parent)
    command = [*prefix, local_stack.SYSTEM_PYTHON, "-c", QUIET_LAUNCHER, "--config-dir", str(config_dir),
               "--output-socket", str(output_socket)]  # fmt: skip
    if library_dir is not None:
        command += ["--library-dir", str(library_dir)]
    env = {"HOME": "/var/lib/orthanc", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "PYTHONPATH": source, "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True, env=env, cwd="/").pid


def scanner_header(folder: Path, public: int = 150) -> None:
    """Give every file of `folder` a header like a CT scanner's: `public` more public attributes (strings and
    numbers of groups 0008, 0018, 0020 and 0028) and two private blocks, a vendor's 60 acquisition strings and a
    16 kB binary header. write_series's own header has 17 attributes, far fewer than a modality sends."""
    import pydicom
    from pydicom.datadict import DicomDictionary

    chosen = [
        (tag, vr)
        for tag, (vr, vm, _name, retired, _kw) in sorted(DicomDictionary.items())
        if tag >> 16 in (0x0008, 0x0018, 0x0020, 0x0028) and vr in ("LO", "SH", "DS", "IS") and vm == "1"
        and not retired
    ][:public]  # fmt: skip
    blob = os.urandom(16 * 1024)
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        for tag, vr in chosen:
            if tag not in ds:
                ds.add_new(tag, vr, "1" if vr in ("DS", "IS") else "SCANNER VALUE")
        acquisition = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
        for offset in range(60):
            acquisition.add_new(offset, "LO", f"vendor value {offset}")
        ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True).add_new(0x10, "OB", blob)
        ds.save_as(path, enforce_file_format=True)


def ingest_run(stack: PathStack, folder: Path, count: int, parallel: int, header: str = "synthetic") -> dict[str, Any]:
    write_series(folder, count)
    if header == "scanner":
        scanner_header(folder)
    files = sorted(folder.iterdir())
    m = stack.doc["modalities"][0]
    target = {"dcmtk": ["+tls", m["key"], m["cert"], "+cf", stack.doc["ca_cert"], "-aet", m["aet"], "-aec",
                        stack.doc["dicom"]["called_aet"]]}  # fmt: skip
    cpu, lines, timed = stack.cpu_all(), stack.log_lines(), stack.measured()
    refused = ""
    start = time.perf_counter()
    try:
        store(target, stack.doc["dicom"]["host"], stack.doc["dicom"]["port"], files, parallel)
    except RuntimeError as exc:
        refused = str(exc)[-300:]
    seconds = time.perf_counter() - start
    shutil.rmtree(folder)
    time.sleep(0.3)  # the sink reads Orthanc's last lines of the run
    after, lines_after, timed_after = stack.cpu_all(), stack.log_lines(), stack.measured()
    n = timed_after["n"] - timed["n"]
    filter_ms = (
        {k: round((v - timed.get(k, 0.0)) / n * 1000, 3) for k, v in timed_after.items() if k != "n"} if n > 0 else {}
    )
    return {
        "parallel": parallel,
        "instances_per_s": round(count / seconds, 1),
        "cpu_ms_per_instance": {p: round((after[p] - cpu[p]) / count * 1000, 2) for p in PROGRAMS},
        "orthanc_log_lines_per_instance": round((lines_after - lines) / count, 2),
        "refused": refused,
        **({"filter_ms_per_instance": filter_ms, "filter_instances_timed": n} if filter_ms else {}),
    }


def sink_work(stack: PathStack, scratch: Path, repeat: int = 2000) -> dict[str, Any]:
    """The sink's work per input, timed here (one core, no other load of ours): each kind of Orthanc line a C-STORE
    association writes, and one C-STORE record datagram from the plugin. A temporary trail, never the stack's."""
    from orthanc_config.audit_sink import Sink, SinkConfig
    from orthanc_config.plugin import pacsguard_audit as audit
    from orthanc_config.plugin import pacsguard_syslog as syslog

    lines = [ln for ln in stack.layout.orthanc_log.read_text(errors="replace").splitlines() if ln][-4000:]
    kinds: dict[str, str] = {}
    for line in lines:  # one example of each message shape (the text after the source location)
        kinds.setdefault(line.split("] ", 1)[-1][:40], line)
    d = scratch / "sink"
    d.mkdir()
    sink = Sink(SinkConfig(trail=str(d / "trail.jsonl"), audit_socket=str(d / "a.sock"),
                           orthanc_socket=str(d / "o.sock"), orthanc_log=str(d / "orthanc.log")))  # fmt: skip
    sample = list(kinds.values())
    start = time.perf_counter()
    for _ in range(max(1, repeat // max(1, len(sample)))):
        for line in sample:
            sink.orthanc_line(line)
    per_line = (time.perf_counter() - start) / (max(1, repeat // max(1, len(sample))) * max(1, len(sample)))
    record = audit.event(event_id="110104", event_name="DICOM Instances Transferred", action="C", outcome="0",
                         user="MODALITY1", role="modality", source_ip=None, ae_title="MODALITY1",
                         study_uid="1.2.3", series_uid="1.2.3.4", instance_uid="1.2.3.4.5", reason="C-STORE received",
                         layer="orthanc-dicom")  # fmt: skip
    message = syslog.format_record(record, hostname="pacsguard", procid=str(os.getpid()))
    uid = os.stat("/proc/self").st_uid
    sink.uids[uid] = "orthanc"
    sink.orthanc_pids.add(os.getpid())
    n = repeat // 4
    start = time.perf_counter()
    for _ in range(n):
        sink.datagram(message, uid, os.getpid())
    per_record = (time.perf_counter() - start) / n
    return {
        "orthanc_line_shapes": len(sample),
        "ms_per_orthanc_line": round(per_line * 1000, 3),
        "ms_per_store_record": round(per_record * 1000, 3),
        "example_lines": [line.split("] ", 1)[-1][:80] for line in sample[:12]],
    }


def summarise(runs: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        for parallel in sorted({r["parallel"] for r in runs}):
            mine = {r["round"]: r for r in runs if r["variant"] == variant and r["parallel"] == parallel}
            base = {r["round"]: r for r in runs if r["variant"] == "product" and r["parallel"] == parallel}
            if not mine:
                continue
            out[f"{variant} x{parallel}"] = {
                "instances_per_s": statistics.median(r["instances_per_s"] for r in mine.values()),
                "to_product": round(statistics.median(
                    mine[n]["instances_per_s"] / base[n]["instances_per_s"] for n in mine), 2),
                "round_ratios": sorted(round(mine[n]["instances_per_s"] / base[n]["instances_per_s"], 2)
                                       for n in mine),
                "cpu_ms_per_instance": {p: statistics.median(r["cpu_ms_per_instance"][p] for r in mine.values())
                                        for p in PROGRAMS},
                "orthanc_log_lines_per_instance": statistics.median(
                    r["orthanc_log_lines_per_instance"] for r in mine.values()),
                "refused_runs": sum(1 for r in mine.values() if r["refused"]),
            }  # fmt: skip
            timed = [r["filter_ms_per_instance"] for r in mine.values() if "filter_ms_per_instance" in r]
            if timed:
                out[f"{variant} x{parallel}"]["filter_ms_per_instance"] = {
                    k: statistics.median(t[k] for t in timed) for k in timed[0]
                }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=150, help="CT slices per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--header", choices=("synthetic", "scanner"), default="scanner",
        help="scanner: every slice also carries a CT scanner's public and private attributes",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.instances < max(args.parallel) or max(args.parallel) > WARM_UP or args.instances % TIMED_EVERY:
        # the timed filter's totals fall between runs only when every run is a multiple of its logging interval
        parser.error(f"--instances must be a multiple of {TIMED_EVERY}, and --parallel at most {WARM_UP}")
    variants = [v for v in VARIANTS if v in args.variants or v == "product"]
    result: dict[str, Any] = {"instances": args.instances, "rounds": args.rounds, "header": args.header,
                              "machine_before": machine(),
                              "runs": []}  # fmt: skip
    base = Path(tempfile.mkdtemp(prefix="pacsguard-ingest-path-", dir="/var/tmp"))
    base.chmod(0o755)
    scratch = Path(tempfile.mkdtemp(prefix="pacsguard-ingest-path-", dir=SCRATCH))
    stack = None
    try:
        stack = PathStack(base)
        for r in range(args.rounds):
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            for variant in order:
                stack.apply(variant)
                # A first association after the restart (Orthanc's and Python's caches, the index connection):
                # every variant starts warm, so the first one in a round is not penalised.
                ingest_run(stack, scratch / "warm", WARM_UP, max(args.parallel), args.header)
                for parallel in args.parallel:
                    run = ingest_run(
                        stack, scratch / f"{variant}-{parallel}-{r}", args.instances, parallel, args.header
                    )
                    result["runs"].append({"round": r, "variant": variant, **run})
                    print(f"round {r + 1} {variant:22} x{parallel} {json.dumps(run)}", flush=True)
        stack.apply("product")
        result["sink_work"] = sink_work(stack, scratch)
        print(f"audit sink per input: {json.dumps(result['sink_work'])}", flush=True)
    finally:
        if stack:
            stack.close()
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    result["machine_after"] = machine()
    result["summary"] = summarise(result["runs"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest_path.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
