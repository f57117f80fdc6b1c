"""The rehearsal's network load balancer, run inside its own namespace (standard library and nft).

Like an NLB with client IP preservation: connections to the listener address are DNATed, round robin, to the
healthy registered targets (the modality's own address reaches the host); the targets route their replies back
through this namespace. Health checks are TCP connections to each target, sent from the balancer's address in
its own subnet, every second; a target is healthy after 2 successes and unhealthy after 2 failures.

python3 lb.py CONFIG.json      (CONFIG: vip, source, port, targets_file, status_file)
"""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

TABLE = "rehearsal_lb"


def check(target, port, source):
    try:
        with socket.create_connection((target, port), timeout=1, source_address=(source, 0)):
            return True
    except OSError:
        return False


def apply(vip, port, healthy):
    rules = ""
    if healthy:
        targets = ", ".join(f"{i} : {ip}" for i, ip in enumerate(healthy))
        rules = f"    ip daddr {vip} tcp dport {port} dnat to numgen inc mod {len(healthy)} map {{ {targets} }}\n"
    ruleset = (
        f"table ip {TABLE}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n"
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"
        f"{rules}  }}\n}}\n"
    )
    subprocess.run(["nft", "-f", "-"], input=ruleset, text=True, check=True)


def main(config_path):
    cfg = json.loads(Path(config_path).read_text())
    streak = {}
    state = {}
    applied = None
    checks = 0
    while True:
        targets = json.loads(Path(cfg["targets_file"]).read_text())
        for t in targets:
            ok = check(t, cfg["port"], cfg["source"])
            n = streak.get(t, 0)
            streak[t] = (max(n, 0) + 1) if ok else (min(n, 0) - 1)
            if streak[t] >= 2:
                state[t] = "healthy"
            elif streak[t] <= -2 or t not in state:
                state[t] = "unhealthy" if streak[t] <= -2 else "initial"
        for gone in set(state) - set(targets):
            state.pop(gone)
            streak.pop(gone, None)
        healthy = [t for t in targets if state.get(t) == "healthy"]
        if healthy != applied:
            apply(cfg["vip"], cfg["port"], healthy)
            applied = healthy
        checks += 1
        status = {"targets": state, "checks": checks}
        tmp = Path(cfg["status_file"] + ".tmp")
        tmp.write_text(json.dumps(status))
        tmp.replace(cfg["status_file"])
        time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1])
