"""`pacsguard plan` reuses a synthesis only while nothing that shapes the graph has changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import infra.synth
from infra import synth_cache
from infra.synth_cache import KEEP_PER_STACK, cache_dir, cache_key, entry_path, plan_synthesis
from infra.synth_model import CapturedResource, Synthesis
from stacks.loader import STACKS_DIR, load_settings


@pytest.fixture
def stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PACSGUARD_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "stacks"
    folder.mkdir()
    shutil.copy(STACKS_DIR / "Pulumi.prod.yaml", folder / "Pulumi.prod.yaml")
    return folder


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A stand-in synthesis (one resource named after the call number) for tests of the cache's own mechanics."""
    calls: list[str] = []

    def fake(stack: str, stacks_dir: Path) -> tuple[Synthesis, dict[str, tuple[str, int]]]:
        calls.append(stack)
        name = f"made-by-call-{len(calls)}"
        resource = CapturedResource("aws:s3/bucket:Bucket", name, f"urn:{name}", "", {}, protect=True, custom=True)
        return Synthesis(stack, load_settings(stack, stacks_dir), [resource]), {name: ("infra/bucket.py", 1)}

    monkeypatch.setattr(synth_cache, "_synthesise", fake)
    return calls


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


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the program's sources that the key reads instead of the real tree."""
    root = tmp_path / "root"
    for folder in synth_cache.SOURCES:
        shutil.copytree(synth_cache.ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for extra in synth_cache.EXTRA_SOURCES:
        (root / extra).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(synth_cache.ROOT / extra, root / extra)
    monkeypatch.setattr(synth_cache, "ROOT", root)
    return root


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        ("infra/waf.py", "a component's source"),
        ("stacks/settings.py", "the settings model"),
        ("orthanc_config/userdata.py", "the host code bundled into user data"),
        ("orthanc_config/plugin/new_hook.sh", "a new bundled file of any suffix"),
        ("pacsguard/locations.py", "the code that computes the stored SARIF locations"),
    ],
)
def test_any_edit_to_the_program_changes_the_key(stacks: Path, fake_root: Path, edit: str, what: str) -> None:
    before = cache_key("prod", stacks)
    with (fake_root / edit).open("a") as f:
        f.write("\n# changed\n")
    assert cache_key("prod", stacks) != before, what


def test_compiled_bytecode_does_not_change_the_key(stacks: Path, fake_root: Path) -> None:
    before = cache_key("prod", stacks)
    (fake_root / "infra" / "__pycache__").mkdir()
    (fake_root / "infra" / "__pycache__" / "waf.cpython-311.pyc").write_bytes(b"\0" * 16)
    assert cache_key("prod", stacks) == before


def test_a_library_upgrade_or_another_python_changes_the_key(
    stacks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "protobuf-6.31.1.dist-info").mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    before = cache_key("prod", stacks)
    (site / "protobuf-6.31.1.dist-info").rename(site / "protobuf-6.32.0.dist-info")
    upgraded = cache_key("prod", stacks)
    assert upgraded != before, "a dependency of the SDK changed version"
    monkeypatch.setattr(sys, "version", sys.version.replace("3.11", "3.12", 1))
    assert cache_key("prod", stacks) != upgraded


