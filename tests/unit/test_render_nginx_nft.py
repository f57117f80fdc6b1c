"""nginx and nftables renderings: asserted line by line, then checked by the real tools where present."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from orthanc_config import pki
from orthanc_config.profile import HostProfile
from orthanc_config.render_nftables import render_nftables
from orthanc_config.render_nginx import HEALTH_PATH, NginxPaths, render_nginx

PROFILE = HostProfile(
    name="t", mode="local", https_cidrs=("198.18.0.0/24",), modality_cidrs=("198.18.0.0/24", "2001:db8::/64")
)


def nginx_conf(tmp_path: Path, profile: HostProfile = PROFILE) -> str:
    ca = pki.create_ca(tmp_path, "CA", 10)
    srv = pki.issue(ca, tmp_path, "server", "localhost", days=1, server=True, dns_names=("localhost",))
    (tmp_path / "temp").mkdir()
    paths = NginxPaths(
        str(tmp_path), str(srv.cert), str(srv.key), str(tmp_path / "nginx.pid"), str(tmp_path), str(tmp_path / "temp")
    )
    (f,) = render_nginx(profile, paths, "gateway-secret", ("127.0.0.1",))
    f_path = Path(f.path)
    f_path.write_text(f.content)
    assert f.mode == 0o600  # it carries the gateway credential
    return f.content


def test_tls_versions_ciphers_and_headers(tmp_path: Path) -> None:
    conf = nginx_conf(tmp_path)
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert not re.search(r"TLSv1(\.[01])?[ ;]", conf.replace("TLSv1.2", "").replace("TLSv1.3", ""))
    for cipher in re.search(r"ssl_ciphers (\S+);", conf).group(1).split(":"):
        assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher)
    assert 'Strict-Transport-Security "max-age=63072000; includeSubDomains" always' in conf
    assert "X-Content-Type-Options" in conf and "server_tokens off;" in conf


def test_https_only_and_proxy_to_loopback(tmp_path: Path) -> None:
    conf = nginx_conf(tmp_path)
    listens = re.findall(r"listen (\S+);", conf) + re.findall(r"listen (\S+) ssl;", conf)
    assert all(":443" in entry for entry in listens)
    assert re.findall(r"listen \S+;", conf) == []  # every listen is TLS
    assert "server 127.0.0.1:8042;" in conf and "proxy_pass http://pacsguard_orthanc;" in conf


def test_body_size_admits_dicomweb_uploads_and_gzip_bodies_refused(tmp_path: Path) -> None:
    conf = nginx_conf(tmp_path, dataclasses.replace(PROFILE, max_body_mb=1024))
    assert "client_max_body_size 1024m;" in conf
    assert 'if ($http_content_encoding != "") { return 415; }' in conf


def test_rate_limits_and_health_path(tmp_path: Path) -> None:
    conf = nginx_conf(tmp_path, dataclasses.replace(PROFILE, rate_limit_per_second=7, rate_limit_burst=900))
    assert "zone=pacsguard_user:10m rate=7r/s" in conf and "limit_req zone=pacsguard_user burst=900 nodelay;" in conf
    assert f"location = {HEALTH_PATH}" in conf


def test_access_logs_never_record_query_strings(tmp_path: Path) -> None:
    conf = nginx_conf(tmp_path)
    formats = re.findall(r"log_format \w+ escape=json '([^']+)';", conf)
    assert len(formats) == 2
    for fmt in formats:
        for variable in ("$request_uri", "$args", "$query_string", "$request ", '$request"'):
            assert variable not in fmt


@pytest.mark.skipif(shutil.which("nginx") is None or os.geteuid() != 0, reason="needs root and nginx (make setup)")
@pytest.mark.parametrize("lb_cidrs", [(), ("10.40.16.0/20",)], ids=["direct", "behind-load-balancer"])
def test_nginx_accepts_the_rendered_configuration(tmp_path: Path, lb_cidrs: tuple[str, ...]) -> None:
    nginx_conf(tmp_path, dataclasses.replace(PROFILE, lb_cidrs=lb_cidrs))
    res = subprocess.run(["nginx", "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_firewall_admits_only_https_and_dicom_from_their_networks() -> None:
    rules = render_nftables(PROFILE)
    assert "policy drop;" in rules
    assert 'ip saddr { 198.18.0.0/24 } tcp dport 443 accept comment "https"' in rules
    assert 'ip6 saddr { 2001:db8::/64 } tcp dport 2762 accept comment "dicom-tls"' in rules
    accepts = [line for line in rules.splitlines() if "dport" in line and "accept" in line]
    assert len(accepts) == 3
    assert "8042" not in "".join(accepts) and "5432" not in "".join(accepts)


def test_orthanc_dicom_port_admits_only_nginx_workers_on_loopback() -> None:
    rules = render_nftables(PROFILE)
    assert f'oif "lo" tcp dport {PROFILE.orthanc_dicom_port} meta skuid != "www-data" reject with tcp reset' in rules
    assert f"dport {PROFILE.orthanc_dicom_port} accept" not in rules


@pytest.mark.skipif(
    shutil.which("nft") is None or shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs root, nft and unshare (make setup)",
)
def test_nft_accepts_the_ruleset_in_a_throwaway_namespace(tmp_path: Path) -> None:
    path = tmp_path / "fw.nft"
    path.write_text(render_nftables(PROFILE))
    # A private network namespace that vanishes with the process: nothing touches the machine's firewall.
    res = subprocess.run(["unshare", "--net", "nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_bodies_are_buffered_in_nginx_with_body_and_header_timeouts(tmp_path: Path) -> None:
    """Hole 5: with streaming bodies a slow uploader held one of Orthanc's 50 HTTP threads per connection."""
    conf = nginx_conf(tmp_path)
    assert "proxy_request_buffering off" not in conf
    assert int(re.search(r"client_body_timeout (\d+)s;", conf).group(1)) <= 30
    assert int(re.search(r"client_header_timeout (\d+)s;", conf).group(1)) <= 30


