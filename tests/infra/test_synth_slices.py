"""A generated module cut into per-class slices defines, on demand, exactly the classes its whole file would; the
slices follow every edit of the file (never stale), and a file of another shape loads whole."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import _types

from infra import synth_slices
from infra.synth_slices import cut, load_narrowed, load_slices, run_narrowed, run_sliced

GENERATED = """
import pulumi
from typing import Optional

__all__ = ["BaseArgs", "LeafArgs", "RootArgs", "UnusedArgs"]


@pulumi.input_type
class RootArgs:
    def __init__(__self__, *, leaf: Optional[pulumi.Input["LeafArgs"]] = None):
        if leaf is not None:
            pulumi.set(__self__, "leaf", leaf)

    @property
    @pulumi.getter
    def leaf(self) -> Optional[pulumi.Input["LeafArgs"]]:
        return pulumi.get(self, "leaf")


class DerivedArgs(BaseArgs):
    pass


@pulumi.input_type
class LeafArgs:
    def __init__(__self__, *, size: pulumi.Input[int]):
        pulumi.set(__self__, "size", size)

    @property
    @pulumi.getter
    def size(self) -> pulumi.Input[int]:
        return pulumi.get(self, "size")


class BaseArgs:
    VERSION = 1


class UnusedArgs:
    pass
"""


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACSGUARD_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    path = tmp_path / "_inputs.py"
    path.write_text(GENERATED)
    return path


@pytest.fixture
def fresh_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType("pacsguard_test_sliced._inputs")
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def _sliced(path: Path, module: types.ModuleType) -> types.ModuleType:
    slices = load_slices(path.read_bytes(), str(path))
    assert slices is not None
    run_sliced(module, slices)
    return module


def test_a_class_is_defined_on_first_use_and_alone(generated: Path, fresh_module: types.ModuleType) -> None:
    module = _sliced(generated, fresh_module)
    assert "RootArgs" not in vars(module)
    root = module.RootArgs
    assert root.__module__ == module.__name__ and root.__qualname__ == "RootArgs"
    assert "UnusedArgs" not in vars(module) and "LeafArgs" not in vars(module)
    assert module.RootArgs is root, "a class is defined once"


def test_a_class_whose_statement_needs_another_gets_it_first(generated: Path, fresh_module: types.ModuleType) -> None:
    module = _sliced(generated, fresh_module)
    assert module.DerivedArgs.VERSION == 1  # BaseArgs comes later in the file
    assert issubclass(module.DerivedArgs, module.BaseArgs)


def test_the_sdk_resolves_a_sliced_class_s_string_annotations(generated: Path, fresh_module: types.ModuleType) -> None:
    module = _sliced(generated, fresh_module)
    types_of = _types.input_type_types(module.RootArgs)  # the SDK's own resolution, as serialising an input does
    assert types_of == {"leaf": module.LeafArgs}
    assert "UnusedArgs" not in vars(module)


def test_dir_and_import_star_see_every_class(generated: Path, fresh_module: types.ModuleType) -> None:
    module = _sliced(generated, fresh_module)
    namespace: dict[str, object] = {}
    exec(f"from {module.__name__} import *", namespace)  # noqa: S102
    assert {"BaseArgs", "LeafArgs", "RootArgs", "UnusedArgs"} <= namespace.keys()
    assert "DerivedArgs" in dir(module)
    with pytest.raises(AttributeError):
        module.NoSuchArgs  # noqa: B018


def test_an_edited_file_is_cut_again_never_served_stale(generated: Path, fresh_module: types.ModuleType) -> None:
    _sliced(generated, fresh_module)  # fills the cache
    generated.write_text(GENERATED.replace("VERSION = 1", "VERSION = 2"))
    again = types.ModuleType("pacsguard_test_sliced.again")
    assert _sliced(generated, again).BaseArgs.VERSION == 2
    entries = list((Path(synth_slices._entry("x", "classes")).parent).glob("classes-*.marshal"))
    assert len(entries) == 2, "the edit made a new entry, keyed on the file's bytes"


def test_an_upgraded_slicer_or_python_is_a_miss(generated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = generated.read_bytes()
    before = synth_slices.slice_key(source)
    monkeypatch.setattr(synth_slices.importlib.util, "MAGIC_NUMBER", b"\x00\x00\r\n")
    assert synth_slices.slice_key(source) != before, "another bytecode version"
    monkeypatch.undo()
    monkeypatch.setattr(synth_slices, "_own_source_digest", lambda: b"another slicer")
    assert synth_slices.slice_key(source) != before


def test_a_damaged_entry_is_cut_again(generated: Path, fresh_module: types.ModuleType) -> None:
    source = generated.read_bytes()
    load_slices(source, str(generated))
    entry = synth_slices._entry(synth_slices.slice_key(source), "classes")
    entry.write_bytes(entry.read_bytes()[:-100])
    assert _sliced(generated, fresh_module).BaseArgs.VERSION == 1


def test_a_file_of_another_shape_is_not_cut() -> None:
    assert cut(b"import x\nclass A:\n    pass\nA.extra = 1\n", "f.py") is None, "a statement after a class"
    assert cut(b"class A:\n    pass\nclass A:\n    pass\n", "f.py") is None, "a name defined twice"
    assert cut(b"import x\n", "f.py") is None, "no class at all"


def test_a_narrowed_module_imports_what_it_names_and_finds_the_rest(
    generated: Path, fresh_module: types.ModuleType, tmp_path: Path
) -> None:
    inputs = _sliced(generated, fresh_module)
    resource = tmp_path / "thing.py"
    resource.write_text(f"from {inputs.__name__} import *\nLEAF = 'LeafArgs'\n".replace(inputs.__name__, "._inputs"))
    names = set(inputs.__all__)
    code = load_narrowed(resource.read_bytes(), str(resource), names)
    assert code is not None
    module = types.ModuleType("pacsguard_test_sliced.thing")
    module.__package__ = "pacsguard_test_sliced"
    sys.modules.setdefault("pacsguard_test_sliced", types.ModuleType("pacsguard_test_sliced"))
    sys.modules["pacsguard_test_sliced"].__path__ = []  # type: ignore[attr-defined]
    sys.modules["pacsguard_test_sliced._inputs"] = inputs
    try:
        run_narrowed(module, code, inputs, names)
        assert "LeafArgs" in vars(module) and "RootArgs" not in vars(module)
        assert module.RootArgs is inputs.RootArgs, "a name it does not mention still resolves"
        resource.write_text(resource.read_text().replace("LEAF = 'LeafArgs'", "ROOT = 'RootArgs'"))
        edited = load_narrowed(resource.read_bytes(), str(resource), names)
        assert edited is not None and "ROOT" in edited.co_names, "the edit is compiled, not the cached module"
    finally:
        del sys.modules["pacsguard_test_sliced"]
