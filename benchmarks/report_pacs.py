"""docs/performance.md's PACS sections (ingest, where the time goes, API overhead, scale) and their plots, from
benchmarks/results/*.json. Every figure printed here comes from a results file `make bench` wrote."""

from __future__ import annotations

from pathlib import Path

from orthanc_config.render_orthanc import INDEX_CONNECTIONS

DOCS = Path(__file__).resolve().parent.parent / "docs"
TARGET_LABELS = {
    "hardened": "hardened (nginx DICOM TLS, plugin, PostgreSQL over its Unix socket)",
    "plain_tls": "plain Orthanc over its own mutual DICOM TLS (SQLite, no plugin): the goal's baseline",
    "plain": "plain Orthanc (no TLS, SQLite, no plugin)",
    "plain_pg": "plain Orthanc on PostgreSQL (no TLS, no plugin, no nginx)",
    "storescp_tls": "DCMTK storescp over TLS (ceiling)",
}
COLORS = {
    "hardened": "#1f6feb",
    "plain_tls": "#6e40c9",
    "plain": "#8a94a6",
    "plain_pg": "#bf8700",
    "storescp_tls": "#2da44e",
}
WHICH_RATIO = (
    "The goal is judged on **hardened / plain over TLS**: issue 18 sends storescu over mutual TLS to plain Orthanc "
    "too, so its baseline is plain Orthanc (SQLite index inside the process, no plugin) with Orthanc's own mutual "
    "DICOM TLS and the same certificates. The other baselines stay beside it: **plain** (no TLS at all, Orthanc as "
    "it comes) gives hardened / plain, the whole price including the TLS no modality should send without; "
    "**plain on PostgreSQL** is plain Orthanc on the index engine the product uses (orthanc-postgresql, one index "
    "connection, PostgreSQL's durable defaults), still without TLS, plugin or nginx: hardened / plain-on-PostgreSQL "
    "is the hardening's own cost (TLS, nginx, the RBAC/audit plugin and its records), plain-on-PostgreSQL / plain "
    "the database's. The durable, shareable PostgreSQL index (several hosts, RDS backups, no index lost with an "
    "instance) is a choice PACSGuard makes for its users, so its cost counts against the product."
)


def _present(summary_row: dict) -> list[str]:
    """Targets a results row carries (files from before plain_pg lack it)."""
    return [t for t in TARGET_LABELS if t in summary_row["targets"]]


