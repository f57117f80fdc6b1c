"""nginx hands a machine client's bearer token to the plugin in a header only nginx sets, as the gateway user."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_render_nginx_nft import nginx_conf


def test_bearer_tokens_travel_in_a_header_nginx_owns(tmp_path: Path) -> None:
    conf = nginx_conf(tmp_path)
    assert 'map $http_authorization $pacsguard_bearer {\n    "~^[Bb]earer +([A-Za-z0-9._-]+)$" $1;' in conf
    assert 'map "$http_x_amzn_oidc_data$pacsguard_bearer" $pacsguard_authorization' in conf
    # Set on every proxied request: a client's own X-PACSGuard-Bearer is replaced (or dropped when empty).
    assert "proxy_set_header X-PACSGuard-Bearer $pacsguard_bearer;" in conf
