"""The emulated AWS region around rehearsed instances: one namespace holding the VPC's bridge, a moto server (S3,
Secrets Manager, KMS, SSM, STS, CloudWatch Logs), a PostgreSQL 15 with TLS standing in for RDS, and an HTTPS
server standing in for AWS's public endpoints (the RDS trust store). Nothing listens outside project namespaces.

Addresses come from the dev stack itself (VPC 10.40.0.0/16): they exist only inside these namespaces.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from orthanc_config import netns, pki
from orthanc_config.machine_issuer import LOCAL_CLIENTS, LocalIssuer
from tests.host.conftest import slot_name, slot_subnet

PG_BIN = Path("/usr/lib/postgresql/15/bin")
HERE = Path(__file__).resolve().parent
MOTO_PORT = 4566
# Subnet A holds the instances and the region's services; subnet B is the load balancer's own.
SERVICES_ADDRESS = "10.40.0.1"
SUBNET_A = "10.40.0"
SUBNET_B = "10.40.1"


def ip(*args: str) -> None:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {res.stderr.strip()}")


def in_ns(name: str, *cmd: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*netns.exec_prefix(name), *cmd], check=check, **kwargs)


def wait_port(ns: str, host: str, port: int, timeout: float = 20) -> None:
    probe = f"import socket; socket.create_connection(('{host}', {port}), timeout=0.5).close()"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if in_ns(ns, sys.executable, "-c", probe, check=False, capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{host}:{port} in namespace {ns} did not open within {timeout}s")


@dataclass
class Region:
    """What the dev stack's plan points at, brought to life: bucket, secrets, database, trust store."""

    base: Path
    plan: dict  # facts read from the synthesised dev stack (see tests/rehearsal/plan_facts.py)
    ns: str = field(default_factory=lambda: slot_name("rhaws"))
    link: netns.Link = field(init=False)
    processes: list[subprocess.Popen] = field(default_factory=list)
    db_password: str = ""

    def __post_init__(self) -> None:
        self.link = netns.Link.for_name(self.ns, slot_subnet(13))

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        for leftover in (self.ns,):
            netns.delete(netns.Link.for_name(leftover, slot_subnet(13)))
        netns.create(self.link)
        ip("-n", self.ns, "link", "add", "br0", "type", "bridge")
        ip("-n", self.ns, "addr", "add", f"{SERVICES_ADDRESS}/24", "dev", "br0")
        ip("-n", self.ns, "link", "set", "br0", "up")
        self._pki()
        self._moto()
        self._database()
        self._web()
        self._aws_resources()

    def stop(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if (self.base / "pg" / "postmaster.pid").exists():
            in_ns(self.ns, "runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.base / "pg"),
                  "-m", "immediate", "-w", "stop", check=False, capture_output=True)  # fmt: skip
        netns.delete(self.link)

    def attach(self, peer_ns: str, if_name: str) -> None:
        """Plug a namespace into the VPC bridge (its side is called eth0)."""
        ip("link", "add", if_name, "netns", self.ns, "type", "veth", "peer", "name", "eth0", "netns", peer_ns)
        ip("-n", self.ns, "link", "set", if_name, "master", "br0", "up")
        ip("-n", peer_ns, "link", "set", "eth0", "up")

    # -- services --------------------------------------------------------------------------------------------
    @property
    def endpoint_for_hosts(self) -> str:
        return f"http://{SERVICES_ADDRESS}:{MOTO_PORT}"

    @property
    def endpoint_for_tests(self) -> str:
        return f"http://{self.link.ns_address}:{MOTO_PORT}"

    def client(self, service: str):
        return boto3.client(
            service,
            region_name=self.plan["region"],
            endpoint_url=self.endpoint_for_tests,
            aws_access_key_id="rehearsal",
            aws_secret_access_key="rehearsal",
        )

    def _spawn(self, log: str, *cmd: str, env: dict | None = None) -> subprocess.Popen:
        out = (self.base / log).open("ab")
        proc = subprocess.Popen([*netns.exec_prefix(self.ns), *cmd], stdout=out, stderr=out, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        self.processes.append(proc)
        return proc

    def _pki(self) -> None:
        """Two authorities of the rehearsal: the RDS CA (database server) and a root for AWS's HTTPS endpoints."""
        self.pki_dir = self.base / "region-pki"
        rds = pki.create_ca(self.pki_dir / "rds", "Rehearsal RDS CA", 30)
        db_host = self.plan["db_host"]
        pki.issue(rds, self.pki_dir / "rds", "server", db_host, days=30, server=True, dns_names=(db_host,),
                  key_gid=_gid("postgres"))  # fmt: skip
        web = pki.create_ca(self.pki_dir / "web", "Rehearsal AWS endpoints root", 30)
        pki.issue(web, self.pki_dir / "web", "server", self.plan["truststore_host"], days=30, server=True,
                  dns_names=tuple(self.plan["public_hosts"]))  # fmt: skip
        self.rds_ca = rds.cert
        self.web_root = web.cert
        self._alb_key()

    def _alb_key(self) -> None:
        """The ALB's signing key: the region's key endpoint serves its public half under a key id."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        self.alb_kid = str(uuid.uuid4())
        self.alb_signing_key = self.pki_dir / "alb-signing.key"
        self.alb_signing_key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))  # fmt: skip
        self.alb_signing_key.chmod(0o600)
        public = key.public_key()
        self.alb_public_pem = public.public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip

    def machine_target(self) -> dict:
        """Cognito's client-credentials grant as the verifier plays it: the pool's key, and each machine client's
        id (the plan's) under the name the posture probes use."""
        profile = self.plan["profile"]
        ids = {name: next(c for c in profile.machine_clients if name in c) for name in LOCAL_CLIENTS}
        return {"issuer": profile.machine_issuer, "signing_key": str(self.machine_key),
                "resource_server": profile.machine_resource_server, "clients": dict(LOCAL_CLIENTS),
                "client_ids": ids}  # fmt: skip

    def alb_target(self) -> dict:
        """The ALB as the verifier plays it (pacsguard/posture/alb.py): its key, key id and ARN."""
        profile = self.plan["profile"]
        return {
            "signing_key": str(self.alb_signing_key),
            "kid": self.alb_kid,
            "signer": profile.jwt_signer,
            "issuer": profile.machine_issuer or "https://rehearsal.example",
            "client": "rehearsal-web-client",
        }

    def _moto(self) -> None:
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "false"}
        # Bound inside the region's namespace only: its bridge (hosts) and its link to the test process.
        self._spawn("moto.log", sys.executable, "-m", "moto.server", "-H", "0.0.0.0", "-p", str(MOTO_PORT), env=env)  # noqa: S104
        wait_port(self.ns, SERVICES_ADDRESS, MOTO_PORT)

    def _database(self) -> None:
        data = self.base / "pg"
        data.mkdir()
        shutil.chown(data, "postgres", "postgres")
        data.chmod(0o700)
        self.db_password = secrets.token_urlsafe(24)
        pwfile = self.base / "pg-pw"
        pwfile.write_text(self.db_password)
        shutil.chown(pwfile, "postgres")
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(data), "-U",
                        self.plan["db_master_user"], "--pwfile", str(pwfile), "-A", "scram-sha-256"],
                       check=True, capture_output=True)  # fmt: skip
        pwfile.unlink()
        rds = self.pki_dir / "rds"
        (data / "postgresql.auto.conf").write_text(
            f"listen_addresses = '{SERVICES_ADDRESS}'\nport = 5432\nssl = on\n"
            f"ssl_cert_file = '{rds / 'server.crt'}'\nssl_key_file = '{rds / 'server.key'}'\n"
            "ssl_min_protocol_version = 'TLSv1.2'\nunix_socket_directories = ''\n"
            "password_encryption = 'scram-sha-256'\n"
        )
        # Like RDS with rds.force_ssl: TLS only, from the VPC only.
        (data / "pg_hba.conf").write_text("hostssl all all 10.40.0.0/16 scram-sha-256\n")
        (self.pki_dir / "rds").chmod(0o755)
        self.pki_dir.chmod(0o755)
        self._spawn("postgres.log", "runuser", "-u", "postgres", "--", str(PG_BIN / "postgres"), "-D", str(data))
        self._wait_ready()
        # RDS creates the stack's database (db_name) with the instance.
        self.psql(f"CREATE DATABASE {self.plan['db_name']}", database="postgres")

    def _wait_ready(self) -> None:
        wait_port(self.ns, SERVICES_ADDRESS, 5432)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.psql("SELECT 1", database="postgres")
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _psql_command(self, user: str | None, password: str | None, database: str) -> tuple[list[str], dict]:
        """psql as the master user (or another), over TLS with full verification, as a client in the VPC."""
        env = {"PGPASSWORD": password or self.db_password, "PATH": "/usr/bin:/bin", "PGSSLMODE": "verify-full",
               "PGSSLROOTCERT": str(self.rds_ca), "PGCONNECT_TIMEOUT": "5", "PGHOSTADDR": SERVICES_ADDRESS}  # fmt: skip
        role = user or self.plan["db_master_user"]
        cmd = [*netns.exec_prefix(self.ns), str(PG_BIN / "psql"), "-h", self.plan["db_host"], "-U", role,
               "-d", database or self.plan["db_name"]]  # fmt: skip
        return cmd, env

    def psql_session(self, *args: str) -> subprocess.Popen:
        """A master-user session that stays open (SQL on its stdin), e.g. another host's bootstrap mid-way."""
        cmd, env = self._psql_command(None, None, "")
        return subprocess.Popen([*cmd, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip

    def psql(self, sql: str, user: str | None = None, password: str | None = None, database: str = "") -> str:
        """Run SQL as the master user (or another), over TLS with full verification, as a client in the VPC."""
        cmd, env = self._psql_command(user, password, database)
        res = subprocess.run([*cmd, "-tAc", sql], capture_output=True, text=True, env=env, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {res.stderr.strip()}")
        return res.stdout.strip()

    def wait_for_sql(self, query: str, timeout: float = 30) -> None:
        """Until the query returns a row (a state another session reaches; no time is asserted)."""
        deadline = time.monotonic() + timeout
        while not self.psql(query):
            if time.monotonic() > deadline:
                raise AssertionError(f"never true: {query}")
            time.sleep(0.1)

    def _web(self) -> None:
        """AWS's public HTTPS endpoints the host fetches from (RDS trust store), with the rehearsal's root."""
        docroot = self.base / "web"
        bundle = docroot / self.plan["truststore_path"].lstrip("/")
        bundle.parent.mkdir(parents=True)
        shutil.copyfile(self.rds_ca, bundle)
        jwks = docroot / self.plan["machine_jwks_path"].lstrip("/")
        jwks.parent.mkdir(parents=True, exist_ok=True)
        self.machine_key = self.pki_dir / "user-pool-signing.key"
        LocalIssuer(self.plan["profile"].machine_issuer, self.machine_key, jwks).ensure()
        alb_key = docroot / self.plan["alb_key_path"].replace("{kid}", self.alb_kid).lstrip("/")
        alb_key.parent.mkdir(parents=True, exist_ok=True)
        alb_key.write_bytes(self.alb_public_pem)
        web = self.pki_dir / "web"
        self._spawn("web.log", sys.executable, str(HERE / "web.py"), SERVICES_ADDRESS, "443", str(docroot),
                    str(web / "server.crt"), str(web / "server.key"))  # fmt: skip
        wait_port(self.ns, SERVICES_ADDRESS, 443)

    def _aws_resources(self) -> None:
        """Exactly the names the plan rendered: the bundle's bucket and key, the database's master secret."""
        s3 = self.client("s3")
        s3.create_bucket(
            Bucket=self.plan["bucket"], CreateBucketConfiguration={"LocationConstraint": self.plan["region"]}
        )
        s3.put_object(Bucket=self.plan["bucket"], Key=self.plan["bundle_key"], Body=self.plan["bundle"].read_bytes())
        # AWS's SSM agent cannot run here: a stand-in package in its documented bucket proves the install path.
        agent_bucket = f"amazon-ssm-{self.plan['region']}"
        s3.create_bucket(Bucket=agent_bucket, CreateBucketConfiguration={"LocationConstraint": self.plan["region"]})
        s3.put_object(Bucket=agent_bucket, Key="latest/debian_amd64/amazon-ssm-agent.deb", Body=self._agent_deb())
        logs = self.client("logs")
        for group in self.plan["profile"].log_groups.values():
            logs.create_log_group(logGroupName=group)
        # Pulumi creates the stack CA's secret without a value; the first host fills it.
        self.client("secretsmanager").create_secret(Name=self.plan["ca_secret_name"])
        self.client("secretsmanager").create_secret(Name=self.plan["db_app_secret_name"])
        self.client("secretsmanager").create_secret(
            Name=self.plan["db_secret_name"],
            SecretString=json.dumps({"username": self.plan["db_master_user"], "password": self.db_password}),
        )

    def fail_over_database(self) -> None:
        """What a Multi-AZ failover looks like to clients: every connection drops, the endpoint comes back."""
        data = self.base / "pg"
        in_ns(self.ns, "runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
              "-w", "stop", capture_output=True)  # fmt: skip
        self._spawn("postgres.log", "runuser", "-u", "postgres", "--", str(PG_BIN / "postgres"), "-D", str(data))
        self._wait_ready()

    def _agent_deb(self) -> bytes:
        root = self.base / "ssm-agent-deb"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(
            "Package: amazon-ssm-agent\nVersion: 0.0.0-rehearsal\nArchitecture: all\nMaintainer: rehearsal\n"
            "Description: stand-in for AWS's SSM agent (the real one needs AWS to talk to)\n"
        )
        (root / "usr/bin").mkdir(parents=True)
        (root / "usr/bin/amazon-ssm-agent").write_text("#!/bin/sh\nexec sleep infinity\n")
        (root / "usr/bin/amazon-ssm-agent").chmod(0o755)
        (root / "lib/systemd/system").mkdir(parents=True)
        (root / "lib/systemd/system/amazon-ssm-agent.service").write_text(
            "[Unit]\nDescription=amazon-ssm-agent (rehearsal stand-in)\n\n[Service]\n"
            "ExecStart=/usr/bin/amazon-ssm-agent\n\n[Install]\nWantedBy=multi-user.target\n"
        )
        subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(self.base / "agent.deb")],
                       check=True, capture_output=True)  # fmt: skip
        return (self.base / "agent.deb").read_bytes()

    def log_messages(self, kind: str, stream: str) -> list[str]:
        """Every event of one instance's stream in the stack's log group of that kind (host, nginx, audit)."""
        logs, group = self.client("logs"), self.plan["profile"].log_groups[kind]
        try:
            page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
        except logs.exceptions.ResourceNotFoundException:
            return []
        messages = [e["message"] for e in page["events"]]
        while page["events"]:
            page = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=page["nextForwardToken"])
            messages += [e["message"] for e in page["events"]]
        return messages

    def rotate_app_secret(self) -> str:
        """A rotation of the application role's own secret (single-user strategy: the role gets the new password,
        then the secret's new version becomes current). Orthanc's open sessions stay; new logins need it."""
        new = secrets.token_urlsafe(24)
        user = self.plan["profile"].database.app_user
        self.psql(f"ALTER ROLE {user} PASSWORD '{new}'")
        self.client("secretsmanager").put_secret_value(
            SecretId=self.plan["db_app_secret_name"], SecretString=json.dumps({"username": user, "password": new})
        )
        return new

    def rotate_master_secret(self) -> str:
        """What RDS's managed rotation does: a new password on the role, then the secret's new current version."""
        new = secrets.token_urlsafe(24)
        self.psql(f"ALTER ROLE {self.plan['db_master_user']} PASSWORD '{new}'")
        self.db_password = new
        self.client("secretsmanager").put_secret_value(
            SecretId=self.plan["db_secret_name"],
            SecretString=json.dumps({"username": self.plan["db_master_user"], "password": new}),
        )
        return new


def _gid(group: str) -> int:
    import grp

    return grp.getgrnam(group).gr_gid