def test_orthanc_http_port_admits_only_nginx_workers_on_loopback() -> None:
    """Hole 7: any local process could reach Orthanc's HTTP port and choose the X-Real-IP the audit records."""
    rules = render_nftables(PROFILE)
    assert f'oif "lo" tcp dport {PROFILE.orthanc_http_port} meta skuid != "www-data" reject with tcp reset' in rules


def test_egress_is_limited_to_the_configured_destinations() -> None:
    """Hole 1: there was no output filter, so a destination created over REST was reachable in clear text."""
    from orthanc_config.profile import Modality

    profile = dataclasses.replace(PROFILE, modalities=(Modality("CT", "198.18.0.9", 11112, ("store",)),))
    output = render_nftables(profile).split("chain output", 1)[1].split("chain forward", 1)[0]
    assert 'meta skuid "orthanc" counter reject' in output
    assert 'meta skuid "www-data" ip daddr 198.18.0.9 tcp dport 11112 accept' in output
    assert output.index("198.18.0.9") < output.index('meta skuid "www-data" counter reject')
    assert "tcp dport 443" not in output and "dport 5432" not in output  # local: no load balancer keys, no RDS


def test_behind_load_balancers_the_client_address_comes_from_x_forwarded_for(tmp_path: Path) -> None:
    # Rate limits and audit lines key on $remote_addr: behind the ALB it must be the client, not the ALB node.
    behind = dataclasses.replace(PROFILE, lb_cidrs=("10.40.16.0/20", "10.40.32.0/20"))
    conf = nginx_conf(tmp_path, behind)
    trusted = re.findall(r"set_real_ip_from (\S+);", conf)
    assert trusted == ["10.40.16.0/20", "10.40.32.0/20"]
    assert "real_ip_header X-Forwarded-For;" in conf and "real_ip_recursive on;" in conf
    assert conf.index("set_real_ip_from") < conf.index("limit_req_zone")
    nft = render_nftables(behind)
    for port in (behind.https_port, behind.dicom_port):
        (line,) = [ln for ln in nft.splitlines() if f"tcp dport {port} accept" in ln and "ip saddr" in ln]
        assert "10.40.16.0/20" in line and "10.40.32.0/20" in line


def test_without_load_balancers_nothing_is_trusted_for_forwarded_addresses(tmp_path: Path) -> None:
    assert "set_real_ip_from" not in nginx_conf(tmp_path)


def test_orthanc_resolves_names_only_through_the_hosts_resolvers(tmp_path: Path) -> None:
    """Review of issue 14: 'orthanc may use port 53 anywhere' let a compromised Orthanc tunnel data over DNS."""
    from orthanc_config.render_nftables import system_resolvers

    conf = tmp_path / "resolv.conf"
    conf.write_text("# DHCP\nsearch eu-west-1.compute.internal\nnameserver 10.40.0.2\nnameserver fd00:ec2::253\n")
    resolvers = system_resolvers(conf)
    assert resolvers == ("10.40.0.2", "fd00:ec2::253")
    remote_db = dataclasses.replace(
        PROFILE, database=dataclasses.replace(PROFILE.database, host="db.abc.eu-west-1.rds.amazonaws.com")
    )
    output = render_nftables(remote_db, resolvers).split("chain output", 1)[1].split("chain forward", 1)[0]
    dns = [ln.strip() for ln in output.splitlines() if "dport 53" in ln]
    assert dns and all("daddr { 10.40.0.2 }" in ln or "daddr { fd00:ec2::253 }" in ln for ln in dns), dns
    assert len(dns) == 4  # udp and tcp, each family
    assert system_resolvers(tmp_path / "absent") == ()
