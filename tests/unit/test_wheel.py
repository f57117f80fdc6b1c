"""A wheel install is the product: build the wheel, install it in a fresh venv (outside the checkout), and run
the commands a user starts with. The venv borrows the project venv's third-party packages (no network) but not
its editable pacsguard, so every project file must come from the wheel."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp / "dist"), str(ROOT)], capture_output=True, text=True)  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp / "dist").glob("pacsguard-*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    target = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    # Third-party dependencies from the project venv, as a plain path entry: its editable-install hooks stay off.
    Path(target, "borrowed-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                              str(wheel)], capture_output=True, text=True)  # fmt: skip
    assert install.returncode == 0, install.stderr
    return env_dir


def _run(env_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(env_dir / "bin" / "pacsguard"), *args], capture_output=True, text=True,
                          cwd=env_dir, env=env, timeout=300)  # fmt: skip


def test_the_wheel_is_what_runs(installed: Path) -> None:
    probe = subprocess.run([str(installed / "bin" / "python"), "-c", "import pacsguard, policies; "
                            "print(pacsguard.__file__); print(policies.__file__)"],
                           capture_output=True, text=True, cwd=installed, check=True)  # fmt: skip
    assert str(ROOT) not in probe.stdout and "site-packages" in probe.stdout


def test_verify_help_from_the_wheel(installed: Path) -> None:
    res = _run(installed, "verify", "--help")
    assert res.returncode == 0 and "--allow-skipped" in res.stdout


def test_the_wheel_ships_the_posture_suite(installed: Path) -> None:
    suites = list(installed.glob("lib/python3*/site-packages/pacsguard/posture/test_*.py"))
    assert suites, "pacsguard/posture (the verify suite) is not in the wheel"


def test_print_iam_policy_from_the_wheel(installed: Path) -> None:
    res = _run(installed, "audit", "--print-iam-policy")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["Statement"][0]["Sid"] == "PacsguardAuditReadOnly"


def test_plan_dev_from_the_wheel(installed: Path) -> None:
    res = _run(installed, "plan", "--stack", "dev", "--format", "json")
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads(res.stdout)
    assert doc["stack"] == "dev" and doc["resources"] and doc["findings"]
