"""The viewer's probes in `pacsguard verify` fail when the viewer is weakened: a looser CSP, no sign-in."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from orthanc_config.render_nginx import VIEWER_CSP
from pacsguard.verify import run
from tests.posture.clients import https

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def target_file(stack: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify-viewer") / "target.json"
    path.write_text(json.dumps({k: v for k, v in stack.items() if not k.startswith("_")}))
    return path


def failing(target_file: Path) -> set[str]:
    return {f.control for f in run(target_file) if f.status in ("fail", "error")}


@contextmanager
def edited_nginx(stack: dict, old: str, new: str, changed: callable) -> Iterator[None]:
    conf = Path(stack["nginx_config"])
    original = conf.read_text()
    assert old in original
    reload = ["ip", "netns", "exec", stack["netns"], "nginx", "-c", str(conf), "-s", "reload"]

    def apply(text: str, done: callable) -> None:
        conf.write_text(text)
        subprocess.run(reload, check=True, capture_output=True)
        deadline = time.monotonic() + 10
        while not done() and time.monotonic() < deadline:  # old workers finish their connections first
            time.sleep(0.1)

    apply(original.replace(old, new), changed)
    try:
        yield
    finally:
        apply(original, lambda: not changed())


def viewer_csp(stack: dict) -> str:
    return https(stack, "GET", "/viewer/", "admin")[2].get("Content-Security-Policy", "")


def test_unsafe_eval_in_the_viewer_csp_is_reported_as_http_hardening(stack: dict, target_file: Path) -> None:
    loose = VIEWER_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'")
    with edited_nginx(stack, VIEWER_CSP, loose, lambda: "unsafe-eval" in viewer_csp(stack)):
        assert failing(target_file) == {"PACS-HTTP-HARDENING"}


def test_a_viewer_without_sign_in_is_reported_as_authentication_and_rbac(stack: dict, target_file: Path) -> None:
    gate = "auth_request /pacsguard-viewer-access;"
    with edited_nginx(stack, gate, "", lambda: https(stack, "GET", "/viewer/")[0] == 200):
        assert failing(target_file) == {"PACS-HTTP-AUTH", "PACS-RBAC"}
