"""Where the API's added time goes: WADO-RS, QIDO-RS and rendered requests on one hardened stack, with its parts
removed one at a time (measurement-only variants), beside plain Orthanc on PostgreSQL, in one run.

    sudo .venv/bin/python -m benchmarks.api_path [--requests 60] [--rounds 4] [--instances 100]

Paths, each one kept-alive connection from a client inside the target's network namespace (Debian's Python,
stdlib only, as nginx's user www-data), request by request in rotating order:
- nginx: HTTPS through nginx as a role user (radiologist1): what users get;
- direct: the hardened Orthanc's HTTP port on loopback, with the headers nginx sends (the user's Basic header,
  X-Real-IP, X-Forwarded-*, Host): nginx's hop removed;
- plain_pg: plain Orthanc on a PostgreSQL index (no plugin, no authentication, no nginx): the bottom line.
Variants of the hardened stack (index_path.Stack restarts Orthanc for each; never the product's settings):
- product: as shipped;
- no_plugin: PythonScript removed (no RBAC, no audit record): the plugin's share;
- empty_filter: a PythonScript whose request filter allows everything: the call into Python by itself;
- no_basic_auth: AuthenticationEnabled off (the plugin still takes the user from the Basic header);
- no_gdcm: the GDCM decoder plugin not loaded (when the stack loads it);
- no_access_syslog: nginx's access line to the audit sink removed (the access log file stays);
- sink_nice: the audit sink's threads at nice -10 (the product runs it at 0).
Per variant and round the plain_pg requests run beside it, so drift falls on all alike. Then, as shipped: CPU ms
per request of every program in the namespace for the nginx and the direct path, the lines Orthanc writes to its
log per request (--verbose-dicom and DeidentifyLogs only act on log lines), and SQL statements per request.
index_path.Stack loads pg_stat_statements into the hardened cluster (for the statement counts): a small
per-statement cost that plain_pg does not pay, so the hardened figures err high, never low.
Writes benchmarks/results/api_path.json; the stack is gone afterwards.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydicom.uid import generate_uid

from benchmarks import stack_profile
from benchmarks.index_path import Stack
from benchmarks.ingest import machine
from benchmarks.plain_postgres import plain_postgres
from benchmarks.populate import populate
from benchmarks.query import api_requests
from benchmarks.targets import PLAIN, PORTS, _plain_config, _plain_entry, wait_port
from orthanc_config import netns
from orthanc_config.local_stack import reload_nginx, restart_orthanc
from orthanc_config.render_orthanc import GDCM_PLUGIN

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("qido_rs", "wado_rs", "rendered")
PATHS = ("nginx", "direct")
VARIANTS = ("product", "no_plugin", "empty_filter", "no_basic_auth", "no_gdcm", "no_access_syslog", "sink_nice")
# The sink_nice variant's nice value for the audit sink's threads: every request waits for the sink's
# acknowledgement, so this shows how much of that wait is the sink waiting for a core.
SINK_NICE = -10
# The empty_filter variant's PythonScript: orthanc-python calling a filter that allows everything, so the call into
# Python by itself is measured apart from the guard's work (identity, decision, audit write).
EMPTY_FILTER = "import orthanc\northanc.RegisterIncomingHttpRequestFilter(lambda uri, **request: True)\n"
CLIENT_USER = "www-data"  # nftables admits only nginx's user to Orthanc's HTTP port
CLIENT_PROGRAM = "benchmark client"

# The client: one kept-alive connection per path, a request per line on stdin, its time on stdout. Standard
# library only (Debian's Python, as www-data); its own time is what is reported, not the pipe's.
_CLIENT = r"""
import http.client, json, ssl, sys, time
conns = {}
for name, c in json.loads(sys.argv[1]).items():
    if c["ca"]:
        conn = http.client.HTTPSConnection(c["host"], c["port"], context=ssl.create_default_context(cafile=c["ca"]),
                                           timeout=60)
    else:
        conn = http.client.HTTPConnection(c["host"], c["port"], timeout=60)
    conns[name] = (conn, c["headers"])
for line in sys.stdin:
    req = json.loads(line)
    conn, headers = conns[req["c"]]
    for attempt in (0, 1):
        start = time.perf_counter()
        try:
            conn.request("GET", req["p"], headers={**headers, "Accept": req["a"]})
            resp = conn.getresponse()
            body = resp.read()
            break
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the idle kept-alive connection: connect again untimed, then time the request.
            conn.close()
            if attempt:
                raise
            conn.connect()
    print(json.dumps({"s": resp.status, "t": time.perf_counter() - start, "n": len(body), "r": attempt}), flush=True)
