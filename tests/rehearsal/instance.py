"""One emulated EC2 instance: a fresh network namespace on the VPC bridge, its IMDSv2 endpoint on
169.254.169.254 (one link away, in a namespace of its own: on EC2 it is no listener of the instance), and the user
data run by Debian's system Python inside its own root file system."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from orthanc_config import netns
from tests.host.conftest import SLOT, slot_name
from tests.rehearsal.region import HERE, SERVICES_ADDRESS, SUBNET_A, SUBNET_B, Region, ip

SYSTEM_PYTHON = "/usr/bin/python3"
# What the AMI must not already carry: the machine's own PACSGuard state stays invisible to an instance.
HIDDEN = ("/etc/pacsguard", "/etc/orthanc-pacsguard", "/var/lib/pacsguard", "/var/log/pacsguard", "/opt/pacsguard",
          "/var/lib/orthanc/db-pacsguard", "/etc/systemd/system/pacsguard-orthanc.service")  # fmt: skip
STANDINS = {"systemctl": "/usr/bin/systemctl", "mount.efs": "/usr/sbin/mount.efs"}


@dataclass
class Instance:
    region: Region
    number: int  # a new number for every launch: a replacement is a new instance
    base: Path
    user_data: str
    efs_dir: Path
    # storage.mode ebs: {"link": the by-id name of the stack's volume, "device": the block device standing in}
    ebs: dict[str, str] | None = None
    ns: str = field(init=False)
    metadata_ns: str = field(init=False)
    address: str = field(init=False)
    boot_seconds: float = 0.0
    boot_log: Path = field(init=False)
    _init: subprocess.Popen | None = None
    _imds: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.ns = slot_name(f"rhi{self.number}")
        self.metadata_ns = slot_name(f"rhm{self.number}")
        self.address = f"{SUBNET_A}.{10 + self.number}"
        self.dir = self.base / f"instance-{self.number}"
        self.boot_log = self.dir / "cloud-init-output.log"

    @property
    def instance_id(self) -> str:
        return f"i-0rehearsal{SLOT}{self.number:05d}"

    def launch(self, timeout: float = 300) -> int:
        """Boot: network, metadata service, then the user data. Returns the user data's exit code."""
        self.dir.mkdir(parents=True)
        (self.dir / "disk").mkdir()
        if netns.exists(self.ns):  # left over by an interrupted run
            netns.kill_all(self.ns)
            ip("netns", "del", self.ns)
        ip("netns", "add", self.ns)
        self.region.attach(self.ns, f"rhv{SLOT}i{self.number}")
        ip("-n", self.ns, "link", "set", "lo", "up")
        ip("-n", self.ns, "addr", "add", f"{self.address}/24", "dev", "eth0")
        ip("-n", self.ns, "route", "add", "default", "via", f"{SUBNET_A}.1")
        # The VPC's routing: the load balancer's subnet is on-link, and replies to modalities go back through it.
        ip("-n", self.ns, "route", "add", f"{SUBNET_B}.0/24", "dev", "eth0")
        ip("-n", self.ns, "route", "add", "10.60.0.0/16", "via", f"{SUBNET_B}.5")
        self._metadata_link()
        self._start_imds()
        start = time.monotonic()
        config = self.dir / "init.json"
        config.write_text(json.dumps(self._init_config()))
        log = self.boot_log.open("ab")
        self._init = subprocess.Popen(
            [*netns.exec_prefix(self.ns), "unshare", "--mount", "--uts", "--propagation", "private", SYSTEM_PYTHON,
             "-I", str(HERE / "instance_init.py"), str(config)],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )  # fmt: skip
        assert self._init.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self._init.stdout:
            if line.startswith("BOOT "):
                rc = int(line.split()[1])
                if rc == 0:
                    self.wait_healthy(deadline)
                self.boot_seconds = time.monotonic() - start
                return rc
            if time.monotonic() > deadline:
                break
        raise RuntimeError(f"instance {self.number} did not finish its user data; see {self.boot_log}")

    def health(self) -> str:
        """What a health check from the VPC sees: the HTTPS status through nginx (401: up, asks for identity)."""
        probe = (
            "import ssl, urllib.request, urllib.error\n"
            "ctx = ssl.create_default_context()\nctx.check_hostname = False\nctx.verify_mode = ssl.CERT_NONE\n"
            f"try:\n    urllib.request.urlopen('https://{self.address}/system', context=ctx, timeout=2)\n"
            "except urllib.error.HTTPError as e:\n    print(e.code)\nexcept OSError as e:\n    print('down')\n"
        )
        res = subprocess.run([*netns.exec_prefix(self.region.ns), SYSTEM_PYTHON, "-c", probe], capture_output=True,
                             text=True, check=False)  # fmt: skip
        return res.stdout.strip()

    def wait_healthy(self, deadline: float) -> None:
        while (status := self.health()) != "401":
            if time.monotonic() > deadline:
                raise RuntimeError(f"instance {self.number} never became healthy (last: {status}); see {self.boot_log}")
            time.sleep(0.2)

    def _metadata_link(self) -> None:
        """169.254.169.254 on the far side of a link of the instance's own, as the Nitro hypervisor answers it."""
        if netns.exists(self.metadata_ns):
            netns.kill_all(self.metadata_ns)
            ip("netns", "del", self.metadata_ns)
        ip("netns", "add", self.metadata_ns)
        ip("link", "add", "imds0", "netns", self.ns, "type", "veth", "peer", "name", "eth0", "netns", self.metadata_ns)
        for ns, dev in ((self.ns, "imds0"), (self.metadata_ns, "eth0"), (self.metadata_ns, "lo")):
            ip("-n", ns, "link", "set", dev, "up")
        ip("-n", self.metadata_ns, "addr", "add", "169.254.169.254/32", "dev", "lo")
        ip("-n", self.metadata_ns, "route", "add", f"{self.address}/32", "dev", "eth0")
        ip("-n", self.ns, "route", "add", "169.254.169.254/32", "dev", "imds0", "src", self.address)

    def _start_imds(self) -> None:
        cfg = self.dir / "imds.json"
        cfg.write_text(
            json.dumps(
                {
                    "account": self.region.plan["account"],
                    "region": self.region.plan["region"],
                    "ami": self.region.plan["ami"],
                    "instance_id": self.instance_id,
                    "instance_type": self.region.plan["instance_type"],
                    "private_ip": self.address,
                    "role": "pacsguard-dev-host-role",
                }
            )
        )
        self._imds = subprocess.Popen(
            [*netns.exec_prefix(self.metadata_ns), SYSTEM_PYTHON, "-I", str(HERE / "imds.py"), str(cfg)],
            stdout=subprocess.DEVNULL, stderr=(self.dir / "imds.log").open("ab"), start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        probe = "import socket; socket.create_connection(('169.254.169.254', 80), timeout=0.5).close()"
        while True:
            res = subprocess.run([*netns.exec_prefix(self.ns), SYSTEM_PYTHON, "-c", probe], check=False,
                                 capture_output=True, text=True)  # fmt: skip
            if res.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the metadata service did not start (exit {self._imds.poll()}): {res.stderr}")
            time.sleep(0.05)

    def _init_config(self) -> dict:
        plan = self.region.plan
        (self.dir / "user-data.txt").write_text(self.user_data)
        # EC2 names an instance after its private address, and the VPC's resolver answers that name.
        hostname = "ip-" + self.address.replace(".", "-")
        hosts = {hostname: self.address, plan["db_host"]: SERVICES_ADDRESS,
                 **dict.fromkeys(plan["public_hosts"], SERVICES_ADDRESS)}  # fmt: skip
        return {
            "disk": str(self.dir / "disk"),
            "hide": list(HIDDEN),
            "hostname": hostname,
            "hosts": hosts,
            "web_root": str(self.region.web_root),
            "standins_dir": str(HERE / "standins"),
            "standins": STANDINS,
            "efs": {plan["efs"]["file_system_id"]: str(self.efs_dir)} if plan["efs"] else {},
            "ebs": self.ebs,
            "user_data": str(self.dir / "user-data.txt"),
            # The one difference from EC2: AWS APIs are answered by the rehearsal's moto server.
            "env": {"AWS_ENDPOINT_URL": self.region.endpoint_for_hosts},
        }

    @property
    def anchor_pid(self) -> int:
        """The process whose namespaces are the instance (mount, root, network): what nsenter enters."""
        assert self._init is not None
        return self._init.pid

    def run(self, *cmd: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        """A command on the instance, as root (what an operator's SSM session would be)."""
        assert self._init is not None
        return subprocess.run(
            ["nsenter", "-t", str(self._init.pid), "--mount", "--net", "--root", "--wd", *cmd],
            check=check,
            **kwargs,
        )

    def read(self, path: str) -> str:
        return self.run("cat", path, capture_output=True, text=True).stdout

    @property
    def running(self) -> bool:
        return self._init is not None and self._init.poll() is None

    def terminate(self) -> None:
        """What EC2 does: the instance and everything on its root volume are gone; EFS and AWS state stay."""
        for proc in (self._init, self._imds):
            if proc is not None and proc.poll() is None:
                proc.terminate()
        netns.kill_all(self.ns)
        if netns.exists(self.metadata_ns):
            netns.kill_all(self.metadata_ns)
        for proc in (self._init, self._imds):
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for ns in (self.ns, self.metadata_ns):
            if netns.exists(ns):
                ip("netns", "del", ns)