SHARED_MACHINE = (
    "The machine is shared with three other engineers' test runs (2 cores): every figure is a ratio of targets "
    "measured side by side in one run, in rotating order, and the load average is printed with it. Absolute "
    "rates move by 2x from run to run; ratios less, but still noticeably."
)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_ingest(ingest: dict, out: Path) -> None:
    plt = _plt()
    rows = ingest["summary"]
    labels = [f"{r['kind']}\nx{r['parallel']}" for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    present = _present(rows[0])
    width = 0.8 / len(present)
    for i, t in enumerate(present):
        color = COLORS[t]
        xs = [x + (i - (len(present) - 1) / 2) * width for x in range(len(rows))]
        a.bar(xs, [r["targets"][t]["instances_per_s"] for r in rows], width, color=color, label=t)
        b.bar(xs, [r["targets"][t]["mb_per_s"] for r in rows], width, color=color, label=t)
    for ax, unit in ((a, "instances / s"), (b, "MB / s")):
        ax.set_xticks(range(len(rows)), labels, fontsize=8)
        ax.set_ylabel(unit)
        ax.set_yscale("log")
    a.legend(fontsize=8)
    fig.suptitle("C-STORE ingest, DCMTK storescu: associations x workload")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def ingest_section(ingest: dict) -> list[str]:
    if "summary" not in ingest:  # a results file from before the C sender
        return []
    plot_ingest(ingest, DOCS / "performance.png")
    w = ingest["workloads"]
    probe = ingest.get("nagle_probe_instances_per_s", {})
    lines = [
        "## Ingest (C-STORE with a C sender)",
        "",
        f"Sender: {ingest['sender']}. Machine: {ingest['machine_before']['cpu']}, {ingest['machine_before']['cores']} "
        f"cores; 1-minute load average {ingest['machine_before']['load_average_1min']:.1f} at the start and "
        f"{ingest['machine_after']['load_average_1min']:.1f} at the end. Workloads: {w['ct']['instances']} CT slices "
        f"(512 x 512, 16 bit, 0.5 MB) and {w['multiframe']['instances']} multi-frame instances of "
        f"{w['multiframe']['frames']} such frames, new UIDs every run, {ingest['rounds']} rounds.",
        "",
        "![ingest](performance.png)",
        "",
    ]
    present = _present(ingest["summary"][0])
    has_pg = "plain_pg" in present
    has_tls = "plain_tls" in present
    short = {"hardened": "hardened", "plain_tls": "plain TLS", "plain": "plain", "plain_pg": "plain on PG",
             "storescp_tls": "storescp"}  # fmt: skip
    header = [f"{short[t]} inst/s (MB/s)" for t in present]
    header += ["hardened / plain TLS (goal)", "hardened / plain (no TLS)"] if has_tls else ["hardened / plain"]
    header += ["hardened / plain on PG", "plain on PG / plain"] if has_pg else []
    header += ["hardened / ceiling", "plain TLS / ceiling" if has_tls else "plain / ceiling"]
    lines += [
        "| workload | associations | " + " | ".join(header) + " |",
        "|---|---|" + "---|" * len(header),
    ]
    for r in ingest["summary"]:
        cells = [f"{r['targets'][t]['instances_per_s']:.1f} ({r['targets'][t]['mb_per_s']:.0f})" for t in present]
        if has_tls:
            cells += [f"**{_ratio(r, 'hardened_to_plain_tls')}**", _ratio(r, "hardened_to_plain")]
        else:
            cells.append(f"**{_ratio(r, 'hardened_to_plain')}**")
        if has_pg:
            cells += [f"**{_ratio(r, 'hardened_to_plain_pg')}**", _ratio(r, "plain_pg_to_plain")]
        cells += [
            _ratio(r, "hardened_to_ceiling"),
            _ratio(r, "plain_tls_to_ceiling" if has_tls else "plain_to_ceiling"),
        ]
        lines.append(f"| {r['kind']} | {r['parallel']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Ratios are the median of the rounds' ratios (each round sends to the {len(present)} targets back to back); "
        "the rounds' lowest and highest follow in brackets. "
        "Goals: hardened >= 0.9 x plain"
        + (" over mutual TLS" if has_tls else "")
        + " at 8 associations, both within 2x of the ceiling (ratio >= 0.5).",
        "",
    ]
    if has_pg:
        lines += [WHICH_RATIO, "", *_gap_at_most_associations(ingest["summary"])]
    if probe:
        lines += [
            f"Nagle's algorithm: one association, DCMTK to DCMTK without TLS, stores "
            f"**{probe['nagle_on']:.0f} instances/s** with Debian's default and **{probe['tcp_nodelay']:.0f}** with "
            "`TCP_NODELAY=1` on both ends: every C-STORE response waits for the peer's delayed ACK. That, not "
            "the PACS, was the ~12 instances/s the earlier figures showed. The product now starts Orthanc with "
            "`TCP_NODELAY=1` (orthanc_config/orthanc_launcher.py); plain Orthanc and storescp get it too here, so "
            "the ratios compare the hardening, not the delay. A modality's own DCMTK sender needs the same "
            "setting (nginx, in front of Orthanc, already disables Nagle).",
            "",
        ]
    return lines


def _ratio(row: dict, key: str) -> str:
    """A ratio with the spread of its rounds, when the results file has it (files before it have the median only)."""
    spread = row.get(f"{key}_range")
    return f"{row[key]:.2f} ({spread[0]:.2f}-{spread[1]:.2f})" if spread else f"{row[key]:.2f}"


def _gap_at_most_associations(summary: list[dict]) -> list[str]:
    """Per workload at the largest association count: the goal met or not, and how the gap splits between the
    hardening (hardened / plain on PG) and the durable database (plain on PG / plain)."""
    most = max(r["parallel"] for r in summary)
    parts = []
    for r in (r for r in summary if r["parallel"] == most):
        goal_key, goal_name = (
            ("hardened_to_plain_tls", "plain over TLS")
            if "hardened_to_plain_tls" in r
            else ("hardened_to_plain", "plain")
        )
        met = "met" if r[goal_key] >= 0.9 else "NOT met"
        extra = f"; without TLS on plain's side {r['hardened_to_plain']:.2f}" if goal_key != "hardened_to_plain" else ""
        parts.append(
            f"{r['kind']}: hardened / {goal_name} {r[goal_key]:.2f} (goal 0.9, {met}{extra}; the hardening's own "
            f"ratio {r['hardened_to_plain_pg']:.2f}, the durable index's {r['plain_pg_to_plain']:.2f})"
        )
    return [
        f"At {most} associations, " + "; ".join(parts) + ". When the index's own ratio is below 0.9, the goal is out "
        "of reach for any hardening without giving up the PostgreSQL index's durability (the stack profile below: "
        "one WAL flush per instance, which plain Orthanc's SQLite does not make).",
        "",
    ]


def profile_section(profile: dict) -> list[str]:
    lines = [
        "## Where the hardened stack's time goes",
        "",
        "`benchmarks.stack_profile`: CPU milliseconds per instance (or request) of every process in the hardened "
        "stack's namespace, grouped by program, and `perf` samples of the Orthanc process (shared objects).",
        "",
        "| run | wall ms | " + " | ".join(["orthanc (incl. plugin)", "postgresql", "audit sink (python)", "nginx"])
        + " |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    runs = [(f"C-STORE, {r['parallel']} association(s)", r["wall_ms_per_instance"], r["cpu_ms_per_instance"])
            for r in profile["runs"]]  # fmt: skip
    if profile.get("hardened_without_durable_commit"):
        r = profile["hardened_without_durable_commit"]
        runs.append(("C-STORE, 1 association, synchronous_commit off (measurement only)", r["wall_ms_per_instance"],
                     r["cpu_ms_per_instance"]))  # fmt: skip
    for r in profile.get("plain_runs", []):
        orthanc = {"orthanc (incl. plugin)": r["cpu_ms_per_instance"].get("orthanc (incl. plugin)", 0)}
        runs.append(
            (f"same, plain Orthanc (SQLite), {r['parallel']} association(s)", r["wall_ms_per_instance"], orthanc)
        )
    for r in profile.get("plain_pg_runs", []):
        runs.append(
            (f"same, plain Orthanc on PostgreSQL, {r['parallel']} association(s)", r["wall_ms_per_instance"],
             _only_orthanc_and_postgres(r["cpu_ms_per_instance"]))
        )  # fmt: skip
    if "viewer" in profile:
        v = profile["viewer"]
        runs.append(("viewer request (6 parallel)", v["wall_ms_per_request"], v["cpu_ms_per_request"]))
    if "viewer_plain" in profile:
        v = profile["viewer_plain"]
        runs.append(
            (
                "same, plain Orthanc (SQLite)",
                v["wall_ms_per_request"],
                {"orthanc (incl. plugin)": v["cpu_ms_per_request"].get("orthanc (incl. plugin)", 0)},
            )
        )
    if "viewer_plain_pg" in profile:
        v = profile["viewer_plain_pg"]
        runs.append(
            ("same, plain Orthanc on PostgreSQL", v["wall_ms_per_request"],
             _only_orthanc_and_postgres(v["cpu_ms_per_request"]))
        )  # fmt: skip
    for name, wall, cpu in runs:
        cells = " | ".join(
            f"{cpu.get(k, 0):.2f}" for k in ("orthanc (incl. plugin)", "postgresql", "audit sink (python)", "nginx")
        )
        lines.append(f"| {name} | {wall:.1f} | {cells} |")
    flushes = [f"{r['wal_flushes_per_instance']} at {r['parallel']}" for r in profile["runs"]
               if r.get("wal_flushes_per_instance") is not None]  # fmt: skip
    if flushes:
        lines += ["", f"PostgreSQL WAL flushes to disk per stored instance (association count after 'at'): "
                  f"{', '.join(flushes)}."]  # fmt: skip
        pg_flushes = [f"{r['wal_flushes_per_instance']} at {r['parallel']}" for r in profile.get("plain_pg_runs", [])
                      if r.get("wal_flushes_per_instance") is not None]  # fmt: skip
        if pg_flushes:
            lines[-1] += f" Plain Orthanc on PostgreSQL: {', '.join(pg_flushes)}."
        lines[-1] += (
            " PostgreSQL's group commit (commit_delay, commit_siblings) shares one flush among transactions that "
            f"commit at the same moment; Orthanc holds {INDEX_CONNECTIONS} index connection(s) "
            "(orthanc_config/render_orthanc.py: more collided in Orthanc 1.10.1), so no second transaction is ever "
            "committing beside it and the setting could only add its delay. The product keeps PostgreSQL's durable "
            "defaults (synchronous_commit on) on the local stack and on RDS."
        )
    one = profile["runs"][0]
    cpu = sum(one["cpu_ms_per_instance"].values())
    lines += ["", f"At one association a hardened C-STORE takes {one['wall_ms_per_instance']:.1f} ms of wall time but "
              f"{cpu:.1f} ms of CPU in all its processes: the rest is waiting."]  # fmt: skip
    nodurable = profile.get("hardened_without_durable_commit")
    if nodurable:
        lines[-1] += (
            f" With PostgreSQL's synchronous_commit off (a measurement only, never the product's setting) the same "
            f"run takes {nodurable['wall_ms_per_instance']:.1f} ms per instance: the durable commit of each instance's "
            "index rows (one WAL flush, which no concurrent association shares) is that difference. Plain Orthanc's "
            "SQLite index runs with JOURNAL_MODE=WAL and SYNCHRONOUS=NORMAL (Orthanc 1.10.1's own pragmas): it "
            "flushes nothing per instance, so a power cut can lose the last instances' index entries that the "
            "modality saw acknowledged. The hardened/plain ingest ratio compares a durable index with one that is not."
        )
    top = profile["runs"][0].get("orthanc_perf_top_dso", [])
    lines += [
        "",
        "Orthanc's samples during the single-association run: "
        + "; ".join(t for t in top if not t.startswith(("|", "-"))) + ".",
        "",
    ]  # fmt: skip
    lines += _plugin_share(profile)
    return lines


def _plugin_share(profile: dict) -> list[str]:
    """Orthanc's own CPU per instance, hardened minus plain on PostgreSQL at the same association count: with the
    index reached the same way (the Unix socket) and DICOM TLS in nginx, what remains is the RBAC/audit plugin's
    C-STORE callback and its audit record."""
    key = "orthanc (incl. plugin)"
    pg = {r["parallel"]: r["cpu_ms_per_instance"].get(key, 0) for r in profile.get("plain_pg_runs", [])}
    pairs = [(r["parallel"], r["cpu_ms_per_instance"].get(key, 0), pg[r["parallel"]]) for r in profile["runs"]
             if r["parallel"] in pg]  # fmt: skip
    if not pairs:
        return []
    return [
        "Orthanc's own CPU per stored instance, hardened vs plain on PostgreSQL (both reach their index over a Unix "
        "socket; DICOM TLS is nginx's): "
        + "; ".join(f"{h:.2f} vs {b:.2f} ms at {n} association(s), {h - b:+.2f} ms" for n, h, b in pairs)
        + ". The difference is the RBAC/audit plugin's C-STORE callback and the audit record it writes (the plugin "
        "is orthanc_config/plugin/).",
        "",
    ]


def _only_orthanc_and_postgres(cpu: dict) -> dict:
    # plain targets share a namespace: count only the programs a plain Orthanc on PostgreSQL runs
    return {k: v for k, v in cpu.items() if k in ("orthanc (incl. plugin)", "postgresql")}


def _load_note(load: list[float] | None) -> str:
    """The machine's 1-minute load average over the run: above its 2 cores, every latency includes waiting for one."""
    if not load:
        return ""
    note = f" 1-minute load average {load[0]:.1f} at the start and {load[-1]:.1f} at the end"
    if max(load) > 2:
        return note + " on 2 cores: other work was running, so every figure here includes waiting for a core (noisy)."
    return note + "."


def _added(query: dict, kind: str, versus: str, difference: float, digits: int) -> str:
    """An added p50: the median over stacks with its range when the run has several, else the medians' difference."""
    median = query.get(f"api_added_p50_ms{versus}", {}).get(kind)
    spread = query.get(f"api_added_p50_ms{versus}_range", {}).get(kind)
    if median is None or spread is None or query.get("stacks", 1) < 2:
        return f"**{difference:.{digits}f}**"
    return f"**{median:.{digits}f}** ({spread[0]:.{digits}f}-{spread[1]:.{digits}f})"


def query_section(query: dict, sink: dict | None, profile: dict | None = None) -> list[str]:
    t = query["targets"]
    kinds = [k for k in ("qido_rs", "wado_rs", "rendered") if k in t["hardened"]]
    lines = [
        "## Query, retrieve and the API's overhead",
        "",
        f"{query['instances']} instances in {query['instances'] // 20} studies. C-FIND: {query['queries']} "
        "associations each (TLS handshake with a client certificate on the hardened side), as a workstation does. "
        f"API: {query.get('api_requests_per_kind', '?')} requests of each kind on one kept-alive connection per "
        "target, alternating target by target."
        + (
            f" Every target brought up afresh {query['stacks']} times: each figure is the median over those stacks, "
            "each added p50 with its stacks' lowest and highest in brackets (the stack moves it more than 1,000 "
            "requests on one stack do)."
            if query.get("stacks", 1) > 1
            else ""
        )
        + _load_note(query.get("load_average_1min")),
        "",
    ]
    pg = t.get("plain_pg")
    head = "| request | plain p50 / p95 (ms) | " + ("plain on PG p50 / p95 (ms) | " if pg else "")
    head += "hardened p50 / p95 (ms) | added p50 over plain (ms) |" + (
        " added p50 over plain on PG (ms) |" if pg else ""
    )
    lines += [head, "|---|---|---|---|" + ("---|---|" if pg else "")]
    for k in ("c_find", *kinds):
        label, digits = ("C-FIND (new association)", 1) if k == "c_find" else (k, 2)
        p, h = t["plain"][k], t["hardened"][k]
        row = [label, f"{p['p50_ms']:.{digits}f} / {p['p95_ms']:.{digits}f}"]
        if pg:
            row.append(f"{pg[k]['p50_ms']:.{digits}f} / {pg[k]['p95_ms']:.{digits}f}")
        row += [
            f"{h['p50_ms']:.{digits}f} / {h['p95_ms']:.{digits}f}",
            _added(query, k, "", h["p50_ms"] - p["p50_ms"], digits),
        ]
        if pg:
            row.append(_added(query, k, "_vs_plain_pg", h["p50_ms"] - pg[k]["p50_ms"], digits))
        lines.append("| " + " | ".join(row) + " |")
    if "nginx_only" in t["hardened"]:
        n = t["hardened"]["nginx_only"]
        blanks = "- | - |" if pg else "- |"
        lines.append(
            f"| nginx's own answer (TLS + nginx, no Orthanc) | - | {'- | ' if pg else ''}{n['p50_ms']:.2f} / "
            f"{n['p95_ms']:.2f} | {blanks}"
        )
    lines.append("")
    if sink and "filter" in sink:
        lines += [
            "The request filter alone (benchmarks.audit_sink, in process, a real sink): "
            f"**{sink['filter']['median_ms']:.2f}"
            f" ms** p50 per WADO-RS request, of which the RBAC decision is {sink['decision_only']['median_ms']:.3f} ms "
            f"and the audit write (record formatted, sent, stored in the hash chain, acknowledged) "
            f"{sink['median_ms']:.2f} ms. Goal: added p50 <= 2 ms per request.",
            "",
        ]
    in_stack = t["hardened"].get("audit_write_in_stack")
    if in_stack and sink:
        lines += [
            "The same audit write timed in the running hardened stack (the plugin's own code as the orthanc user in "
            "the stack's namespace, its sink, this run's machine load): "
            f"**{in_stack['p50_ms']:.2f} ms** p50, {in_stack['p95_ms']:.2f} ms p95, against {sink['median_ms']:.2f} "
            "ms in process. The difference is the wait for the sink process, and then the waiting request thread, "
            "to get a core back: every request waits for its record's acknowledgement (fail-closed).",
            "",
        ]
    return lines + where_the_rest_is(profile, query, sink)


def where_the_rest_is(profile: dict | None, query: dict, sink: dict | None) -> list[str]:
    """The added latency per request split into what was measured apart: nginx, the filter, and the rest."""
    if not profile or "viewer" not in profile or not sink or "filter" not in sink:
        return []
    t = query["targets"]
    added = t["hardened"]["wado_rs"]["p50_ms"] - t["plain"]["wado_rs"]["p50_ms"]
    nginx = t["hardened"].get("nginx_only", {}).get("p50_ms", 0.0)
    filt = sink["filter"]["median_ms"]
    in_stack = t["hardened"].get("audit_write_in_stack")
    if in_stack:  # the filter as it runs in the stack: its in-process work, and the audit write timed in the stack
        filt += in_stack["p50_ms"] - sink["median_ms"]
    v, vp = profile["viewer"]["cpu_ms_per_request"], profile.get("viewer_plain", {}).get("cpu_ms_per_request", {})
    key = "orthanc (incl. plugin)"
    pg = t.get("plain_pg", {}).get("wado_rs")
    split = []
    if pg:
        db = pg["p50_ms"] - t["plain"]["wado_rs"]["p50_ms"]
        ours = added - db
        split = [
            f"Measured side by side, plain Orthanc on PostgreSQL takes {db:.1f} ms more per WADO-RS request than on "
            f"SQLite (the database's share) and the hardened stack {ours:.1f} ms more than plain Orthanc on "
            f"PostgreSQL (the hardening's share). Of that, nginx with TLS is {nginx:.2f} ms and the filter "
            f"{filt:.2f} ms ({'its audit write timed in the stack' if in_stack else 'in process'}); the remaining "
            f"{ours - nginx - filt:.1f} ms is split part by part, in the stack, in the next section but one "
            "(benchmarks.api_path).",
            "",
        ]
    return [
        *split,
        f"Where the added WADO-RS p50 of {added:.1f} ms goes: nginx with TLS answers by itself in {nginx:.2f} ms and "
        f"the filter (decision and audit write) takes {filt:.2f} ms, which leaves {added - nginx - filt:.1f} ms in "
        "Orthanc with its PostgreSQL index. The stack profile agrees: per viewer request the hardened Orthanc "
        f"spends {v.get(key, 0):.2f} ms of CPU (plain Orthanc on SQLite {vp.get(key, 0):.2f} ms) and PostgreSQL "
        f"{v.get('postgresql', 0):.2f} ms more, against {v.get('nginx', 0):.2f} ms for nginx and "
        f"{v.get('audit sink (python)', 0):.2f} ms for the audit sink. Orthanc 1.10 with orthanc-postgresql 4.0 "
        "(Debian 12) makes several SQL transactions per request, each a round trip to another process; SQLite runs "
        "inside Orthanc. On a 2-core machine that other work keeps busy, every round trip also waits for a core.",
        "",
    ]


def plot_scale(scale: dict, out: Path) -> None:
    plt = _plt()
    sizes = [s["instances"] for s in scale["steps"]]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, kind, title in zip(axes, ("c_find", "qido_rs", "wado_rs"), ("C-FIND", "QIDO-RS", "WADO-RS"), strict=True):
        for t, color in (("plain", "#8a94a6"), ("hardened", "#1f6feb")):
            ax.plot(sizes, [s["targets"][t][kind]["p50_ms"] for s in scale["steps"]], "o-", color=color, label=t)
        ax.set_xscale("log")
        ax.set_title(f"{title} p50 (ms)")
        ax.set_xlabel("instances in the archive")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def scale_section(scale: dict, plot: str = "performance-scale.png", command: str = "") -> list[str]:
    if not scale.get("steps"):
        return []
    plot_scale(scale, DOCS / plot)
    sizes = ", ".join(f"{s['instances']:,}" for s in scale["steps"])
    lines = [
        f"## Scale: latency as the archive grows ({sizes} instances)",
        "",
        f"Both archives filled step by step with small generated instances ({scale['per_study']} per study, one study "
        f"per patient) by storescu over 8 associations; {scale['minutes']:.0f} minutes in all"
        + (f" (`{command}`, run apart from `make bench`)" if command else "")
        + f". 1-minute load average {scale['load_average_1min'][0]:.1f} at the start and "
        f"{scale['load_average_1min'][-1]:.1f} at the end.",
        "",
        f"![scale]({plot})",
        "",
    ]
    with_disk = "disk_bytes" in scale["steps"][0]["targets"]["plain"]
    lines += [
        "| instances | target | ingest inst/s | C-FIND p50 (ms) | QIDO-RS p50 (ms) | WADO-RS p50 (ms) |"
        + (" step fill (min) | disk (MB) |" if with_disk else ""),
        "|---|---|---|---|---|---|" + ("---|---|" if with_disk else ""),
    ]
    for s in scale["steps"]:
        for t in ("plain", "hardened"):
            r = s["targets"][t]
            row = (
                f"| {s['instances']:,} | {t} | {r['ingest_instances_per_s']:.0f} | {r['c_find']['p50_ms']:.1f} | "
                f"{r['qido_rs']['p50_ms']:.2f} | {r['wado_rs']['p50_ms']:.2f} |"
            )
            if with_disk:
                disk = r["disk_bytes"]
                parts = f"{sum(disk.values()) / 1e6:.0f}" + (
                    f" ({disk['files'] / 1e6:.0f} files + {disk['index'] / 1e6:.0f} PostgreSQL)" if "index" in disk
                    else " (files and SQLite index)"
                )  # fmt: skip
                row += f" {r['fill_seconds'] / 60:.1f} | {parts} |"
            lines.append(row)
    first, last = scale["steps"][0], scale["steps"][-1]
    if last is not first:
        growth = "; ".join(
            f"{label} " + ", ".join(
                f"{t} {first['targets'][t][k]['p50_ms']:.1f} -> {last['targets'][t][k]['p50_ms']:.1f} ms"
                for t in ("plain", "hardened")
            )
            for k, label in (("qido_rs", "QIDO-RS"), ("wado_rs", "WADO-RS"))
        )  # fmt: skip
        span = f"From {first['instances']:,} to {last['instances']:,} instances"
        lines += ["", f"{span}, p50: {growth}."]
    if "stopped_at" in scale:
        lines += ["", f"Growth stopped at {scale['stopped_at']['size']:,}: {scale['stopped_at']['reason']}."]
    return [*lines, ""]


INDEX_VARIANTS = {
    "product": "as shipped: the cluster's Unix socket, SCRAM, 1 index connection",
    "loopback_tls": "loopback TCP, TLS verify-full, SCRAM (the local stack before issue 18)",
    "wal_tuned": "as shipped, PostgreSQL with {wal}",
    "connections_4": "as shipped, IndexConnectionsCount 4",
}


def _spread(row: dict) -> str:
    ratios = row.get("round_ratios") or [row["to_product"]]
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


def index_path_section(index: dict) -> list[str]:
    """benchmarks.index_path: the index connection and PostgreSQL's durable settings, variant by variant."""
    wal = ", ".join(f"{k} = {v}" for k, v in index["wal_candidate"].items())
    s = index["summary"]
    parallels = sorted({int(k.rsplit("x", 1)[1]) for k in s})
    lines = [
        "## The index connection and PostgreSQL's settings",
        "",
        f"`benchmarks.index_path`: one hardened stack, {index['instances']} CT slices per run over 1 and 8 "
        f"associations, {index['rounds']} rounds with the variants in rotating order (Orthanc restarted for each); "
        f"ratios are medians of the rounds' ratios to the shipped stack. 1-minute load average "
        f"{index['machine_before']['load_average_1min']:.1f} at the start and "
        f"{index['machine_after']['load_average_1min']:.1f} at the end.",
        "",
        "| variant | associations | inst/s | / as shipped (rounds) | SQL statements per instance | WAL flushes per "
        "instance | CPU ms per instance (Orthanc / PostgreSQL) | runs with a refused store |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for variant, label in INDEX_VARIANTS.items():
        for p in parallels:
            row = s.get(f"{variant} x{p}")
            if not row:
                continue
            cpu = row["cpu_ms_per_instance"]
            lines.append(
                f"| {label.format(wal=wal)} | {p} | {row['instances_per_s']:.1f} | **{row['to_product']:.2f}** "
                f"({_spread(row)}) | "
                f"{row['statements_per_instance']:.1f} | {row['wal_flushes_per_instance']:.2f} | "
                f"{cpu['orthanc']:.1f} / {cpu['postgresql']:.1f} | {row['refused_runs']} |"
            )
    rt = index["round_trip_ms"]
    one = s["product x1"]
    saved = (rt["tls"] - rt["unix_socket"]) * one["statements_per_instance"]
    lines += [
        "",
        f"One SQL round trip (pgbench, `SELECT 1`, the orthanc role as the orthanc user): **{rt['tls']:.3f} ms** "
        f"over loopback TLS and **{rt['unix_socket']:.3f} ms** over the Unix socket. A C-STORE runs "
        f"{one['statements_per_instance']:.0f} SQL statements, so the socket saves {saved:.2f} ms of round trips "
        "per instance, plus the CPU TLS costs both processes (the table's CPU columns); its effect on ingest rates "
        "is within this shared machine's round-to-round spread.",
    ]
    per_request = index.get("statements_per_request")
    if per_request:
        lines[-1] += (
            " Per API request the index runs "
            + ", ".join(
                f"{n:.0f} statements for {kind} ({(rt['tls'] - rt['unix_socket']) * n:.2f} ms of round trips saved)"
                for kind, n in per_request.items()
            )
            + "."
        )
    if "connections_4 x8" in s:
        c4 = s["connections_4 x8"]
        lines[-1] += (
            f" With 4 index connections (orthanc-postgresql 4.0 reads IndexConnectionsCount) and 8 associations, "
            f"a C-STORE runs {c4['statements_per_instance']:.1f} statements instead of "
            f"{s['product x8']['statements_per_instance']:.1f} (serializable transactions that collide are rolled "
            f"back and retried), {c4['wal_flushes_per_instance']:.2f} WAL flushes per instance against "
            f"{s['product x8']['wal_flushes_per_instance']:.2f} with one"
            + (
                ": concurrent committers did not make PostgreSQL's flushes fewer."
                if c4["wal_flushes_per_instance"] >= s["product x8"]["wal_flushes_per_instance"]
                else "."
            )
        )
    faster = [v for v in ("wal_tuned", "connections_4")
              if all(min(s[k].get("round_ratios") or [0]) > 1 for k in s if k.startswith(f"{v} x"))]  # fmt: skip
    lines += [
        "",
        "Faster than as shipped in every round at every association count: "
        + (
            ", ".join(INDEX_VARIANTS[v].format(wal=wal) for v in faster)
            if faster
            else "neither the WAL candidate nor 4 index connections"
        )
        + ". The local stack keeps PostgreSQL's WAL defaults and one index connection "
        "(orthanc_config/local_postgres.py, render_orthanc.py); it ships the Unix socket for the halved round "
        "trip, the TLS CPU saved in both processes and the statements every API request runs.",
        "",
        "WAL flushes are pg_stat_wal.wal_sync: with wal_sync_method = open_datasync every WAL write is itself "
        "synchronous (O_DSYNC), so no separate flush is counted although each commit is as durable.",
        "",
    ]
    return lines


PATH_VARIANTS = {
    "product": "as shipped",
    "no_store_filter": "no C-STORE filter (no callback, no record)",
    "filter_without_json": "filter writes its record, reads no tags",
    "filter_without_record": "filter reads the UIDs, writes no record",
    "no_verbose_dicom": "Orthanc without --verbose-dicom",
    "timed": "as shipped, timed, plus the whole-header read it made before",
}
PATH_PROGRAMS = ("orthanc (incl. plugin)", "postgresql", "audit sink (python)", "nginx")


def ingest_path_section(path: dict | None, edge: dict | None = None, profile: dict | None = None) -> list[str]:
    """benchmarks.ingest_path: the hardened C-STORE with one component switched off at a time."""
    if not path or "summary" not in path:
        return []
    s = path["summary"]
    parallels = sorted({int(k.rsplit("x", 1)[1]) for k in s})
    lines = [
        "## Where the hardened C-STORE's time goes, component by component",
        "",
        f"`benchmarks.ingest_path`: one hardened stack, {path['instances']} CT slices per run ("
        + (
            "each with a CT scanner's header: 150 more public attributes and two private blocks"
            if path.get("header") == "scanner"
            else "write_series's 17-attribute header"
        )
        + f") over "
        f"{' and '.join(map(str, parallels))} associations, {path['rounds']} rounds with the variants in rotating "
        "order; each variant is a measurement-only change (a copy of the plugin script, or the launcher without "
        "--verbose-dicom), Orthanc restarted and warmed for each. Ratios are medians of the rounds' ratios to the "
        f"stack as shipped. 1-minute load average {path['machine_before']['load_average_1min']:.1f} at the start "
        f"and {path['machine_after']['load_average_1min']:.1f} at the end.",
        "",
        "| variant | associations | inst/s | / as shipped (rounds) | CPU ms per instance: Orthanc / PostgreSQL / "
        "audit sink / nginx | Orthanc log lines per instance |",
        "|---|---|---|---|---|---|",
    ]
    for variant, label in PATH_VARIANTS.items():
        for p in parallels:
            row = s.get(f"{variant} x{p}")
            if not row:
                continue
            cpu = " / ".join(f"{row['cpu_ms_per_instance'][k]:.2f}" for k in PATH_PROGRAMS)
            lines.append(
                f"| {label} | {p} | {row['instances_per_s']:.1f} | **{row['to_product']:.2f}** ({_spread(row)}) | "
                f"{cpu} | {row['orthanc_log_lines_per_instance']:.2f} |"
            )
    lines.append("")
    for p in parallels:
        t = s.get(f"timed x{p}", {}).get("filter_ms_per_instance")
        if t and "uids_cpu" in t:  # (a results file from before the UID-only read timed the other read)
            lines += [
                f"The filter's own thread at {p} association(s), per instance: reading the record's UIDs "
                f"(public attributes only) **{t['uids_cpu']:.3f} ms** CPU ({t['uids_wall']:.3f} ms wall), where "
                f"the whole simplified JSON it read before takes **{t['simplified_json_cpu']:.3f} ms** CPU; the "
                f"record's write and the sink's acknowledgement **{t['record_cpu']:.3f} ms** CPU and "
                f"**{t['record_wall']:.3f} ms** wall (the difference is the wait for the sink, which a store must "
                "not skip: no acknowledgement, no store).",
                "",
            ]
    work = path.get("sink_work")
    if work:
        lines += [
            f"The audit sink's own work, timed in one process on the lines a stack wrote: "
            f"**{work['ms_per_orthanc_line']:.3f} ms** per Orthanc log line (kept in orthanc.log and parsed for "
            f"associations and refusals) and **{work['ms_per_store_record']:.3f} ms** per C-STORE record (parse, "
            "hash-chain, append); the rest of its CPU per instance in the table is the system and scheduling work "
            "of receiving and answering one datagram per record.",
            "",
        ]
    if edge and "ingest_ratio_edge_to_direct" in edge:
        lines += [
            f"nginx's TLS edge (benchmarks.dicom_edge, section below): ingest through it / Orthanc's own TLS "
            f"**{edge['ingest_ratio_edge_to_direct']:.2f}**.",
            "",
        ]
    runs = (profile or {}).get("runs") or []
    off = (profile or {}).get("hardened_without_durable_commit")
    on = next((r for r in runs if r["parallel"] == 1), None)
    if off and on:
        lines += [
            f"PostgreSQL's durable commit (benchmarks.stack_profile): {on['wall_ms_per_instance']:.1f} ms wall "
            f"per instance at 1 association with it, {off['wall_ms_per_instance']:.1f} ms with synchronous_commit "
            "off (a measurement, never the product's setting).",
            "",
        ]
    return lines
