"""The load-balancing hop in its own namespace, and the modality network behind it (see lb.py)."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field

from orthanc_config import netns
from tests.host.conftest import slot_name
from tests.rehearsal.region import HERE, SUBNET_B, Region, ip

SYSTEM_PYTHON = "/usr/bin/python3"
LB_ADDRESS = f"{SUBNET_B}.5"  # the balancer's own address, in its own subnet: health checks come from here
VIP = f"{SUBNET_B}.100"  # the listener address modalities connect to (the NLB's DNS name resolves here)
# The site network beside the modalities: an address of the modality subnet no AE title is bound to, and a reading
# room's workstation, whose HTTPS the site network sends from its own address (as a NAT gateway would).
UNBOUND_ADDRESS = "10.60.10.99"
READING_ROOM = "10.60.20.10"


def _fresh_ns(name: str) -> None:
    if netns.exists(name):
        netns.kill_all(name)
        ip("netns", "del", name)
    ip("netns", "add", name)
    ip("-n", name, "link", "set", "lo", "up")


@dataclass
class Balancer:
    region: Region
    port: int
    modality_addresses: tuple[str, ...]
    ns: str = field(default_factory=lambda: slot_name("rhlb"))
    modality_ns: str = field(default_factory=lambda: slot_name("rhmod"))
    _proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.dir = self.region.base / "balancer"
        self.targets_file = self.dir / "targets.json"
        self.status_file = self.dir / "status.json"

    def start(self) -> None:
        self.dir.mkdir(exist_ok=True)
        _fresh_ns(self.ns)
        _fresh_ns(self.modality_ns)
        self.region.attach(self.ns, slot_name("rhvlb"))
        ip("-n", self.ns, "addr", "add", f"{LB_ADDRESS}/24", "dev", "eth0")
        ip("-n", self.ns, "route", "add", "10.40.0.0/24", "dev", "eth0")
        subprocess.run([*netns.exec_prefix(self.ns), "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        # The modality network (reached over the site VPN on AWS): its gateway is the balancer.
        ip("link", "add", "front", "netns", self.ns, "type", "veth", "peer", "name", "eth0", "netns",
           self.modality_ns)  # fmt: skip
        ip("-n", self.ns, "addr", "add", "10.60.10.1/24", "dev", "front")
        ip("-n", self.ns, "link", "set", "front", "up")
        ip("-n", self.modality_ns, "link", "set", "eth0", "up")
        for address in self.modality_addresses:
            ip("-n", self.modality_ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", self.modality_ns, "addr", "add", f"{UNBOUND_ADDRESS}/24", "dev", "eth0")
        ip("-n", self.modality_ns, "route", "add", "default", "via", "10.60.10.1")
        # Reading-room HTTPS leaves the site network from the reading room's address; its replies come back here.
        snat = (f"table ip site {{\n  chain post {{\n    type nat hook postrouting priority srcnat; policy accept;\n"
                f"    tcp dport 443 snat to {READING_ROOM}\n  }}\n}}\n")  # fmt: skip
        subprocess.run([*netns.exec_prefix(self.modality_ns), "nft", "-f", "-"], input=snat, text=True, check=True)
        ip("-n", self.ns, "route", "add", f"{READING_ROOM}/32", "via", self.modality_addresses[0])
        self._write_targets([])
        cfg = self.dir / "lb.json"
        files = {"targets_file": str(self.targets_file), "status_file": str(self.status_file)}
        cfg.write_text(json.dumps({"vip": VIP, "source": LB_ADDRESS, "port": self.port, **files}))
        self._proc = subprocess.Popen([*netns.exec_prefix(self.ns), SYSTEM_PYTHON, "-I", str(HERE / "lb.py"), str(cfg)],
                                      stdout=subprocess.DEVNULL, stderr=(self.dir / "lb.log").open("ab"),
                                      start_new_session=True)  # fmt: skip

    def _write_targets(self, targets: list[str]) -> None:
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(targets)))
        tmp.replace(self.targets_file)  # the balancer never reads a half-written list

    def register(self, *addresses: str) -> None:
        self._write_targets([*json.loads(self.targets_file.read_text()), *addresses])

    def deregister(self, *addresses: str) -> None:
        self._write_targets([t for t in json.loads(self.targets_file.read_text()) if t not in addresses])

    def status(self) -> dict[str, str]:
        try:
            return json.loads(self.status_file.read_text())["targets"]
        except (OSError, ValueError):
            return {}

    def wait_healthy(self, *addresses: str, timeout: float = 60) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if all(status.get(a) == "healthy" for a in addresses):
                return status
            time.sleep(0.3)
        raise AssertionError(f"targets not healthy after {timeout}s: {self.status()}")

    def in_modality_network(self, *cmd: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([*netns.exec_prefix(self.modality_ns), *cmd], check=False, **kwargs)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        for name in (self.modality_ns, self.ns):
            if netns.exists(name):
                netns.kill_all(name)
                ip("netns", "del", name)