"""


class Client:
    """The in-namespace client process; `get` sends one request on a named connection and returns its seconds."""

    def __init__(self, ns: str, connections: dict[str, dict]) -> None:
        command = [*netns.exec_prefix(ns), "setpriv", f"--reuid={CLIENT_USER}", f"--regid={CLIENT_USER}",
                   "--clear-groups", "/usr/bin/python3", "-c", _CLIENT, json.dumps(connections)]  # fmt: skip
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.reconnects = 0

    def get(self, conn: str, path: str, accept: str) -> float:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"c": conn, "p": path, "a": accept}) + "\n")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the benchmark client ended ({conn} {path})")
        answer = json.loads(line)
        self.reconnects += answer["r"]
        if answer["s"] != 200 or not answer["n"]:
            raise RuntimeError(f"{conn} {path}: HTTP {answer['s']}")
        return answer["t"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(10)


def pct(values: list[float]) -> dict[str, float]:
    """p50 and p95 of latencies in milliseconds."""
    q = statistics.quantiles(values, n=20) if len(values) > 1 else values * 19
    return {"p50_ms": round(statistics.median(values), 3), "p95_ms": round(q[-1], 3)}


def summarise(samples: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """{variant/path or 'plain_pg': {kind: p50/p95}} from samples {variant, path, kind, ms}; plain_pg pooled
    over every variant's rounds (it never changes)."""
    pooled: dict[str, dict[str, list[float]]] = {}
    for s in samples:
        key = "plain_pg" if s["path"] == "plain_pg" else f"{s['variant']}/{s['path']}"
        pooled.setdefault(key, {}).setdefault(s["kind"], []).extend(s["ms"])
    return {key: {kind: pct(v) for kind, v in kinds.items()} for key, kinds in pooled.items()}


def excess(samples: list[dict]) -> dict[str, dict[str, float]]:
    """{variant/path: {kind: ms}}: in each round, the variant's p50 minus plain_pg's p50 measured beside it (same
    minutes, same machine load), then the median over rounds. Differences of these cancel the machine's drift
    between one variant's turn and the next."""
    return {key: {kind: round(statistics.median(v), 3) for kind, v in kinds.items()}
            for key, kinds in excess_by_round(samples).items()}  # fmt: skip


def excess_by_round(samples: list[dict]) -> dict[str, dict[str, list[float]]]:
    """The same differences, one per round (ms), in round order: their spread is how far the median can be trusted."""
    by_slot: dict[tuple[int, str], dict[tuple[str, str], float]] = {}
    for s in samples:
        by_slot.setdefault((s["round"], s["variant"]), {})[(s["path"], s["kind"])] = statistics.median(s["ms"])
    rounds: dict[str, dict[str, list[float]]] = {}
    for (_, variant), p50 in sorted(by_slot.items()):
        for (path, kind), value in p50.items():
            bottom = p50.get(("plain_pg", kind))
            if path != "plain_pg" and bottom is not None:
                rounds.setdefault(f"{variant}/{path}", {}).setdefault(kind, []).append(round(value - bottom, 3))
    return rounds


