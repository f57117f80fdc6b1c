"""How many attack cases the posture suite runs against a local stack, and how many held: into
benchmarks/results/posture_cases.json and the README (between its posture-cases markers).

    sudo .venv/bin/python -m benchmarks.posture_cases [TARGET.json]   (default: the running local stack)
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "posture_cases.json"
README = ROOT / "README.md"
MARKERS = re.compile(r"(<!-- posture-cases:start -->\n).*?(\n<!-- posture-cases:end -->)", re.S)


def sentence(result: dict) -> str:
    return (
        f"Against a local stack the posture suite ran **{result['ran']} attack cases** and "
        f"**{result['held']} held** ({result['skipped']} skipped for a missing prerequisite; measured "
        f"{result['date']}, `benchmarks/posture_cases.py`)."
    )


def update_readme(result: dict) -> None:
    text = README.read_text()
    if not MARKERS.search(text):
        raise SystemExit("README.md has no posture-cases markers")
    README.write_text(MARKERS.sub(lambda m: m.group(1) + sentence(result) + m.group(2), text))


def main(argv: list[str] | None = None) -> None:
    from pacsguard.verify import attack_cases, run

    args = sys.argv[1:] if argv is None else argv
    if args:
        target = Path(args[0])
    else:
        from orthanc_config.local_stack import LocalOptions, status

        handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
        handle.write(json.dumps(status(LocalOptions())))
        handle.close()
        target = Path(handle.name)
    findings = run(target)
    cases = attack_cases(findings)
    failed = sorted({f.resource for f in findings if f.status in ("fail", "error")})
    result = {**cases, "failed": failed, "date": dt.date.today().isoformat()}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    update_readme(result)
    print(sentence(result))


if __name__ == "__main__":
    main()
