"""How long `pacsguard plan` takes: without and with the synthesis cache, synthesis alone, and the checks.

.venv/bin/python -m benchmarks.plan_timing
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cli_wall(stack: str, runs: int, cache: bool) -> list[float]:
    """Wall time of the CLI; with the cache, after one run that fills it (an unchanged tree in CI or at a desk)."""
    times = []
    flag = "--cache" if cache else "--no-cache"
    command = [sys.executable, "-m", "pacsguard.cli", "plan", "--stack", stack, "--format", "json", flag]
    if cache:
        subprocess.run(command, check=False, capture_output=True)
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=False, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def in_process(stack: str, runs: int) -> dict[str, float]:
    from infra.synth import synthesize
    from policies.evaluate import evaluate
    from policies.graph import PlanGraph

    synth_times, check_times = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        synth = synthesize(stack)
        t1 = time.perf_counter()
        findings = evaluate(PlanGraph.from_synthesis(synth))
        t2 = time.perf_counter()
        synth_times.append(t1 - t0)
        check_times.append(t2 - t1)
    return {
        "resources": len(synth.resources),
        "findings": len(findings),
        "synth_first_s": synth_times[0],
        "synth_warm_median_s": statistics.median(synth_times[1:] or synth_times),
        "checks_median_s": statistics.median(check_times),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:  # a cold cache of its own, removed afterwards
        os.environ["PACSGUARD_CACHE_DIR"] = cache
        measure()


def measure() -> None:
    runs = 5
    result = {"machine": platform.platform(), "python": platform.python_version(), "stacks": {}}
    for stack in ("dev", "prod"):
        cold, cached = cli_wall(stack, 3, cache=False), cli_wall(stack, 3, cache=True)
        result["stacks"][stack] = {
            "cli_wall_median_s": statistics.median(cold),
            "cli_wall_cached_median_s": statistics.median(cached),
            "load_average_1m": os.getloadavg()[0],
            **in_process(stack, runs),
        }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "plan_timing.json").write_text(json.dumps(result, indent=2) + "\n")
    for stack, r in result["stacks"].items():
        print(
            f"{stack:5} {r['resources']:4} resources  plan CLI {r['cli_wall_median_s']:.2f}s "
            f"(cached {r['cli_wall_cached_median_s']:.2f}s, load {r['load_average_1m']:.1f})  "
            f"synth first {r['synth_first_s']:.2f}s / warm {r['synth_warm_median_s']:.2f}s  "
            f"checks {r['checks_median_s'] * 1000:.1f} ms ({r['findings']} findings)"
        )


if __name__ == "__main__":
    main()