def test_the_sdk_switches_in_the_environment_change_the_key(stacks: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_DISABLE_RESOURCE_REFERENCES", raising=False)
    before = cache_key("prod", stacks)
    monkeypatch.setenv("PULUMI_DISABLE_RESOURCE_REFERENCES", "true")
    assert cache_key("prod", stacks) != before
    monkeypatch.delenv("PULUMI_DISABLE_RESOURCE_REFERENCES")
    monkeypatch.setenv("PACSGUARD_TEST_SLOT", "9")  # not read by the program: no reason to miss
    assert cache_key("prod", stacks) == before


def _good_entry(stacks: Path) -> Path:
    plan_synthesis("prod", stacks)
    return entry_path("prod", cache_key("prod", stacks))


def _rewrite_body(entry: Path, edit: object) -> None:
    """Replace the entry's body; the checksum line stays the one of the original body."""
    checksum, _, body = entry.read_bytes().partition(b"\n")
    entry.write_bytes(checksum + b"\n" + edit(body))  # type: ignore[operator]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda e: e.write_text("{not json"), id="garbage"),
        pytest.param(lambda e: e.write_bytes(e.read_bytes()[: e.stat().st_size // 2]), id="truncated"),
        pytest.param(lambda e: e.write_bytes(b""), id="empty"),
        pytest.param(lambda e: _rewrite_body(e, lambda b: b.replace(b"call-1", b"call-X")), id="edited"),
        pytest.param(
            lambda e: e.write_bytes(
                hashlib.sha256(b := json.dumps({"format": 2, "key": e.name[-69:-5]}).encode()).hexdigest().encode()
                + b"\n"
                + b
            ),
            id="intact-but-fields-missing",
        ),
    ],
)
def test_a_damaged_entry_is_ignored_and_rewritten(stacks: Path, counted: list[str], damage: object) -> None:
    entry = _good_entry(stacks)
    damage(entry)  # type: ignore[operator]
    synth, _ = plan_synthesis("prod", stacks)
    assert len(counted) == 2 and synth.resources[0].name == "made-by-call-2", "the damaged entry was used"
    again, _ = plan_synthesis("prod", stacks)
    assert len(counted) == 2 and again.resources[0].name == "made-by-call-2", "the entry was not rewritten whole"


def test_an_entry_is_written_whole_or_not_at_all(
    stacks: Path, counted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(self: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Path, "replace", disk_full)
        synth, _ = plan_synthesis("prod", stacks)
    assert synth.resources[0].name == "made-by-call-1", "the plan itself must not suffer"
    assert list(cache_dir().iterdir()) == [], "a partial or temporary file was left behind"


def test_entries_are_private_and_old_ones_are_pruned(stacks: Path, counted: list[str]) -> None:
    plan_synthesis("prod", stacks)
    other = cache_dir() / f"plan-prod-x-{'0' * 64}.json"  # another stack whose name starts like this one
    other.write_text("{}")
    path = stacks / "Pulumi.prod.yaml"
    for n in range(KEEP_PER_STACK + 1):
        path.write_text(path.read_text() + f"\n# edit {n}\n")
        plan_synthesis("prod", stacks)
    entries = list(cache_dir().glob("plan-prod-????????????????????????????????????????????????????????????????.json"))
    assert len(entries) == KEEP_PER_STACK and other.exists()
    assert entry_path("prod", cache_key("prod", stacks)) in entries
    assert all(e.stat().st_mode & 0o077 == 0 for e in entries) and cache_dir().stat().st_mode & 0o077 == 0


def test_without_the_cache_nothing_is_read_or_written(stacks: Path, counted: list[str]) -> None:
    plan_synthesis("prod", stacks)
    plan_synthesis("prod", stacks, use_cache=False)
    assert len(counted) == 2
    shutil.rmtree(cache_dir())
    plan_synthesis("prod", stacks, use_cache=False)
    assert not cache_dir().exists()


WATCH_A_SYNTHESIS = r"""
import json, os, sys
opened, read_env = set(), set()
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, os.PathLike)):
        opened.add(os.fspath(args[0]))
sys.addaudithook(hook)
real_getitem = type(os.environ).__getitem__
def spy(self, key):
    frame = sys._getframe(1)
    while frame.f_code.co_filename.endswith(("/os.py", "/_collections_abc.py")):
        frame = frame.f_back
    read_env.add((key, frame.f_code.co_filename))
    return real_getitem(self, key)
type(os.environ).__getitem__ = spy
from infra.synth_cache import plan_synthesis
plan_synthesis(sys.argv[1], use_cache=False)
print(json.dumps({"opened": sorted(opened), "env": sorted(read_env)}))
"""


def _program_or_sdk(path: str) -> bool:
    """Code whose environment reads can change the graph: ours, and the Pulumi SDK's (gRPC, OpenTelemetry, protobuf
    and the standard library also read variables during a synthesis: transport and tracing switches)."""
    return (path.startswith(f"{synth_cache.ROOT}/") and "/.venv/" not in path) or "/site-packages/pulumi" in path


def test_the_key_covers_every_file_and_variable_a_real_synthesis_reads() -> None:
    run = subprocess.run(
        [sys.executable, "-c", WATCH_A_SYNTHESIS, "prod"],
        capture_output=True,
        text=True,
        check=True,
        cwd=synth_cache.ROOT,
    )
    seen = json.loads(run.stdout.splitlines()[-1])
    root = synth_cache.ROOT
    keyed = {str(p) for p in synth_cache.source_files()} | {str(STACKS_DIR / "Pulumi.prod.yaml")}
    read = {
        p
        for p in (str(Path(p).resolve()) for p in seen["opened"])
        if p.startswith(f"{root}/") and not any(part in p for part in ("__pycache__", ".venv/", ".egg-info/"))
    }  # fmt: skip (package metadata, read by entry-point discovery, is keyed as installed distributions)
    assert read and read <= keyed, f"read by the synthesis but not in the key: {sorted(read - keyed)}"
    prefixes = synth_cache.ENV_PREFIXES
    uncovered = {f"{k} ({path})" for k, path in seen["env"] if _program_or_sdk(path) and not k.startswith(prefixes)}
    assert not uncovered, f"environment variables the synthesis reads but the key ignores: {sorted(uncovered)}"


HIT_ONLY = r"""
import json, sys
from pacsguard.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print("\nIMPORTED", json.dumps({
    "sdk": sorted(m for m in sys.modules if m.split(".")[0] in ("pulumi", "pulumi_aws", "grpc")),
    "botocore": sorted(m for m in sys.modules if m.split(".")[0] in ("botocore", "boto3")),
    "code": code,
}))
"""


def _plan_in_a_fresh_process(stacks: Path) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", HIT_ONLY, "plan", "--stack", "prod", "--stacks-dir", str(stacks), "--format", "json"],
        capture_output=True, text=True, check=False, cwd=synth_cache.ROOT, env=os.environ.copy(),
    )  # fmt: skip
    marker = run.stdout.rsplit("IMPORTED", 1)
    assert len(marker) == 2, run.stderr
    assert json.loads(marker[0])["stack"] == "prod"
    return json.loads(marker[1])


def test_a_cache_hit_never_imports_the_pulumi_sdk_or_botocore(stacks: Path) -> None:
    plan_synthesis("prod", stacks)
    _plan_in_a_fresh_process(stacks)  # the first plan reads botocore's models once (policies/api_enums.py)
    seen = _plan_in_a_fresh_process(stacks)
    assert seen["code"] == 0
    assert seen["sdk"] == [], f"the Pulumi SDK was imported on a cache hit: {seen['sdk']}"
    assert seen["botocore"] == [], f"botocore was imported on a cache hit: {seen['botocore']}"
