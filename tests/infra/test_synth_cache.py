"""`pacsguard plan` reuses a synthesis only while nothing that shapes the graph has changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import infra.synth
from infra import synth_cache
from infra.synth_cache import cache_dir, cache_key, plan_synthesis
from stacks.loader import STACKS_DIR


@pytest.fixture
def stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PACSGUARD_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "stacks"
    folder.mkdir()
    shutil.copy(STACKS_DIR / "Pulumi.prod.yaml", folder / "Pulumi.prod.yaml")
    return folder


def _no_synthesis(*_a: object, **_k: object) -> None:
    raise AssertionError("synthesised although the cache was valid")


def test_second_plan_of_an_unchanged_tree_comes_from_the_cache(stacks: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh, locations = plan_synthesis("prod", stacks)
    monkeypatch.setattr(infra.synth, "synthesize", _no_synthesis)
    cached, cached_locations = plan_synthesis("prod", stacks)
    assert cached.resources == fresh.resources and cached.settings == fresh.settings
    assert cached_locations == locations and locations["web-alb"][0] == "infra/web_ingress.py"


def test_a_changed_stack_file_is_synthesised_again(stacks: Path) -> None:
    before = cache_key("prod", stacks)
    path = stacks / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("count: 2", "count: 3"))
    assert cache_key("prod", stacks) != before
    synth, _ = plan_synthesis("prod", stacks)
    asg = next(r for r in synth.resources if r.name == "hosts-asg")
    assert asg.inputs["desiredCapacity"] == 3


def test_a_changed_source_file_changes_the_key(stacks: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    before = cache_key("prod", stacks)
    fake_root = tmp_path / "root"
    for folder in synth_cache.SOURCES:
        shutil.copytree(synth_cache.ROOT / folder, fake_root / folder)
    (fake_root / "pacsguard").mkdir()
    shutil.copy(synth_cache.ROOT / "pacsguard" / "locations.py", fake_root / "pacsguard" / "locations.py")
    monkeypatch.setattr(synth_cache, "ROOT", fake_root)
    assert cache_key("prod", stacks) == before
    with (fake_root / "infra" / "waf.py").open("a") as f:
        f.write("\n# changed\n")
    assert cache_key("prod", stacks) != before


def test_a_corrupt_or_foreign_entry_is_a_miss_and_no_cache_always_synthesises(
    stacks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = cache_dir() / f"plan-{cache_key('prod', stacks)}.json"
    entry.parent.mkdir(parents=True)
    entry.write_text("{not json")
    calls = []
    real = infra.synth.synthesize
    monkeypatch.setattr(infra.synth, "synthesize", lambda *a: calls.append(a) or real(*a))
    plan_synthesis("prod", stacks)
    plan_synthesis("prod", stacks, use_cache=False)
    assert len(calls) == 2
