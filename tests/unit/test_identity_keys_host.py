"""The identity-key service on an AWS host: the firewall, its unit, the plugin configuration and the guard.

Before, Orthanc itself fetched the ALB's keys on 443, which only worked while the package window was open.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pacsguard_guard as guard_mod
import pacsguard_identity as ident
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from orthanc_config import identity_keys as keys
from orthanc_config.bootstrap import plugin_config
from orthanc_config.layout import HostLayout
from orthanc_config.profile import Database, HostProfile
from orthanc_config.render_nftables import egress_rules, render_nftables
from orthanc_config.systemd_units import identity_key_units
from tests.host.conftest import slot_subnet
from tests.unit.test_identity_keys import serving
from tests.unit.test_plugin_guard import ALB_ARN, ROLES, alb_token, basic, lines, settings

ALB_URL = "https://public-keys.auth.elb.eu-central-1.amazonaws.com/{kid}"
JWKS_URL = "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_pool/.well-known/jwks.json"
AWS = HostProfile(
    name="t",
    mode="aws",
    identity="jwt",
    jwt_signer=ALB_ARN,
    jwt_key_url=ALB_URL,
    machine_issuer="https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_pool",
    machine_jwks=JWKS_URL,
    machine_clients=("client-1",),
    database=Database(host="db.example.internal", password_source="file:/etc/pacsguard/secrets/db-password"),
)
LOCAL = HostProfile(name="t", mode="local")


def test_only_the_key_service_user_may_open_https_and_only_to_the_hosts_resolvers_for_names() -> None:
    rules = egress_rules(AWS, ("10.0.0.2",))
    assert [r for r in rules if "dport 443" in r] == [
        f'meta skuid "{keys.USER}" tcp dport 443 accept comment "identity keys: load balancer keys, user pool JWKS"'
    ]
    dns = [r for r in rules if f'skuid "{keys.USER}"' in r and "dport 53" in r]
    assert dns and all("ip daddr { 10.0.0.2 }" in r for r in dns)
    mine = [r for r in rules if f'skuid "{keys.USER}"' in r]
    assert mine[-1].startswith(f'meta skuid "{keys.USER}" counter reject')  # nothing else, anywhere
    orthanc = [r for r in rules if 'skuid "orthanc"' in r]
    assert orthanc[-1].startswith('meta skuid "orthanc" counter reject') and not [r for r in orthanc if "443" in r]


def test_a_local_host_has_no_key_service_and_no_https_egress() -> None:
    assert not keys.needed(LOCAL) and identity_key_units(HostLayout(LOCAL)) == []
    assert keys.USER not in render_nftables(LOCAL, ())


@pytest.mark.skipif(
    shutil.which("nft") is None or shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs root, nft and unshare (make setup)",
)
def test_nft_accepts_the_aws_ruleset_naming_the_key_service_user(tmp_path: Path) -> None:
    """nft resolves user names when it loads a ruleset: the bootstrap creates the user first. Here a private mount
    namespace shows nft a passwd file that has it, so the machine's own users and firewall stay untouched."""
    (tmp_path / "fw.nft").write_text(render_nftables(AWS, ("10.0.0.2",)))
    passwd = tmp_path / "passwd"
    passwd.write_text(Path("/etc/passwd").read_text() + f"{keys.USER}:x:64999:64999::/nonexistent:/usr/sbin/nologin\n")
    script = f"mount --bind {passwd} /etc/passwd && nft -c -f {tmp_path / 'fw.nft'}"
    res = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", script], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


# The VPC and one S3 prefix-list network in this slot's test range; OUTSIDE stands for any internet address.
VPC_CIDR, S3_CIDR = f"{slot_subnet(20)}/24", f"{slot_subnet(21)}/24"
OUTSIDE = "192.0.2.10"  # TEST-NET-1: in the private namespace it leads to a bridge with no ports, nowhere
KEYS_UID = 64999
PROBE = """
import socket, sys
s = socket.socket(); s.settimeout(0.3)
try:
    s.connect((sys.argv[1], 443))
except ConnectionRefusedError:
    print("refused")
except OSError:
    print("no answer")  # the SYN left: nothing in the private namespace answers it
"""


