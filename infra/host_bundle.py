"""The host bundle: orthanc_config as a runnable zip (`python3 host-bundle.zip install --profile FILE`).

Pulumi uploads it as an S3 object; the rehearsal writes the very same archive to a zip file with `write_zip`.
The file list is explicit (sources only, sorted) so the bundle, and with it the launch template, changes only
when the host code does, never because of a stray __pycache__.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pulumi

ORTHANC_CONFIG_DIR = Path(__file__).resolve().parent.parent / "orthanc_config"
BUNDLE_SUFFIXES = (".py", ".sh")
MAIN = "import sys\n\nfrom orthanc_config.bootstrap import main\n\nsys.exit(main())\n"
# A fixed timestamp: the same sources always make the same zip bytes.
ZIP_EPOCH = (2020, 1, 1, 0, 0, 0)


def host_bundle() -> pulumi.AssetArchive:
    files: dict[str, pulumi.Asset | pulumi.Archive] = {
        f"orthanc_config/{path.relative_to(ORTHANC_CONFIG_DIR)}": pulumi.FileAsset(str(path))
        for path in sorted(ORTHANC_CONFIG_DIR.rglob("*"))
        if path.suffix in BUNDLE_SUFFIXES and "__pycache__" not in path.parts
    }
    files["__main__.py"] = pulumi.StringAsset(MAIN)
    return pulumi.AssetArchive(files)


def write_zip(archive: pulumi.AssetArchive, target: Path) -> Path:
    """Materialise an AssetArchive of file and string assets as the zip Pulumi would upload."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, asset in sorted(archive.assets.items()):
            if isinstance(asset, pulumi.FileAsset):
                data = Path(asset.path).read_bytes()
            elif isinstance(asset, pulumi.StringAsset):
                data = asset.text.encode()
            else:
                raise TypeError(f"{name}: only file and string assets are bundled, got {type(asset).__name__}")
            zf.writestr(zipfile.ZipInfo(name, ZIP_EPOCH), data)
    return target
