"""Side by side: `pacsguard audit` and Prowler 5 on the same emulated prod account, good and then broken in every way
of the answer key (tests/audit/answer_key.py). Writes benchmarks/results/prowler_compare.json and
docs/audit-vs-prowler.md.

Prowler is not a project dependency: install it in its own venv first (its pins clash with ours), then run
    python3.11 -m venv .venv-prowler && .venv-prowler/bin/pip install prowler==5.46.0
    .venv/bin/python -m benchmarks.prowler_compare            # both runs (about 15 min), then the attribution
    .venv/bin/python -m benchmarks.prowler_compare --reuse    # attribution only, from the last runs
Prowler reaches moto through AWS_ENDPOINT_URL and HTTP_PROXY (s3control would otherwise go to <account>.127.0.0.1).

A break counts for Prowler when a check fails on the broken account, did not fail on the good one, and names the
broken resource; where several breaks hit one resource, only a check listed among the broken controls'
`equivalents` counts (so one failing check is not credited to every break of that bucket). A new failure that names
no broken resource (account- or region-level) counts for a break whose controls list that check.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "prowler_compare.json"
PROWLER_VENV = ROOT / ".venv-prowler"
PROWLER = PROWLER_VENV / "bin" / "prowler"
RUNS = PROWLER_VENV / "runs"  # raw Prowler output and the audit's side of the last run (not committed)


def emulator_credentials() -> dict[str, str]:
    """moto accepts any key pair; these name no real account."""
    return {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def run_prowler(url: str, region: str, out: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k != "AWS_PROFILE"}
    env.update(emulator_credentials())
    env.update(AWS_ENDPOINT_URL=url, AWS_DEFAULT_REGION=region, HTTP_PROXY=url, HTTPS_PROXY=url, NO_PROXY="")
    # --scan-unused-services: moto attaches no ENIs, so by default Prowler would skip every group and VPC as unused.
    cmd = [str(PROWLER), "aws", "-f", region, "-M", "json-ocsf", "-o", str(out), "-F", "run", "-b", "-z", "--no-color",
           "--scan-unused-services"]  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)  # Prowler appends to an existing output file
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=3600)
    return time.perf_counter() - start


def collect() -> None:
    """Build the good account, audit it with both tools, apply every break, audit again. Keeps everything in RUNS."""
    from policies.cloud.api import AwsApi
    from policies.cloud.audit import run_audit
    from policies.cloud.context import CloudContext
    from tests.audit.account import ACCOUNT, REGION, STACK
    from tests.audit.answer_key import BREAKS
    from tests.audit.conftest import Clients
    from tests.audit.emulated import emulated_prod_account

    RUNS.mkdir(parents=True, exist_ok=True)
    with emulated_prod_account() as (url, ids):

        def audit() -> tuple[list[dict], float]:
            api = AwsApi(region=REGION, endpoint_url=url, account_id=ACCOUNT)
            start = time.perf_counter()
            found = run_audit(CloudContext(api=api, stack=STACK))
            return [f.as_dict() for f in found], time.perf_counter() - start

        good, _ = audit()
        prowler_good_s = run_prowler(url, REGION, RUNS / "good")
        for b in BREAKS:
            b.apply(Clients(url), ids)
        broken, audit_s = audit()
        prowler_s = run_prowler(url, REGION, RUNS / "broken")
    version = subprocess.run([str(PROWLER), "--version"], capture_output=True, text=True, check=False).stdout.strip()
    state = {"ids": ids, "good": good, "broken": broken, "audit_seconds": audit_s, "prowler_seconds": prowler_s,
             "prowler_seconds_good": prowler_good_s, "prowler_version": version, "region": REGION}  # fmt: skip
    (RUNS / "state.json").write_text(json.dumps(state, default=str))


def _resources(run: Path) -> set[str]:
    """Every resource Prowler reported anything about (PASS or FAIL)."""
    files = list(run.glob("run*.json"))
    rows = _last_document(files[0].read_text()) if files else []
    return {f"{x.get('uid', '')} {x.get('name', '')}" for r in rows for x in r.get("resources") or []}


def _fails(run: Path) -> set[tuple[str, str]]:
    files = list(run.glob("run*.json"))
    rows = _last_document(files[0].read_text()) if files else []
    out = set()
    for r in rows:
        if r.get("status_code") != "FAIL":
            continue
        check = (r.get("metadata") or {}).get("event_code", "")
        for res in r.get("resources") or [{}]:
            out.add((check, f"{res.get('uid', '')} {res.get('name', '')}"))
    return out


def _last_document(text: str) -> list[dict[str, Any]]:
    """The last run's findings. Prowler appends to an existing file, continuing its array (`,{...}]`); a directory
    reused by an older run therefore holds that run's array followed by the new run's continuation."""
    first, end = json.JSONDecoder().raw_decode(text)
    rest = text[end:].strip()
    return json.loads("[" + rest[1:]) if rest.startswith(",") else first


def _prowler_file(name: str) -> Path:
    return Path(glob.glob(str(PROWLER_VENV / f"lib/python3*/site-packages/prowler/{name}"))[0])


def write_check_list() -> None:
    """Every AWS check id of the installed Prowler: the catalog's `equivalents` are tested against this list."""
    services = _prowler_file("providers/aws/services")
    ids = sorted(Path(p).name.removesuffix(".metadata.json") for p in glob.glob(f"{services}/*/*/*.metadata.json"))
    (RESULTS.parent / "prowler_checks.txt").write_text("\n".join(ids) + "\n")