def _https_from_each_user(tmp_path: Path, profile: HostProfile) -> dict[tuple[str, str], str]:
    """Load the rendered ruleset in a private network namespace whose default route is a bridge with no ports, then
    try HTTPS as root, as nobody and as the key service's uid: 'refused' is the firewall's reset."""
    (tmp_path / "fw.nft").write_text(render_nftables(profile, ("10.0.0.2",)))
    passwd = tmp_path / "passwd"
    passwd.write_text(Path("/etc/passwd").read_text() + f"{keys.USER}:x:{KEYS_UID}:{KEYS_UID}::/:/usr/sbin/nologin\n")
    users = {"root": "0", "nobody": "65534", keys.USER: str(KEYS_UID)}
    targets = {"internet": OUTSIDE, "vpc": f"{slot_subnet(20)[:-1]}5", "s3": f"{slot_subnet(21)[:-1]}5"}
    probe = shlex.quote(PROBE)
    probes = " && ".join(
        f'echo "{u} {t} $(setpriv --reuid={uid} --regid={uid} --clear-groups /usr/bin/python3 -c {probe} {a})"'
        for u, uid in users.items()
        for t, a in targets.items()
    )
    script = (
        f"mount --bind {passwd} /etc/passwd && ip link set lo up && ip link add pg0 type bridge && "
        f"ip addr add {slot_subnet(22)[:-1]}2/24 dev pg0 && ip link set pg0 up && ip route add default dev pg0 && "
        f"nft -f {tmp_path / 'fw.nft'} && {probes}"
    )
    res = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", script], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = {}
    for line in res.stdout.splitlines():
        user, target, result = line.split(" ", 2)
        out[(user, target)] = result
    return out


@pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("nft", "unshare", "setpriv", "ip")) or os.geteuid() != 0,
    reason="needs root, nft, unshare, setpriv and ip (make setup)",
)
@pytest.mark.parametrize("window", ["closed", "open"])
def test_closed_window_leaves_internet_https_to_the_key_service_alone(tmp_path: Path, window: str) -> None:
    """Finding 2 of the AWS review: the security group's 443 rule is always open for the key service, so with
    hosts.package_egress: closed the host firewall must stop everyone else (root's apt, the SSM agent, operators)
    from reaching the internet on 443. Open keeps the package window."""
    profile = replace(AWS, package_egress=window, https_egress_cidrs=(VPC_CIDR, S3_CIDR))
    seen = _https_from_each_user(tmp_path, profile)
    for user in ("root", "nobody"):
        assert seen[(user, "internet")] == ("refused" if window == "closed" else "no answer"), seen
        assert seen[(user, "vpc")] == seen[(user, "s3")] == "no answer", seen  # endpoints and S3 stay reachable
    assert seen[(keys.USER, "internet")] == "no answer", seen  # the key service still fetches keys


def test_the_service_runs_as_its_own_confined_user_with_the_profiles_urls() -> None:
    (unit,) = identity_key_units(HostLayout(AWS))
    text = unit.content
    assert unit.path.endswith("pacsguard-identity-keys.service")
    assert f'--alb-key-url "{ALB_URL}" --jwks-url "{JWKS_URL}"' in text and f"--user {keys.USER}\n" in text
    confined = ("NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=CAP_SETUID CAP_SETGID\n")
    assert all(line in text for line in (*confined, "PrivateDevices=yes"))
    assert f"ReadWritePaths={keys.SERVICE_DIR}\n" in text and keys.SOCKET.parent == keys.SERVICE_DIR


HARDENING = (
    "ProtectProc=invisible",
    "ProtectKernelLogs=yes",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "UMask=0077",
)


def test_the_unit_carries_the_reviews_hardening_and_systemd_parses_every_line(tmp_path: Path) -> None:
    """Finding 7 of the AWS review. systemd-analyze verify names any key this systemd (Debian 12's 252) does not
    know or cannot parse; the options leave the service its network (AF_INET*), its Unix socket and its setuid."""
    (unit,) = identity_key_units(HostLayout(AWS))
    lines = unit.content.splitlines()
    assert all(option in lines for option in HARDENING), [o for o in HARDENING if o not in lines]
    if shutil.which("systemd-analyze") is None:
        pytest.skip("needs systemd-analyze (Debian package systemd, which make setup installs) to parse the unit")
    path = tmp_path / "pacsguard-identity-keys.service"
    path.write_text(unit.content)
    res = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0 and res.stderr == "", res.stderr


