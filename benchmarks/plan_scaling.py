"""How synthesis plus every plan check grows with the stack: 1, 4 and 16 hosts; 2 and 3 AZs.

.venv/bin/python -m benchmarks.plan_scaling
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from stacks.loader import read_stack_config

RESULTS = Path(__file__).resolve().parent / "results"


def main(runs: int = 3) -> list[dict]:
    from infra.synth import synthesize
    from policies.evaluate import evaluate
    from policies.graph import PlanGraph

    synthesize("prod")  # imports and first-use costs out of the way: this measures growth, not start-up
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for zones in (2, 3):
            for hosts in (1, 4, 16):
                cfg = read_stack_config("prod")
                cfg["pacsguard:availability_zones"] = zones
                cfg["pacsguard:hosts"] = {**cfg["pacsguard:hosts"], "count": hosts}
                name = f"scale{zones}az{hosts}"
                (Path(tmp) / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": cfg}))
                synth_s, check_s = [], []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    s = synthesize(name, Path(tmp))
                    t1 = time.perf_counter()
                    evaluate(PlanGraph.from_synthesis(s))
                    check_s.append(time.perf_counter() - t1)
                    synth_s.append(t1 - t0)
                rows.append(
                    {
                        "zones": zones,
                        "hosts": hosts,
                        "resources": len(s.resources),
                        "synth_s": statistics.median(synth_s),
                        "checks_s": statistics.median(check_s),
                    }
                )
                print(
                    f"{zones} AZ, {hosts:2} hosts: {len(s.resources)} resources, "
                    f"synth {rows[-1]['synth_s']:.2f}s, checks {rows[-1]['checks_s'] * 1000:.1f} ms"
                )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "plan_scaling.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
