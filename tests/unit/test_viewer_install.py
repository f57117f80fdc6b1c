"""The OHIF build: only the pinned bytes are installed, relocated under /viewer/ with no inline script."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from orthanc_config import viewer
from orthanc_config.local_stack import LocalOptions, status_document

INDEX = (
    '<!doctype html><html><head><script>console.time("x"),window.PUBLIC_URL="/"</script>'
    '<link rel="manifest" href="/manifest.json"><script defer src="/app.bundle.1.js"></script>'
    '<link href="/app.bundle.css" rel="stylesheet"></head><body></body></html>'
)


def fake_build(tmp_path: Path, extra: tarfile.TarInfo | None = None) -> Path:
    path = tmp_path / "app.tgz"
    files = {
        "package/dist/index.html": INDEX,
        "package/dist/app.bundle.1.js": '__webpack_require__.p = "/";',
        "package/dist/app.bundle.css": "@font-face{src:url(/a.woff2)}",
        "package/dist/manifest.json": '{"icons": [{"src": "/assets/i.png"}]}',
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
        if extra is not None:
            tar.addfile(extra)
    return path


def test_a_build_that_does_not_match_the_pin_is_refused(tmp_path: Path) -> None:
    with pytest.raises(viewer.ViewerError, match="pinned"):
        viewer.install(tmp_path / "viewer", fake_build(tmp_path))
    assert not (tmp_path / "viewer").exists()


def test_only_https_downloads(tmp_path: Path) -> None:
    with pytest.raises(viewer.ViewerError, match="non-HTTPS"):
        viewer.fetch(tmp_path, url="http://registry.example/app.tgz")


def test_links_in_the_archive_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    link = tarfile.TarInfo("package/dist/evil")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    build = fake_build(tmp_path, link)
    monkeypatch.setattr(viewer, "INTEGRITY", viewer.integrity_of(build))
    with pytest.raises(viewer.ViewerError, match="link"):
        viewer.install(tmp_path / "viewer", build)


def test_installed_build_lives_under_the_viewer_path_with_no_inline_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = fake_build(tmp_path)
    monkeypatch.setattr(viewer, "INTEGRITY", viewer.integrity_of(build))
    target = viewer.install(tmp_path / "viewer", build)
    index = (target / "index.html").read_text()
    assert "<script>" not in index and f'src="{viewer.VIEWER_PATH}{viewer.BOOT_SCRIPT}"' in index
    assert re.findall(r'(?:src|href)="(/[^"]*)"', index) == [
        f"{viewer.VIEWER_PATH}{name}"
        for name in (viewer.BOOT_SCRIPT, "manifest.json", "app.bundle.1.js", "app.bundle.css")
    ]
    assert 'crossorigin="use-credentials"' in index  # the manifest is behind the sign-in too
    assert f'window.PUBLIC_URL="{viewer.VIEWER_PATH}"' in (target / viewer.BOOT_SCRIPT).read_text()
    assert f'__webpack_require__.p = "{viewer.VIEWER_PATH}"' in (target / "app.bundle.1.js").read_text()
    assert f"url({viewer.VIEWER_PATH}a.woff2)" in (target / "app.bundle.css").read_text()
    assert f'"{viewer.VIEWER_PATH}assets/i.png"' in (target / "manifest.json").read_text()
    config = (target / "app-config.js").read_text()
    assert '"qidoRoot": "/dicom-web"' in config and '"wadoRoot": "/dicom-web"' in config
    assert "https://" not in config and "http://" not in config  # this host's DICOMweb only, same origin
    assert viewer.installed_version(target).startswith(viewer.OHIF_VERSION)


@pytest.mark.skipif(not viewer.tarball_path().exists(), reason="needs the pinned OHIF build in the cache (make setup)")
def test_the_pinned_build_relocates_every_chunk_loader(tmp_path: Path) -> None:
    target = viewer.install(tmp_path / "viewer", viewer.tarball_path())
    for script in target.glob("*.js"):
        assert '__webpack_require__.p = "/";' not in script.read_text(errors="ignore"), script.name
    assert "<script>" not in (target / "index.html").read_text()


def test_local_status_names_the_viewer_url(tmp_path: Path) -> None:
    doc = status_document(LocalOptions(name="pgunit", state_dir=tmp_path, subnet="198.19.124.0"))
    assert doc["viewer_url"] == f"https://198.19.124.2{viewer.VIEWER_PATH}"