def test_the_units_command_line_reaches_the_service_with_the_profiles_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """What systemd runs must parse: the bundle's `identity-keys` command hands every option to the service."""
    import shlex

    from orthanc_config import bootstrap

    (unit,) = identity_key_units(HostLayout(AWS))
    exec_start = next(ln for ln in unit.content.splitlines() if ln.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    seen: list[list[str]] = []
    monkeypatch.setattr(keys, "main", lambda a: seen.append(a) or 0)
    assert bootstrap.main(argv[2:]) == 0
    assert seen == [
        ["--alb-key-url", ALB_URL, "--jwks-url", JWKS_URL, "--socket", str(keys.SOCKET), "--cache-dir",
         str(keys.CACHE_DIR), "--user", keys.USER]
    ]  # fmt: skip


def test_the_plugin_is_configured_to_ask_the_service_for_both_kinds_of_key() -> None:
    section = json.loads(plugin_config(HostLayout(AWS), {}).content)["PACSGuard"]
    assert section["JwtKeyUrl"] == section["Machine"]["Jwks"] == f"unix:{keys.SOCKET}"
    local = json.loads(plugin_config(HostLayout(LOCAL), {}).content)["PACSGuard"]
    assert local["JwtKeyUrl"] == ""


# -- the guard, end to end through a running service --------------------------------------------------------------

KEY = ec.generate_private_key(ec.SECP256R1())
KID = "6bd4ec37-06a6-4a32-a2b2-7f6f1d4f4c16"


@pytest.fixture
def key_socket(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    asked: list[str] = []

    def upstream(url: str) -> bytes:
        asked.append(url)
        if url == ALB_URL.format(kid=KID):
            return keys.check_alb_key(
                KEY.public_key().public_bytes(
                    keys.serialization.Encoding.PEM, keys.serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
        raise keys.KeyServiceError(f"cannot fetch {url} (HTTP Error 403: Forbidden)")

    with serving(tmp_path / "keys.sock", keys.KeyService(ALB_URL, "", tmp_path / "cache", upstream)) as path:
        yield path, asked


def _guard(tmp_path: Path, socket_path: Path) -> guard_mod.Guard:
    return guard_mod.Guard(settings(ROLES, tmp_path, "jwt", jwt_signer=ALB_ARN, jwt_key_url=f"unix:{socket_path}"))


def test_a_signed_alb_header_is_accepted_with_the_key_from_the_service(
    tmp_path: Path, key_socket: tuple[Path, list[str]]
) -> None:
    path, asked = key_socket
    g = _guard(tmp_path, path)
    token = alb_token(KEY, KID, **{"custom:pacs_role": "radiologist"})
    headers = {**basic("pacsguard-gateway"), ident.JWT_HEADER: token}
    assert g.http("GET", "/studies", "127.0.0.1", headers)
    assert g.http("GET", "/studies", "127.0.0.1", headers)
    assert asked == [ALB_URL.format(kid=KID)]
    assert [r["user"] for r in lines(g)] == ["dr@x", "dr@x"]


def test_sign_in_is_refused_with_one_clear_reason_when_no_key_can_be_had(
    tmp_path: Path, key_socket: tuple[Path, list[str]]
) -> None:
    path, _ = key_socket
    g = _guard(tmp_path, path)
    other = "0f6f1d4f-06a6-4a32-a2b2-7f6f1d4f4c16"
    token = alb_token(KEY, other, **{"custom:pacs_role": "admin"})
    assert not g.http("GET", "/studies", "127.0.0.1", {**basic("pacsguard-gateway"), ident.JWT_HEADER: token})
    (record,) = lines(g)
    assert record["outcome"] != "0" and "\n" not in record["reason"]
    assert record["reason"].startswith(f"no signing key for kid {other}: identity key service: cannot fetch")
    # The service stopped: still a refusal with its reason, never an unverified sign-in.
    down = _guard(tmp_path, tmp_path / "stopped.sock")
    assert not down.http("GET", "/studies", "127.0.0.1", {**basic("pacsguard-gateway"), ident.JWT_HEADER: token})
    assert "identity key service" in lines(down)[0]["reason"] and "unavailable" in lines(down)[0]["reason"]


def test_a_kid_with_url_characters_never_reaches_the_service(
    tmp_path: Path, key_socket: tuple[Path, list[str]]
) -> None:
    path, asked = key_socket
    g = _guard(tmp_path, path)
    header = {"alg": "ES256", "kid": "../../x", "signer": ALB_ARN}
    token = base64.urlsafe_b64encode(json.dumps(header).encode()).decode() + ".e30.c2ln"
    assert not g.http("GET", "/studies", "127.0.0.1", {**basic("pacsguard-gateway"), ident.JWT_HEADER: token})
    assert asked == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the service drops from root to its own user")
def test_the_service_drops_to_its_user_before_opening_its_socket() -> None:
    """The firewall's `meta skuid` only confines the service if its sockets belong to its user, not root's."""
    import pwd
    import sys
    import tempfile
    import time

    nobody = pwd.getpwnam("nobody")
    tmp_path = Path(tempfile.mkdtemp(prefix="pacsguard-keys-test-"))  # pytest's own is root-only: nobody can't enter
    os.chown(tmp_path, nobody.pw_uid, nobody.pw_gid)
    sock = tmp_path / "keys.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orthanc_config.identity_keys", "--alb-key-url", ALB_URL, "--socket", str(sock),
         "--cache-dir", str(tmp_path / "cache"), "--user", "nobody"],
        stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.umask(0o077),  # the unit's UMask
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sock.exists(), proc.stderr.read() if proc.poll() is not None else "no socket"
        assert sock.stat().st_uid == nobody.pw_uid
        assert sock.stat().st_mode & 0o777 == 0o666  # UMask=0077 does not shut Orthanc out (the dir guards it)
        assert Path(f"/proc/{proc.pid}/status").read_text().count(f"\t{nobody.pw_uid}\t") >= 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp_path)
