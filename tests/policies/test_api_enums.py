"""The deployability rules' AWS API enumerations come from the cache only while botocore's models are unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.synth_cache import cache_dir
from policies import api_enums
from policies.api_enums import cached, enum_values, model_key
from policies.families.deployability import ENUMS

ROOT = Path(__file__).resolve().parents[2]
SHAPES = sorted({(service, shape) for *_, service, shape in ENUMS} | {("wafv2", "PositionalConstraint")})


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PACSGUARD_CACHE_DIR", str(tmp_path / "cache"))
    api_enums.service_enums.cache_clear()
    yield
    api_enums.service_enums.cache_clear()


def _from_botocore(service: str, shape: str) -> frozenset[str]:
    from botocore.loaders import create_loader

    return frozenset(create_loader().load_service_model(service, "service-2")["shapes"][shape]["enum"])


def test_cached_enumerations_are_botocores_own() -> None:
    first = {s: enum_values(*s) for s in SHAPES}
    api_enums.service_enums.cache_clear()
    again = {s: enum_values(*s) for s in SHAPES}  # from the files written by the first round
    assert again == first == {s: _from_botocore(*s) for s in SHAPES}
    assert len(list(cache_dir().glob("api-enums-*.json"))) == len({service for service, _ in SHAPES})
    with pytest.raises(KeyError):
        enum_values("wafv2", "NoSuchShape")


def test_a_damaged_entry_is_read_again_and_replaced() -> None:
    expected = enum_values("elbv2", "ProtocolEnum")
    (entry,) = cache_dir().glob("api-enums-elbv2-*.json")
    body = json.dumps({"format": 1, "service": "elbv2", "enums": {"ProtocolEnum": ["GOPHER"]}})
    entry.write_text(f"{'0' * 64}\n{body}")  # a body its checksum line does not match
    api_enums.service_enums.cache_clear()
    assert enum_values("elbv2", "ProtocolEnum") == expected
    assert "GOPHER" not in entry.read_text()


def test_without_the_cache_nothing_is_read_or_written() -> None:
    enum_values("efs", "ThroughputMode")
    (entry,) = cache_dir().glob("api-enums-efs-*.json")
    body = json.dumps({"format": 1, "service": "efs", "enums": {"ThroughputMode": ["warp"]}}).encode()
    entry.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)  # intact, but not botocore's
    api_enums.service_enums.cache_clear()
    assert enum_values("efs", "ThroughputMode") == {"warp"}, "an intact entry under the same key is read"
    with cached(False):
        assert enum_values("efs", "ThroughputMode") == _from_botocore("efs", "ThroughputMode")
        enum_values("acm", "KeyAlgorithm")
    assert not list(cache_dir().glob("api-enums-acm-*.json"))


@pytest.fixture
def fake_botocore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A botocore install of one model, in a site folder of its own."""
    package = tmp_path / "site" / "botocore"
    model = package / "data" / "guardduty" / "2017-11-28" / "service-2.json"
    model.parent.mkdir(parents=True)
    model.write_text(json.dumps({"shapes": {"DetectorFeature": {"type": "string", "enum": ["S3_DATA_EVENTS"]}}}))
    (tmp_path / "site" / "botocore-1.44.8.dist-info").mkdir()
    monkeypatch.setattr(api_enums, "botocore_root", lambda: package)
    monkeypatch.setattr(api_enums, "search_paths", lambda: [tmp_path / "home" / "models", package / "data"])
    return package


def test_a_botocore_upgrade_or_an_edited_model_changes_the_key(fake_botocore: Path) -> None:
    before = model_key("guardduty")
    site = fake_botocore.parent
    (site / "botocore-1.44.8.dist-info").rename(site / "botocore-1.45.0.dist-info")
    upgraded = model_key("guardduty")
    assert upgraded != before, "botocore's version changed"
    model = fake_botocore / "data" / "guardduty" / "2017-11-28" / "service-2.json"
    model.write_text(model.read_text().replace("S3_DATA_EVENTS", "S3_DATA_EVENTS_AND_MORE"))
    edited = model_key("guardduty")
    assert edited != upgraded, "the model file changed"
    newer = fake_botocore / "data" / "guardduty" / "2099-01-01" / "service-2.json"
    newer.parent.mkdir()
    newer.write_text(model.read_text())
    assert model_key("guardduty") != edited, "a newer API version appeared"
    assert model_key("guardduty") != model_key("elbv2")


READ_GUARDDUTY = r"""
import json
from policies.api_enums import enum_values
print(json.dumps(sorted(enum_values("guardduty", "DetectorFeature"))))
"""


def test_a_model_placed_in_the_users_aws_folder_is_read_afresh(tmp_path: Path) -> None:
    """botocore prefers ~/.aws/models to its own data: a cached enumeration of its own model must not hide one."""
    env = {**os.environ, "HOME": str(tmp_path), "PACSGUARD_CACHE_DIR": str(tmp_path / "cache")}

    def read() -> list[str]:
        run = subprocess.run([sys.executable, "-c", READ_GUARDDUTY], capture_output=True, text=True, check=True,
                             cwd=ROOT, env=env)  # fmt: skip
        return json.loads(run.stdout)

    shipped = read()
    assert "RUNTIME_MONITORING" in shipped
    own = tmp_path / ".aws" / "models" / "guardduty" / "2099-01-01" / "service-2.json"
    own.parent.mkdir(parents=True)
    own.write_text(json.dumps({"shapes": {"DetectorFeature": {"type": "string", "enum": ["ONLY_THIS"]}}}))
    assert read() == ["ONLY_THIS"]
