"""nginx for reading: the viewer's own CSP beside the API's, limits keyed by user, failed sign-ins reported."""

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
from orthanc_config.render_nginx import SECURITY_HEADERS, VIEWER_CSP, NginxPaths, render_nginx

PROFILE = HostProfile(name="t", mode="local", https_cidrs=("198.18.0.0/24",))


def render(tmp_path: Path, profile: HostProfile = PROFILE, viewer_root: str | None = None) -> str:
    ca = pki.create_ca(tmp_path, "CA", 10)
    srv = pki.issue(ca, tmp_path, "server", "localhost", days=1, server=True, dns_names=("localhost",))
    (tmp_path / "temp").mkdir(exist_ok=True)
    root = str(tmp_path / "web") if viewer_root is None else viewer_root
    paths = NginxPaths(
        str(tmp_path), str(srv.cert), str(srv.key), str(tmp_path / "nginx.pid"), str(tmp_path), str(tmp_path / "temp"),
        viewer_root=root,
    )  # fmt: skip
    (f,) = render_nginx(profile, paths, "gateway-secret", ("127.0.0.1",))
    Path(f.path).write_text(f.content)
    return f.content


def block(conf: str, opening: str) -> str:
    start = conf.index(opening)
    depth, i = 0, conf.index("{", start)
    for j in range(i, len(conf)):
        depth += {"{": 1, "}": -1}.get(conf[j], 0)
        if depth == 0:
            return conf[start : j + 1]
    raise AssertionError(f"unclosed {opening}")


def test_the_api_keeps_default_src_none_and_the_viewer_gets_its_own_policy(tmp_path: Path) -> None:
    conf = render(tmp_path)
    server_headers = conf[: conf.index("location")]
    assert "default-src 'none'; frame-ancestors 'none'" in server_headers
    viewer = block(conf, "location /viewer/ ")
    assert f'add_header Content-Security-Policy "{VIEWER_CSP}" always;' in viewer
    # add_header in a location replaces the server's: every other security header is repeated there.
    for name in SECURITY_HEADERS:
        assert f"add_header {name} " in viewer
    assert "'unsafe-eval'" not in VIEWER_CSP and "default-src 'none'" in VIEWER_CSP
    assert "script-src 'self' 'wasm-unsafe-eval'" in VIEWER_CSP and "connect-src 'self'" in VIEWER_CSP
    assert not re.search(r"https?:|\*", VIEWER_CSP)  # nothing from another origin


def test_the_viewer_is_behind_the_same_sign_in(tmp_path: Path) -> None:
    conf = render(tmp_path)
    viewer = block(conf, "location /viewer/ ")
    assert "auth_request /pacsguard-viewer-access;" in viewer
    check = block(conf, "location = /pacsguard-viewer-access")
    assert "internal;" in check and "proxy_pass http://127.0.0.1:8042/pacsguard/viewer-access;" in check
    assert "proxy_set_header Authorization $pacsguard_authorization;" in check
    # the plugin's own questions are not reachable from outside
    assert "location = /pacsguard/viewer-access { return 404; }" in conf
    assert "location = /pacsguard/auth-failure { return 404; }" in conf


def test_no_viewer_no_viewer_location(tmp_path: Path) -> None:
    conf = render(tmp_path, dataclasses.replace(PROFILE, viewer=False), viewer_root="")
    assert "/viewer/" not in conf and "auth_request" not in conf


def test_limits_are_keyed_by_user_and_by_address_only_without_one(tmp_path: Path) -> None:
    conf = render(tmp_path)
    assert "limit_req_zone $pacsguard_user_key zone=pacsguard_user" in conf
    assert "limit_req_zone $pacsguard_anonymous_key zone=pacsguard_anonymous" in conf
    assert "limit_req_zone $binary_remote_addr" not in conf  # the old address-keyed limit
    anonymous = block(conf, "map $pacsguard_user_key $pacsguard_anonymous_key")
    assert '"" $binary_remote_addr;' in anonymous and 'default "";' in anonymous
    assert "limit_conn_zone $pacsguard_client_key" in conf


def test_a_1000_image_study_fits_the_default_burst() -> None:
    requests_for_study = 1000 + 10  # a frame per image, plus QIDO and series metadata
    assert PROFILE.rate_limit_burst >= requests_for_study


def test_every_401_is_reported_to_the_plugin_as_the_gateway(tmp_path: Path) -> None:
    conf = render(tmp_path)
    assert "error_page 401 = @pacsguard_auth_failed;" in conf
    failed = block(conf, "location @pacsguard_auth_failed")
    assert "rewrite ^ /pacsguard/auth-failure? break;" in failed and "proxy_pass http://127.0.0.1:8042;" in failed
    assert "proxy_set_header X-PACSGuard-Failed-User $remote_user;" in failed
    assert 'proxy_set_header x-amzn-oidc-data "";' in failed  # a forged token cannot ride along
    assert "proxy_intercept_errors on;" in block(conf, "location / ")


@pytest.mark.skipif(shutil.which("nginx") is None or os.geteuid() != 0, reason="needs root and nginx (make setup)")
def test_nginx_accepts_the_configuration_with_the_viewer(tmp_path: Path) -> None:
    render(tmp_path)
    res = subprocess.run(["nginx", "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_the_access_record_names_the_load_balancers_user(tmp_path: Path) -> None:
    """Found by verify on the rehearsed EC2 hosts: behind the ALB nginx's access record named no user."""
    conf = render(tmp_path)
    (fmt,) = re.findall(r"log_format pacsguard escape=json '([^']*)';", conf)
    assert '"user":"$remote_user$pacsguard_token_user"' in fmt
