"""The OHIF web viewer: one pinned build from the npm registry, checked by its integrity hash, served by nginx.

`make setup` fetches it into the cache (python3 -m orthanc_config.viewer fetch); `local up` and the EC2
bootstrap install the same file into the host's viewer folder, configured for the host's own DICOMweb
endpoint. Standard library only: this runs under the host's Debian Python (no tarfile filter= before 3.11.4,
so members are checked by hand).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

OHIF_VERSION = "3.13.2"
TARBALL_URL = f"https://registry.npmjs.org/@ohif/app/-/app-{OHIF_VERSION}.tgz"
# The npm registry's dist.integrity of that version: the download is refused unless it matches.
INTEGRITY = "sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=="
CACHE_DIR = Path(os.environ.get("PACSGUARD_CACHE", "/var/cache/pacsguard"))
VIEWER_PATH = "/viewer/"  # where nginx serves it, on the PACS's own origin
DICOMWEB_ROOT = "/dicom-web"
BOOT_SCRIPT = "pacsguard-boot.js"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
ROOT_URL = re.compile(r'((?:src|href)=")/(?!/)')
# The build is made for the site root; these are every place it says so, outside index.html.
ROOT_REFERENCES = {
    ".js": ('__webpack_require__.p = "/";', '__webpack_require__.p = "{path}";'),
    ".css": ("url(/", "url({path}"),
    ".json": ('"/assets/', '"{path}assets/'),
}


class ViewerError(Exception):
    """The viewer build could not be fetched, verified or installed; the message says what to do."""


def tarball_path(cache_dir: Path = CACHE_DIR) -> Path:
    return cache_dir / f"ohif-app-{OHIF_VERSION}.tgz"


def integrity_of(path: Path) -> str:
    algorithm = INTEGRITY.split("-", 1)[0]
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"{algorithm}-{base64.b64encode(digest.digest()).decode()}"


def fetch(cache_dir: Path = CACHE_DIR, url: str = TARBALL_URL) -> Path:
    """The verified tarball in the cache, downloaded once; a file that does not match the pin is never used."""
    target = tarball_path(cache_dir)
    if target.exists() and integrity_of(target) == INTEGRITY:
        return target
    if not url.startswith("https://"):
        raise ViewerError(f"refusing a non-HTTPS viewer URL: {url}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=120) as resp, partial.open("wb") as out:  # noqa: S310 (https only)
            shutil.copyfileobj(resp, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ViewerError(f"could not download the OHIF viewer from {url}: {exc}") from None
    got = integrity_of(partial)
    if got != INTEGRITY:
        partial.unlink()
        raise ViewerError(f"the OHIF viewer download does not match its pinned hash ({got} != {INTEGRITY}); not used")
    partial.replace(target)
    return target


def app_config(dicomweb_root: str = DICOMWEB_ROOT, public_path: str = VIEWER_PATH) -> str:
    """OHIF's window.config: one DICOMweb source, the host's own, same origin (the browser's sign-in applies)."""
    config = {
        "routerBasename": public_path.rstrip("/"),
        "showStudyList": True,
        "maxNumberOfWebWorkers": 3,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": False,
        "strictZSpacingForVolumeViewport": True,
        "showLoadingIndicator": True,
        "maxNumRequests": {"interaction": 100, "thumbnail": 5, "prefetch": 25},
        "extensions": [],
        "modes": [],
        "investigationalUseDialog": {"option": "never"},
        "defaultDataSourceName": "pacsguard",
        "dataSources": [
            {
                "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                "sourceName": "pacsguard",
                "configuration": {
                    "friendlyName": "PACSGuard",
                    "name": "pacsguard",
                    "qidoRoot": dicomweb_root,
                    "wadoRoot": dicomweb_root,
                    "wadoUriRoot": "/wado",
                    "qidoSupportsIncludeField": True,
                    "supportsReject": False,
                    "supportsStow": False,
                    "imageRendering": "wadors",
                    "thumbnailRendering": "wadors",
                    "enableStudyLazyLoad": True,
                    "supportsFuzzyMatching": False,
                    "supportsWildcard": True,
                    "staticWado": False,
                    "singlepart": "bulkdata,video",
                    "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
                    "omitQuotationForMultipartRequest": True,
                },
            }
        ],
    }
    return (
        "/* Written by PACSGuard: the viewer reads this host's DICOMweb only. */\nwindow.config = "
        + json.dumps(config, indent=2)
        + ";\n"
    )


def rewrite_index(html: str, public_path: str = VIEWER_PATH) -> tuple[str, str]:
    """index.html served under `public_path` with no inline script (the CSP allows 'self' only), and the boot script.

    The build assumes the site root: its inline scripts set PUBLIC_URL to "/" and its links are absolute.
    """
    inline = [
        s.replace('window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{public_path}"') for s in INLINE_SCRIPT.findall(html)
    ]
    boot = ";\n".join(inline) + ";\n"
    html = INLINE_SCRIPT.sub("", html)
    html = ROOT_URL.sub(lambda m: m.group(1) + public_path, html)
    html = html.replace("<head>", f'<head><script src="{public_path}{BOOT_SCRIPT}"></script>', 1)
    # The manifest is fetched without credentials unless asked: it sits behind the sign-in like the rest.
    html = html.replace('<link rel="manifest" ', '<link rel="manifest" crossorigin="use-credentials" ', 1)
    return html, boot


def relocate(folder: Path, public_path: str = VIEWER_PATH) -> int:
    """Point the build's root-relative chunk, font and icon URLs at `public_path`; returns how many files changed."""
    changed = 0
    for path in folder.iterdir():
        rule = ROOT_REFERENCES.get(path.suffix)
        if rule is None or not path.is_file():
            continue
        old, new = rule
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        if old in text:
            path.write_text(text.replace(old, new.format(path=public_path)), encoding="utf-8", errors="surrogateescape")
            changed += 1
    return changed


def _safe_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for member in archive.getmembers():
        name = member.name
        if not name.startswith("package/dist/") or name.startswith("/") or ".." in Path(name).parts:
            continue
        if not (member.isfile() or member.isdir()):
            raise ViewerError(f"the viewer archive holds a link or device ({name}): refused")
        members.append(member)
    return members


def install(target: Path, tarball: Path | None = None, public_path: str = VIEWER_PATH) -> Path:
    """Unpack the verified build into `target` (replaced whole), configured for this host; world-readable."""
    tarball = tarball or fetch()
    if integrity_of(tarball) != INTEGRITY:
        raise ViewerError(f"{tarball} does not match the pinned OHIF {OHIF_VERSION} hash; delete it and fetch again")
    staging = target.with_name(f".{target.name}.pacsguard-tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o755)
    with tarfile.open(tarball, "r:gz") as archive:
        for member in _safe_members(archive):
            dest = staging / Path(member.name).relative_to("package/dist")
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True, mode=0o755)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            source = archive.extractfile(member)
            if source is None:
                raise ViewerError(f"cannot read {member.name} from the viewer archive")
            with source, dest.open("wb") as out:
                shutil.copyfileobj(source, out)
            dest.chmod(0o644)
    relocate(staging, public_path)
    index = staging / "index.html"
    html, boot = rewrite_index(index.read_text(), public_path)
    index.write_text(html)
    (staging / BOOT_SCRIPT).write_text(boot)
    (staging / "app-config.js").write_text(app_config(public_path=public_path))
    for path in (index, staging / BOOT_SCRIPT, staging / "app-config.js"):
        path.chmod(0o644)
    (staging / ".pacsguard-version").write_text(f"{OHIF_VERSION} {INTEGRITY}\n")
    if target.exists():
        shutil.rmtree(target)
    staging.replace(target)
    target.chmod(0o755)
    return target


def installed_version(target: Path) -> str:
    marker = target / ".pacsguard-version"
    return marker.read_text().strip() if marker.exists() else ""


def ensure(target: Path, cache_dir: Path = CACHE_DIR) -> Path:
    """Install unless the same pinned build is already there (bootstrap re-runs stay quick)."""
    if installed_version(target) == f"{OHIF_VERSION} {INTEGRITY}":
        return target
    return install(target, fetch(cache_dir))


def main(argv: list[str]) -> int:
    try:
        if argv[1:] == ["fetch"]:
            print(f"OHIF viewer {OHIF_VERSION}: {fetch()} (integrity checked)")
            return 0
        if len(argv) == 3 and argv[1] == "install":
            print(f"OHIF viewer {OHIF_VERSION} installed in {install(Path(argv[2]))}")
            return 0
    except ViewerError as exc:
        print(f"pacsguard viewer: error: {exc}", file=sys.stderr)
        return 2
    print("usage: python3 -m orthanc_config.viewer fetch|install DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