def breakdown(over_plain: dict[str, dict[str, float]]) -> dict[str, dict]:
    """Per request kind, the hardened stack's added p50 over plain_pg (`excess`) split into its parts (ms):
    nginx's hop (nginx path minus direct); Basic authentication, GDCM and the plugin (product minus the variant,
    direct path), the plugin's share split into orthanc-python's call of an empty filter (empty_filter minus
    no_plugin) and the guard's own work (product minus empty_filter: identity, decision, the audit write and the
    wait for its acknowledgement). Two more overlap those (they fall on the plugin's wait for the sink): nginx's
    access line to the sink (product minus no_access_syslog) and the sink's wait for a core (product minus
    sink_nice), both through nginx. `rest` is the added time minus nginx's hop, the plugin, authentication and
    GDCM: what no variant accounts for (the hardened Orthanc's other settings, waiting for a core)."""
    out: dict[str, dict] = {}
    for kind in KINDS:

        def at(key: str, kind: str = kind) -> float | None:
            return over_plain.get(key, {}).get(kind)

        added, product_direct = at("product/nginx"), at("product/direct")
        if added is None or product_direct is None:
            continue
        parts: dict[str, float | None] = {"nginx_hop": added - product_direct}
        alone, bare = at("no_plugin/nginx"), at("no_plugin/direct")
        parts["nginx_hop_without_plugin"] = None if alone is None or bare is None else alone - bare
        for name, key in (("plugin", "no_plugin/direct"), ("basic_auth", "no_basic_auth/direct"),
                          ("gdcm", "no_gdcm/direct")):  # fmt: skip
            other = at(key)
            parts[name] = None if other is None else product_direct - other
        other = at("no_access_syslog/nginx")
        parts["access_syslog"] = None if other is None else added - other
        other = at("sink_nice/nginx")
        parts["sink_waits"] = None if other is None else added - other
        empty = at("empty_filter/direct")
        if parts["plugin"] is not None and empty is not None and bare is not None:
            parts["plugin_python_call"] = empty - bare
            parts["plugin_guard"] = product_direct - empty
        # The nginx hop contains the access line; the plugin's share contains its audit write.
        accounted = sum(v for k, v in parts.items() if v is not None and k in ("nginx_hop", "plugin", "basic_auth",
                                                                                "gdcm"))  # fmt: skip
        out[kind] = {
            "added_over_plain_pg": round(added, 3),
            **{k: None if v is None else round(v, 3) for k, v in parts.items()},
            "rest": round(added - accounted, 3),
        }
    return out


def cpu_per_request(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    """CPU ms per request by program between two stack_profile.cpu_by_program readings, largest first; the
    benchmark's own client is named apart."""
    out = {}
    for program in after:
        ms = (after[program] - before.get(program, 0.0)) / requests * 1000
        out[CLIENT_PROGRAM if program == "python3" else program] = round(ms, 3)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def dump(result: dict) -> str:
    """The results file: indented, with one line per sample (thousands of latencies)."""
    head = json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1)
    samples = ",\n".join("  " + json.dumps(s) for s in result.get("samples", []))
    return head[:-2] + ',\n "samples": [\n' + samples + "\n ]\n}\n"


class Variants:
    """The hardened stack's Orthanc and nginx configuration as shipped, and one measurement-only change at a time."""

    def __init__(self, stack: Stack, base: Path) -> None:
        self.stack = stack
        self.empty_filter = base / "empty_filter.py"
        self.empty_filter.write_text(EMPTY_FILTER)
        self.empty_filter.chmod(0o644)
        self.orthanc_json = stack.layout.config_dir / "orthanc.json"
        self.nginx_conf = stack.layout.nginx_dir / "nginx.conf"
        self.shipped = json.loads(self.orthanc_json.read_text())
        self.shipped_nginx = self.nginx_conf.read_text()
        self.current_nginx = self.shipped_nginx
        self.gdcm = any(p.endswith(GDCM_PLUGIN) for p in self.shipped["Plugins"])

    def available(self) -> list[str]:
        return [v for v in VARIANTS if v != "no_gdcm" or self.gdcm]

    def _renice_sink(self, nice: int) -> None:
        pid = (self.stack.layout.state / "audit-sink.pid").read_text().split()[0]
        for task in Path(f"/proc/{pid}/task").iterdir():  # a nice value is per thread on Linux
            os.setpriority(os.PRIO_PROCESS, int(task.name), nice)

    def apply(self, variant: str) -> None:
        cfg = json.loads(json.dumps(self.shipped))
        nginx = self.shipped_nginx
        if variant == "no_plugin":
            del cfg["PythonScript"]
        elif variant == "empty_filter":
            cfg["PythonScript"] = str(self.empty_filter)
        elif variant == "no_basic_auth":
            cfg["AuthenticationEnabled"] = False
        elif variant == "no_gdcm":
            cfg["Plugins"] = [p for p in cfg["Plugins"] if not p.endswith(GDCM_PLUGIN)]
        elif variant == "no_access_syslog":
            nginx = "\n".join(ln for ln in nginx.splitlines() if "syslog:server=" not in ln) + "\n"
        self._renice_sink(SINK_NICE if variant == "sink_nice" else 0)
        self.orthanc_json.write_text(json.dumps(cfg, indent=2))
        if nginx != self.current_nginx:
            self.nginx_conf.write_text(nginx)
            reload_nginx(self.stack.opts)
            self.current_nginx = nginx
        restart_orthanc(self.stack.opts, say=lambda _m: None)


