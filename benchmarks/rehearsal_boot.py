"""How long one rehearsed EC2 instance takes from launch to healthy (root; packages already installed, as in an
AMI that carries them): metadata service up, user data (bundle from S3, bootstrap under /usr/bin/python3, stack CA,
database role), services started, HTTPS answering through nginx. Instances boot one after another.

.venv/bin/python -m benchmarks.rehearsal_boot
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_S = 60


def main(instances: int = 3) -> None:
    from infra.synth import synthesize
    from tests.host.conftest import service_reachable_dir
    from tests.rehearsal.conftest import rehearsal_prerequisites
    from tests.rehearsal.instance import Instance
    from tests.rehearsal.plan_facts import plan_facts
    from tests.rehearsal.region import Region

    reason = rehearsal_prerequisites()
    if reason:
        print(f"rehearsal boot benchmark skipped: {reason}")
        return
    base = service_reachable_dir()
    region = Region(base, plan_facts(synthesize("dev"), base))
    efs = base / "efs"
    efs.mkdir()
    shutil.chown(efs, "orthanc", "orthanc")
    launched: list[Instance] = []
    try:
        region.start()
        for n in range(1, instances + 1):
            inst = Instance(region, n, base, region.plan["user_data"], efs)
            launched.append(inst)
            if inst.launch() != 0:
                raise SystemExit(f"instance {n} failed to boot; see {inst.boot_log}")
            print(f"instance {n}: healthy {inst.boot_seconds:.1f} s after launch")
            inst.terminate()  # the next one boots alone, as a replacement would
    finally:
        for inst in launched:
            inst.terminate()
        region.stop()
        shutil.rmtree(base, ignore_errors=True)
    times = [i.boot_seconds for i in launched]
    doc = {
        "boot_seconds": times,
        "median_s": statistics.median(times),
        "max_s": max(times),
        "goal_s": GOAL_S,
        "first_is_stack_bootstrap": True,  # the first boot also creates the stack CA and the database role
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rehearsal_boot.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
