"""How long `pacsguard --help` and `pacsguard plan --stack prod` take, cold and from the cache, and where it goes.

.venv/bin/python -m benchmarks.plan_timing [--runs N]

Every figure is the median of N fresh processes (wall and CPU time: on a shared machine the CPU time is the steadier
of the two). The CLI runs as a user's install does, writing bytecode (one warm-up run compiles it), except the row
that says otherwise. The synthesis rows switch this project's measures off one at a time, in fresh interpreters, to
show what each is worth. The machine, its load before and after, and the bytecode setting are printed and stored
with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
GOALS = {
    "help": 0.3,
    "plan_prod_cold": 2.0,
    "plan_prod_first_after_install": 2.0,
    "plan_prod_changed_program": 2.0,
    "plan_prod_cold_heap_collected": 2.0,
    "plan_prod_cached": 2.0,
    "plan_prod_cached_no_bytecode": 2.0,
}
# A synthesis of prod in a fresh interpreter, with the project's measures switched off one at a time. It reports its
# own wall and CPU time up to the graph: the interpreter's exit (collecting the heap) is the CLI rows' concern.
SYNTHESIS = r"""
import contextlib, sys, time
start = time.perf_counter()
if "full-import" in sys.argv[1]:
    import pulumi_aws  # before infra.synth installs its finder: every service package loads whole
if "no-slices" in sys.argv[1]:
    from infra import synth_imports
    synth_imports.SLICES = False  # each service module runs whole, its shared _inputs/outputs classes all made
import infra.synth
if "gc-on" in sys.argv[1]:
    infra.synth.paused_gc = contextlib.nullcontext
if "stack-walk" in sys.argv[1]:
    infra.synth.synth_sdk.without_source_positions = contextlib.nullcontext
