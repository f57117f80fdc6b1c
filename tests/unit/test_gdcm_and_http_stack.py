"""GDCM only with the deeper-stack civetweb: Debian's 100 KiB HTTP threads crash in its JPEG 2000 decoder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orthanc_config import http_stack
from orthanc_config.profile import HostProfile
from orthanc_config.render_orthanc import GDCM_PLUGIN, OrthancPaths, orthanc_settings

PROFILE = HostProfile(name="t", mode="local")
PATHS = OrthancPaths("/pki/server.crt", "/pki/server.key", "/pki/ca.crt", "/plugin/pacsguard_plugin.py")


def test_gdcm_is_loaded_and_enabled_with_the_stack_fix() -> None:
    cfg = orthanc_settings(PROFILE, dataclasses.replace(PATHS, library_dir="/state/lib"))
    assert f"/usr/share/orthanc/plugins/{GDCM_PLUGIN}" in cfg["Plugins"]
    assert cfg["Gdcm"]["Enable"] is True and cfg["Gdcm"]["Throttling"] >= 1


def test_gdcm_decodes_only_jpeg_2000_and_leaves_the_rest_to_orthanc() -> None:
    """A loaded GDCM decoded every image before Orthanc's own decoder, uncompressed CT included (a second parse
    of the whole file per rendered request); DCMTK inside Orthanc decodes uncompressed, JPEG and JPEG-LS."""
    syntaxes = orthanc_settings(PROFILE, dataclasses.replace(PATHS, library_dir="/state/lib"))["Gdcm"][
        "RestrictTransferSyntaxes"
    ]
    assert {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"} <= set(syntaxes)
    assert not {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.80"} & set(
        syntaxes
    )


def test_without_the_stack_fix_gdcm_stays_out() -> None:
    cfg = orthanc_settings(PROFILE, PATHS)
    assert not any(GDCM_PLUGIN in p for p in cfg["Plugins"]) and cfg["Gdcm"]["Enable"] is False


def test_only_the_known_build_is_patched() -> None:
    assert http_stack.patched_library(b"\x7fELF" + http_stack.STACK_100K * 2) is None  # wrong hash


@pytest.mark.skipif(not http_stack.SYSTEM_LIBRARY.exists(), reason="needs Debian's libcivetweb1 (make setup)")
def test_the_system_civetweb_gets_1_mib_stacks_and_stays_untouched(tmp_path: Path) -> None:
    before = http_stack.SYSTEM_LIBRARY.read_bytes()
    library_dir = http_stack.prepare(tmp_path / "lib")
    if library_dir is None:
        pytest.skip("this libcivetweb is not Debian 12's 1.15+dfsg-4 build the fix was made for")
    patched = (library_dir / http_stack.LIBRARY_NAME).read_bytes()
    assert patched.count(http_stack.STACK_1M) == before.count(http_stack.STACK_1M) + 2
    assert http_stack.STACK_100K not in patched
    assert len(patched) == len(before) and http_stack.SYSTEM_LIBRARY.read_bytes() == before
    assert http_stack.is_prepared(library_dir)


def test_the_ec2_unit_starts_orthanc_with_the_deeper_stack_library_when_it_exists(tmp_path: Path) -> None:
    from orthanc_config.layout import HostLayout
    from orthanc_config.systemd_units import render_units

    layout = HostLayout(dataclasses.replace(PROFILE, state_dir=str(tmp_path)))

    def orthanc_unit() -> str:
        return next(u.content for u in render_units(layout) if u.path.endswith("pacsguard-orthanc.service"))

    def exec_start() -> str:
        return next(ln for ln in orthanc_unit().splitlines() if ln.startswith("ExecStart="))

    assert "--library-dir" not in exec_start() and "Environment=LD_LIBRARY_PATH" not in orthanc_unit()
    layout.library_dir.mkdir()
    (layout.library_dir / http_stack.LIBRARY_NAME).write_bytes(b"\x7fELF" + http_stack.STACK_1M)
    # Through issue-14's launcher, which connects Orthanc to the audit sink before it drops privileges.
    assert " run-orthanc " in exec_start() and exec_start().endswith(f" --library-dir {layout.library_dir}")


def test_the_launcher_gives_orthanc_the_deeper_stack_library_only_when_it_was_made(tmp_path: Path) -> None:
    from orthanc_config.orthanc_launcher import orthanc_environment

    base = {"PATH": "/usr/bin"}
    assert orthanc_environment(base, str(tmp_path)) == {**base, "TCP_NODELAY": "1"}
    assert orthanc_environment(base, None) == {**base, "TCP_NODELAY": "1"}
    (tmp_path / http_stack.LIBRARY_NAME).write_bytes(b"\x7fELF" + http_stack.STACK_1M)
    assert orthanc_environment(base, str(tmp_path)) == {**base, "TCP_NODELAY": "1", "LD_LIBRARY_PATH": str(tmp_path)}