@contextmanager
def plain_pg(base: Path):
    """Plain Orthanc on a PostgreSQL index in plain's namespace (benchmarks.targets' configuration)."""
    netns.create(PLAIN)
    proc = None
    try:
        prefix = netns.exec_prefix(PLAIN.name)
        with plain_postgres(base / "plain_pg_index", prefix) as uri:
            state = base / "plain_pg"
            (state / "db").mkdir(parents=True)
            shutil.chown(state / "db", "orthanc", "orthanc")
            (state / "orthanc.json").write_text(json.dumps(_plain_config(state, "plain_pg", uri)))
            proc = subprocess.Popen([*prefix, "setpriv", "--reuid=orthanc", "--regid=orthanc", "--init-groups",
                                     "/usr/sbin/Orthanc", str(state / "orthanc.json")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            wait_port(PLAIN.ns_address, PORTS["plain_pg"][1])
            yield _plain_entry("plain_pg", state)
            proc.terminate()
            proc.wait(10)
            proc = None
    finally:
        if proc:
            proc.kill()
        netns.delete(PLAIN)


def _hardened_connections(stack: Stack, base: Path) -> dict[str, dict]:
    users = json.loads(Path(stack.doc["credentials_file"]).read_text())["users"]
    basic = "Basic " + base64.b64encode(f"radiologist1:{users['radiologist1']['password']}".encode()).decode()
    address = stack.opts.link.ns_address
    # What nginx's `location /` sets (render_nginx.py); an empty X-PACSGuard-Bearer is not sent by nginx.
    as_nginx = {"Authorization": basic, "Host": address, "X-Real-IP": address, "X-Forwarded-For": address,
                "X-Forwarded-Proto": "https"}  # fmt: skip
    profile = stack.layout.profile
    ca = base / "ca.pem"  # the stack's CA certificate is readable by root only; the client runs as www-data
    shutil.copyfile(stack.doc["ca_cert"], ca)
    ca.chmod(0o644)
    return {
        "nginx": {"host": address, "port": profile.https_port, "ca": str(ca),
                  "headers": {"Authorization": basic}},
        "direct": {"host": "127.0.0.1", "port": profile.orthanc_http_port, "ca": "", "headers": as_nginx},
    }  # fmt: skip


def _orthanc_log_lines(stack: Stack) -> int:
    try:
        return len(stack.layout.orthanc_log.read_bytes().splitlines())
    except OSError:
        return 0


def measure_round(
    hardened: Client, plain: Client, items: dict[str, list], variant: str, n: int, offset: int
) -> list[dict]:
    """n requests of each kind on each path, path order rotating request by request."""
    paths = (*PATHS, "plain_pg")
    times: dict[tuple[str, str], list[float]] = {}
    for i in range(n):
        rot = (i + offset) % len(paths)
        for path in paths[rot:] + paths[:rot]:
            source = "plain_pg" if path == "plain_pg" else "hardened"
            requests = api_requests(items[source][(i + offset) % len(items[source])])
            for kind in KINDS:
                url, accept = requests[kind]
                client = plain if path == "plain_pg" else hardened
                seconds = client.get("plain_pg" if path == "plain_pg" else path, url, accept)
                times.setdefault((path, kind), []).append(seconds)
    # Milliseconds to 10 us: the results file keeps every latency, and p50s need no finer grain.
    return [{"variant": variant, "path": p, "kind": k, "ms": [round(t * 1000, 2) for t in v]}
            for (p, k), v in times.items()]  # fmt: skip


def cpu_block(stack: Stack, hardened: Client, items: list, path: str, n: int) -> dict[str, Any]:
    """CPU ms per request by program and Orthanc's log lines per request while n requests of each kind go one path."""
    ns = stack.opts.name
    before, lines = stack_profile.cpu_by_program(stack_profile.namespace_pids(ns)), _orthanc_log_lines(stack)
    for i in range(n):
        for url, accept in api_requests(items[i % len(items)]).values():
            hardened.get(path, url, accept)
    after = stack_profile.cpu_by_program(stack_profile.namespace_pids(ns))
    count = n * len(KINDS)
    return {"cpu_ms_per_request": cpu_per_request(before, after, count),
            "orthanc_log_lines_per_request": round((_orthanc_log_lines(stack) - lines) / count, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=60, help="requests of each kind per path, variant and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--instances", type=int, default=100, help="instances stored on each target")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        help="a subset to compare (product is always measured)")  # fmt: skip
    args = parser.parse_args()
    result: dict[str, Any] = {"requests": args.requests, "rounds": args.rounds, "instances": args.instances,
                              "machine_before": machine(), "samples": [], "slots": []}  # fmt: skip
    base = Path(tempfile.mkdtemp(prefix="pacsguard-api-", dir="/var/tmp"))
    base.chmod(0o755)
    stack = hardened = plain = None
    say = lambda m: print(m, flush=True)  # noqa: E731
    try:
        stack = Stack(base)
        variants = Variants(stack, base)
        result["gdcm_loaded"] = variants.gdcm
        variants.apply("product")  # Stack restarted PostgreSQL under the running Orthanc
        with plain_pg(base) as plain_target:
            m = next(x for x in stack.doc["modalities"] if "store" in x["rights"])
            sender = {"dcmtk": ["+tls", m["key"], m["cert"], "+cf", stack.doc["ca_cert"], "-aet", m["aet"], "-aec",
                                stack.doc["dicom"]["called_aet"]],
                      "host": stack.doc["dicom"]["host"], "port": stack.doc["dicom"]["port"]}  # fmt: skip
            per_study = 10
            studies = [(f"API-{i:03d}", generate_uid(), generate_uid()) for i in range(max(1, args.instances // 10))]
            items = {"hardened": populate(sender, studies, per_study), "plain_pg": populate(plain_target, studies,
                                                                                            per_study)}  # fmt: skip
            say(f"stored {len(items['hardened'])} instances on each target")
            plain_conn = {"plain_pg": {"host": "127.0.0.1", "port": PORTS["plain_pg"][1], "ca": "", "headers": {}}}
            order = [v for v in variants.available() if v in args.variants or v == "product"]
            result["variants"] = order
            for r in range(args.rounds):
                for variant in order[r % len(order) :] + order[: r % len(order)]:
                    variants.apply(variant)
                    # Fresh connections for each variant: an idle one is closed by the server during a restart.
                    hardened = Client(stack.opts.name, _hardened_connections(stack, base))
                    plain = Client(PLAIN.name, plain_conn)
                    measure_round(hardened, plain, items, variant, 3, r)  # warm: connections, caches, files
                    pids = stack_profile.namespace_pids(stack.opts.name)
                    cpu, lines = stack_profile.cpu_by_program(pids), _orthanc_log_lines(stack)
                    round_samples = measure_round(hardened, plain, items, variant, args.requests, r)
                    # Per hardened request (both paths): what each program spent, and what Orthanc logged.
                    count = args.requests * len(KINDS) * len(PATHS)
                    result["slots"].append({
                        "round": r, "variant": variant,
                        "cpu_ms_per_request": cpu_per_request(cpu, stack_profile.cpu_by_program(pids), count),
                        "orthanc_log_lines_per_request": round((_orthanc_log_lines(stack) - lines) / count, 3),
                        "reconnects": hardened.reconnects + plain.reconnects,
                    })  # fmt: skip
                    hardened.close()
                    plain.close()
                    hardened = plain = None
                    result["samples"] += [{"round": r, **s} for s in round_samples]
                    p50 = {f"{s['path']} {s['kind']}": round(statistics.median(s["ms"]), 2)
                           for s in round_samples}  # fmt: skip
                    say(f"round {r + 1} {variant:17} p50 ms {json.dumps(p50)}")
            variants.apply("product")
            hardened = Client(stack.opts.name, _hardened_connections(stack, base))
            result["as_shipped"] = {path: cpu_block(stack, hardened, items["hardened"], path, args.requests * 2)
                                    for path in PATHS}  # fmt: skip
            say(f"as shipped, per request: {json.dumps(result['as_shipped'])}")
            hardened.close()
            hardened = None
        result["statements_per_request"] = stack.statements_per_request(base)
    finally:
        for client in (hardened, plain):
            if client:
                client.close()
        if stack:
            stack.close()
        shutil.rmtree(base, ignore_errors=True)
    result["machine_after"] = machine()
    result["p50"] = summarise(result["samples"])
    result["over_plain_pg"] = excess(result["samples"])
    result["added_by_round"] = excess_by_round(result["samples"]).get("product/nginx", {})
    result["breakdown"] = breakdown(result["over_plain_pg"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api_path.json").write_text(dump(result))
    print(json.dumps({"p50": result["p50"], "breakdown": result["breakdown"]}, indent=1))


if __name__ == "__main__":
    main()
