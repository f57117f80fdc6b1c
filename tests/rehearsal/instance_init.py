"""The emulated EC2 instance's boot, run by Debian's /usr/bin/python3 as root in a fresh mount namespace.

It builds the instance's root file system (an overlay over this machine's: same AMI packages, but every write
stays in the instance's own tmpfs, so /etc, /var and /opt of the machine are never touched), plugs in the
rehearsal's stand-ins (see standins/), chroots into it and runs the user data the way cloud-init does. Then it
stays alive as the instance's anchor: the services the bootstrap started live in this mount namespace.

python3 instance_init.py CONFIG.json      (prints "BOOT <exit code>" when the user data has finished)
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path


def sh(*cmd):
    subprocess.run(cmd, check=True)


def main(config_path):
    cfg = json.loads(Path(config_path).read_text())
    disk = Path(cfg["disk"])
    sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=4g", "instance-disk", str(disk))
    for d in ("upper", "work", "root"):
        (disk / d).mkdir()
    root = disk / "root"
    sh(
        "mount",
        "-t",
        "overlay",
        "overlay",
        "-o",
        f"lowerdir=/,upperdir={disk / 'upper'},workdir={disk / 'work'}",
        str(root),
    )
    # A fresh instance: nothing of this machine's own PACSGuard state shows through the overlay.
    for hidden in cfg["hide"]:
        target = root / hidden.lstrip("/")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    sh("mount", "--rbind", "/dev", str(root / "dev"))
    sh("mount", "-t", "proc", "proc", str(root / "proc"))
    sh("mount", "--rbind", "/sys", str(root / "sys"))
    sh("mount", "-t", "tmpfs", "-o", "mode=0755", "run", str(root / "run"))
    sh("mount", "-t", "tmpfs", "-o", "mode=1777", "tmp", str(root / "tmp"))
    if cfg.get("ebs"):
        # The attached EBS volume as Nitro and udev show it: /dev/disk/by-id/<its serial> -> the block device (a
        # loop device here). The link lives on a tmpfs of this instance's own: the machine's /dev gains nothing.
        by_id = root / "dev/disk/by-id"
        sh("mount", "-t", "tmpfs", "-o", "mode=0755", "ebs-by-id", str(by_id))
        os.symlink(cfg["ebs"]["device"], by_id / cfg["ebs"]["link"])

    socket.sethostname(cfg["hostname"])  # its own UTS namespace: the machine's name stays the machine's
    # The VPC's DNS answers, and the trust store of a machine whose AWS endpoints are the rehearsal's.
    hosts = "127.0.0.1 localhost\n" + "".join(f"{ip} {name}\n" for name, ip in cfg["hosts"].items())
    (root / "etc/hosts").write_text(hosts)
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    bundle.write_text(bundle.read_text() + Path(cfg["web_root"]).read_text())
    for name, where in cfg["standins"].items():
        target = root / where.lstrip("/")
        shutil.copyfile(Path(cfg["standins_dir"]) / name, target)
        os.chmod(target, 0o755)  # noqa: S103 (programs, as in /usr/bin)
    for fs_id, shared in cfg["efs"].items():
        mnt = root / "var/lib/rehearsal-efs" / fs_id
        mnt.mkdir(parents=True)
        sh("mount", "--bind", shared, str(mnt))
    cloud = root / "var/lib/cloud/instance"
    cloud.mkdir(parents=True, exist_ok=True)
    (cloud / "user-data.txt").write_text(Path(cfg["user_data"]).read_text())
    (cloud / "user-data.txt").chmod(0o700)

    os.chroot(root)
    os.chdir("/")
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        **cfg["env"],
    }
    with open("/var/log/cloud-init-output.log", "ab") as log:
        proc = subprocess.Popen(
            ["/bin/bash", "/var/lib/cloud/instance/user-data.txt"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        for line in proc.stdout:
            log.write(line)
            sys.stderr.buffer.write(line)
            sys.stderr.flush()
        rc = proc.wait()
    print(f"BOOT {rc}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    main(sys.argv[1])