def hipaa_checks() -> set[str]:
    doc = json.loads(_prowler_file("compliance/aws/hipaa_aws.json").read_text())
    return {c for req in doc["Requirements"] for c in req.get("Checks", [])}


def attribute() -> dict[str, Any]:
    from policies.catalog import by_id
    from tests.audit.answer_key import BREAKS, EMULATOR_LIMITS, resource_name

    state = json.loads((RUNS / "state.json").read_text())
    ids, broken = state["ids"], state["broken"]
    new_fails = _fails(RUNS / "broken") - _fails(RUNS / "good")
    seen = _resources(RUNS / "broken")
    hipaa = hipaa_checks()

    def equivalents(b: Any) -> set[str]:
        return {x.strip() for c, _ in b.expect for x in by_id(c).equivalents.get("prowler", "").split(",") if x.strip()}

    names = {b.name: [resource_name(ids, key) for _, key in b.expect] for b in BREAKS}
    rows = []
    for b in BREAKS:
        mine = names[b.name]
        ours = all(any(f["control"] == c and f["status"] == "fail" and (n in f["resource"] or n in f["message"])
                       for f in broken) for (c, _), n in zip(b.expect, mine, strict=True))  # fmt: skip
        theirs = set()
        for check, res in new_fails:
            sharing = [o for o in BREAKS if any(n != "account" and n in res for n in names[o.name])]
            if b in sharing and (len(sharing) == 1 or check in equivalents(b)):
                theirs.add(check)  # names the broken resource
            elif not sharing and check in equivalents(b):
                theirs.add(check)  # an account- or region-level finding of the control's own equivalent
        inventoried = any(n != "account" and n in r for n in mine for r in seen)
        rows.append({"break": b.name, "controls": [c for c, _ in b.expect], "resource": mine, "audit": ours,
                     "prowler": sorted(theirs), "prowler_hipaa": sorted(theirs & hipaa),
                     "prowler_reported_the_resource": inventoried})  # fmt: skip
    good_fails = _fails(RUNS / "good")
    return {
        "prowler_version": state["prowler_version"],
        "region": state["region"],
        "breaks": len(rows),
        "audit_caught": sum(r["audit"] for r in rows),
        "prowler_caught": sum(bool(r["prowler"]) for r in rows),
        "prowler_hipaa_caught": sum(bool(r["prowler_hipaa"]) for r in rows),
        "both_missed": sum(not r["audit"] and not r["prowler"] for r in rows),
        "prowler_missed_without_any_finding_on_the_resource": sum(
            not r["prowler"] and not r["prowler_reported_the_resource"] and "account" not in r["resource"] for r in rows
        ),
        "audit_false_failures_on_good_account": sorted(
            {f["control"] for f in state["good"] if f["status"] == "fail" and f["control"] not in EMULATOR_LIMITS}
        ),
        "prowler_failing_checks_on_good_account": len({c for c, _ in good_fails}),
        "prowler_fail_findings_on_good_account": len(good_fails),
        "audit_seconds": round(state["audit_seconds"], 2),
        "prowler_seconds": round(state["prowler_seconds"], 1),
        "prowler_seconds_good": round(state["prowler_seconds_good"], 1),
        "emulator_limits": {k: v[1] for k, v in EMULATOR_LIMITS.items()},
        "rows": rows,
    }


def main() -> None:
    if "--reuse" not in sys.argv:
        collect()
    doc = attribute()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    from benchmarks.prowler_doc import write_doc

    write_doc(doc)
    write_check_list()
    print(
        f"audit caught {doc['audit_caught']}/{doc['breaks']} in {doc['audit_seconds']} s; Prowler "
        f"{doc['prowler_caught']} (hipaa_aws {doc['prowler_hipaa_caught']}) in {doc['prowler_seconds']} s"
    )


if __name__ == "__main__":
    main()
