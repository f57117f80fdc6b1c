"""The README's reading figures (rate limits, lockout, viewer pin) are the code's, not typed and forgotten."""

from __future__ import annotations

from pathlib import Path

import pacsguard_lockout as lockout

from orthanc_config import render_nginx, viewer
from orthanc_config.profile import HostProfile

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_rate_limit_and_lockout_figures_match_the_code() -> None:
    p = HostProfile(name="defaults", mode="local")
    assert f"per signed-in user {p.rate_limit_per_second} requests/s with a burst of {p.rate_limit_burst:,}" in README
    assert f"{render_nginx.ANONYMOUS_RATE_PER_SECOND}/s per address, burst {render_nginx.ANONYMOUS_BURST}" in README
    minutes = lockout.DEFAULT_WINDOW_SECONDS // 60
    assert f"after {lockout.DEFAULT_MAX_FAILURES} for one\n  user from one address in {minutes} minutes" in README
    assert f"after {lockout.DEFAULT_MAX_FAILURES_PER_ADDRESS} for any users" in README


def test_the_viewer_csp_quoted_is_the_one_served() -> None:
    quoted = README.split("**Its own CSP**: `", 1)[1].split("...`", 1)[0].replace("\n  ", " ")
    assert render_nginx.VIEWER_CSP.startswith(quoted.strip().rstrip(";"))
    assert viewer.VIEWER_PATH in README