synth = infra.synth.synthesize("prod")
print(len(synth.resources), time.perf_counter() - start, time.process_time())
"""
VARIANTS = {
    "as shipped": "shipped",
    "whole service packages imported (so no slices either)": "full-import",
    "shared _inputs/outputs classes all run (no slices)": "no-slices",
    "the SDK's stack walk per resource kept": "stack-walk",
    "cyclic GC left on": "gc-on",
    "none of these measures": "full-import,gc-on,stack-walk",
}
# The console script as it was before it froze the plan's heap: `app` alone, so the exiting interpreter collects it.
HEAP_COLLECTED = "import sys; from pacsguard.cli import app; sys.argv[0] = 'pacsguard'; app()"


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: bytecode written (CI machines here set PYTHONDONTWRITEBYTECODE)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **extra}


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of one child process, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode not in (0, 1):  # 1 is a plan with failing controls: still a complete run
        raise RuntimeError(f"{' '.join(command)} exited {run.returncode}: {run.stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, run.stdout


def summary(samples: list[tuple[float, float]]) -> dict[str, object]:
    walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
    return {
        "runs": len(samples),
        "wall_s": walls,
        "cpu_s": cpus,
        "median_wall_s": statistics.median(walls),
        "median_cpu_s": statistics.median(cpus),
        "min_wall_s": min(walls),
    }


def pacsguard() -> list[str]:
    script = Path(sys.executable).with_name("pacsguard")  # the console script a user runs
    return [str(script)] if script.exists() else [sys.executable, "-m", "pacsguard.cli"]


def cli_figures(runs: int, scratch: Path) -> dict[str, dict[str, object]]:
    args = ["plan", "--stack", "prod", "--format", "json"]
    plan, env = [*pacsguard(), *args], user_env()
    timed([*plan, "--no-cache"], env)  # compiles the bytecode a user's install has, and pulumi-aws' slices
    out: dict[str, dict[str, object]] = {}
    out["help"] = summary([timed([*pacsguard(), "--help"], env)[:2] for _ in range(runs)])
    out["plan_prod_cold"] = summary([timed([*plan, "--no-cache"], env)[:2] for _ in range(runs)])
    empty_caches = [{**env, "PACSGUARD_CACHE_DIR": str(scratch / f"empty-{n}")} for n in range(runs)]
    out["plan_prod_first_after_install"] = summary([timed([*plan, "--no-cache"], e)[:2] for e in empty_caches])
    out["plan_prod_changed_program"] = summary([timed(changed_program(plan, scratch, n), env)[:2] for n in range(runs)])
    heap = [sys.executable, "-c", HEAP_COLLECTED, *args, "--no-cache"]
    out["plan_prod_cold_heap_collected"] = summary([timed(heap, env)[:2] for _ in range(runs)])
    timed(plan, env)  # fills the cache: the figure is an unchanged tree re-planned (CI, or at a desk)
    out["plan_prod_cached"] = summary([timed(plan, env)[:2] for _ in range(runs)])
    sources_compiled = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    out["plan_prod_cached_no_bytecode"] = summary([timed(plan, sources_compiled)[:2] for _ in range(runs)])
    return out


def changed_program(plan: list[str], scratch: Path, n: int) -> list[str]:
    """A plan after an edit: the stack file differs (a comment), so the synthesis runs again; the AWS API models do
    not, so their enumerations come from the cache (policies/api_enums.py)."""
    folder = scratch / f"edit-{n}"
    folder.mkdir()
    text = (ROOT / "stacks" / "Pulumi.prod.yaml").read_text()
    (folder / "Pulumi.prod.yaml").write_text(f"{text}\n# edit {n}\n")
    return [*plan, "--stacks-dir", str(folder)]


def synthesis_variants(runs: int) -> dict[str, dict[str, object]]:
    out = {}
    for label, variant in VARIANTS.items():
        reports = [timed([sys.executable, "-c", SYNTHESIS, variant], user_env())[2].split() for _ in range(runs)]
        out[label] = summary([(float(wall), float(cpu)) for _, wall, cpu in reports])
        out[label]["resources"] = int(reports[0][0])
    return out


def in_process(stack: str, runs: int) -> dict[str, float]:
    """A warm synthesis and every plan check, once the imports are paid (what a long-lived process would see)."""
    from infra.synth import synthesize
    from policies.evaluate import evaluate
    from policies.graph import PlanGraph

    synthesize(stack)
    synth_times, check_times = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        synth = synthesize(stack)
        t1 = time.perf_counter()
        findings = evaluate(PlanGraph.from_synthesis(synth))
        check_times.append(time.perf_counter() - t1)
        synth_times.append(t1 - t0)
    return {
        "resources": len(synth.resources),
        "findings": len(findings),
        "synth_warm_median_s": statistics.median(synth_times),
        "checks_median_s": statistics.median(check_times),
    }


def machine() -> dict[str, object]:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return {
        "platform": platform.platform(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        # This process's setting; the CLI children write bytecode as a user's install does (see user_env).
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        "children_write_bytecode": True,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as scratch:  # removed afterwards
        os.environ["PACSGUARD_CACHE_DIR"] = cache
        load_before = os.getloadavg()[0]
        result = {
            "machine": machine(),
            "load_average_1m_before": load_before,
            "cli": cli_figures(args.runs, Path(scratch)),
            "synthesis_fresh_interpreter": synthesis_variants(args.runs),
            "in_process": {stack: in_process(stack, args.runs) for stack in ("dev", "prod")},
            "load_average_1m_after": os.getloadavg()[0],
            "goals_s": GOALS,
        }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "plan_timing.json").write_text(json.dumps(result, indent=2) + "\n")
    print_result(result)
    return result


def print_result(result: dict) -> None:
    m = result["machine"]
    print(f"machine: {m['platform']}, {m['cpus']} x {m['cpu']}, Python {m['python']}, CLI runs write bytecode; "
          "load average "
          f"{result['load_average_1m_before']:.1f} before, {result['load_average_1m_after']:.1f} after")  # fmt: skip
    for name, r in result["cli"].items():
        print(f"{name:29} median {r['median_wall_s']:.2f} s wall, {r['median_cpu_s']:.2f} s CPU "
              f"(fastest {r['min_wall_s']:.2f} s, {r['runs']} runs; goal {GOALS[name]} s)")  # fmt: skip
    for label, r in result["synthesis_fresh_interpreter"].items():
        print(f"synthesis, {label:36} {r['median_wall_s']:.2f} s wall, {r['median_cpu_s']:.2f} s CPU")
    for stack, r in result["in_process"].items():
        print(f"{stack:5} {r['resources']} resources: warm synthesis {r['synth_warm_median_s']:.2f} s, "
              f"checks {r['checks_median_s'] * 1000:.1f} ms ({r['findings']} findings)")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
