"""How long `pacsguard plan` takes: cold synthesis (imports included), warm synthesis, and the checks.

.venv/bin/python -m benchmarks.plan_timing
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cli_wall(stack: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pacsguard.cli", "plan", "--stack", stack, "--format", "json"],
            check=False,
            capture_output=True,
        )
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
    runs = 5
    result = {"machine": platform.platform(), "python": platform.python_version(), "stacks": {}}
    for stack in ("dev", "prod"):
        wall = cli_wall(stack, 3)
        result["stacks"][stack] = {"cli_wall_median_s": statistics.median(wall), **in_process(stack, runs)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "plan_timing.json").write_text(json.dumps(result, indent=2) + "\n")
    for stack, r in result["stacks"].items():
        print(
            f"{stack:5} {r['resources']:4} resources  plan CLI {r['cli_wall_median_s']:.2f}s  "
            f"synth first {r['synth_first_s']:.2f}s / warm {r['synth_warm_median_s']:.2f}s  "
            f"checks {r['checks_median_s'] * 1000:.1f} ms ({r['findings']} findings)"
        )


if __name__ == "__main__":
    main()
