"""Run only the classes a program uses from a pulumi-aws service's shared `_inputs.py` and `outputs.py`.

Each service keeps every nested Args class, its *ArgsDict TypedDict and every output class in two generated files,
and importing one runs all of them (wafv2's alone: ~3,000 classes decorated at import, ~0.3 s). Here such a file
is cut into its header (the imports, `__all__`) and one slice per top-level class; the module runs its header, then
a class's slice on first access, together with every class of the file that slice names (the SDK resolves a
class's string annotations against its module's globals, so they must be there first). The resource and function
modules of the service import `_inputs` by `import *`, which would ask for every name: they run with that line
narrowed to the names their source mentions, and look up any other one in `_inputs` on demand.

Cutting a file costs a parse (~1 s for wafv2): the slices are compiled once and kept, like bytecode, in the plan
cache folder under the SHA-256 of the generated file, Python's bytecode magic and this module's own source, so an
upgraded or edited pulumi-aws (or slicer) is a miss and is cut afresh (tests/infra/test_synth_slices.py). A file
this module does not understand (a top-level statement other than a class after the first class, a name defined
twice) is not cut: it loads whole, as without this module.
"""

from __future__ import annotations
import __future__

import dis
import hashlib
import importlib.util
import marshal
import re
import types
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SLICED = ("_inputs", "outputs")  # the shared files worth cutting; _enums is small and star-imported by _inputs
FORMAT = 1
STAR_INPUTS = "from ._inputs import *"
# Compile with `from __future__ import annotations`: a signature's annotations (`pulumi.Input[Sequence[...]]`) stay
# strings instead of building typing objects at every `def` (most of a resource module's import). The SDK reads
# annotations only through `typing.get_type_hints` with the module's globals, which evaluates those strings to the
# same types. A TypedDict is the exception (it reads NotRequired[...] when the class is made): compiled as written.
LAZY_ANNOTATIONS = __future__.annotations.compiler_flag
# An identifier in a string annotation, not the attribute part of a dotted one ('outputs.X' is looked up on the
# `outputs` module, which defines X on that access).
_CLASS_LINE = re.compile(r"class ([A-Za-z_]\w*)\b")
_BARE_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_]\w*")


@dataclass
class Slices:
    """A generated module cut into its header and one code object per top-level class."""

    header: types.CodeType
    classes: dict[str, bytes]  # name -> marshalled code, unmarshalled on first use
    names: dict[str, list[str]]  # name -> the file's other classes its text names (its annotations' strings too)
    loaded: dict[str, types.CodeType] = field(default_factory=dict)

    def code(self, name: str) -> types.CodeType:
        if name not in self.loaded:
            self.loaded[name] = marshal.loads(self.classes[name])  # noqa: S302 (our own cache, checksummed)
        return self.loaded[name]


def mentioned(text: str) -> set[str]:
    """Every identifier in `text` but the attribute part of a dotted name: a name, or one inside a string
    annotation ('WebAclRuleArgs'). Docstrings count too: they can only add a class, never miss one."""
    return set(_BARE_IDENTIFIER.findall(text))


def cut(source: bytes, filename: str) -> Slices | None:
    """The header and per-class slices of a generated module, or None if its shape is not the expected one.

    A generated module's top-level statements start at column 0 and its class bodies are indented, so a class
    starts at its first `@` or `class` line in column 0. Any other line in column 0 after the first class means
    another shape: the file is not cut. A wrong cut could only end inside a string or brackets, which does not
    compile, so it is not cut either; each slice must define the class it is named after.
    """
    lines = source.decode().splitlines(keepends=True)
    starts: list[tuple[int, str]] = []
    decorated: int | None = None
    for number, line in enumerate(lines):
        if line.startswith("@"):
            decorated = number if decorated is None else decorated
        elif match := _CLASS_LINE.match(line):
            starts.append((number if decorated is None else decorated, match.group(1)))
            decorated = None
        elif starts and line[:1] not in ("", " ", "\t", "\n", "\r", "#"):
            return None
    names = [name for _, name in starts]
    if not starts or decorated is not None or len(set(names)) != len(names):
        return None
    ends = [start for start, _ in starts[1:]] + [len(lines)]
    texts = {name: "".join(lines[start:end]) for (start, name), end in zip(starts, ends, strict=True)}
    try:
        header = compile("".join(lines[: starts[0][0]]), filename, "exec", dont_inherit=True)
        code = {name: _shifted(_compiled(texts[name], filename), start) for start, name in starts}
    except SyntaxError:
        return None
    if any(code[name].co_names.count(name) == 0 or _defines_other(code[name], name) for name in code):
        return None
    known = set(names)
    return Slices(
        header=header,
        classes={name: marshal.dumps(c) for name, c in code.items()},
        names={name: sorted((mentioned(texts[name]) & known) - {name}) for name in names},
    )


def _compiled(text: str, filename: str) -> types.CodeType:
    """A class slice's code; its annotations stay strings unless it is a TypedDict (see LAZY_ANNOTATIONS)."""
    first_class_line = next(line for line in text.splitlines() if line.startswith("class "))
    flags = 0 if "TypedDict" in first_class_line else LAZY_ANNOTATIONS
    return compile(text, filename, "exec", flags=flags, dont_inherit=True)


def _shifted(code: types.CodeType, lines: int) -> types.CodeType:
    """`code` compiled from a slice, numbered as the lines of the whole file (for tracebacks and `inspect`)."""
    consts = tuple(_shifted(c, lines) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_firstlineno=code.co_firstlineno + lines, co_consts=consts)


def _defines_other(code: types.CodeType, name: str) -> bool:
    """Whether a slice's code binds a module-level name other than its class (it was not a lone class statement)."""
    stored = {i.argval for i in dis.get_instructions(code) if i.opname in ("STORE_NAME", "STORE_GLOBAL")}
    return stored != {name}


def narrowed(source: bytes, filename: str, inputs: set[str]) -> types.CodeType | None:
    """A resource or function module's code with `from ._inputs import *` narrowed to the names it mentions."""
    text = source.decode()
    lines = text.splitlines(keepends=True)
    stars = [i for i, line in enumerate(lines) if line.rstrip() == STAR_INPUTS]
    if len(stars) != 1:
        return None
    wanted = sorted(mentioned(text) & inputs)
    # One line for one line: the module's line numbers (its tracebacks) stay those of the file.
    lines[stars[0]] = f"from ._inputs import ({', '.join(wanted)})\n" if wanted else "\n"
    return compile("".join(lines), filename, "exec", flags=LAZY_ANNOTATIONS, dont_inherit=True)


@cache
def _own_source_digest() -> bytes:
    return hashlib.sha256(Path(__file__).read_bytes()).digest()


def slice_key(source: bytes) -> str:
    digest = hashlib.sha256(b"%d\0" % FORMAT)
    digest.update(importlib.util.MAGIC_NUMBER + _own_source_digest())
    digest.update(hashlib.sha256(source).digest())
    return digest.hexdigest()


def _entry(key: str, kind: str) -> Path:
    from infra.synth_cache import cache_dir

    return cache_dir() / "slices" / f"{kind}-{key}.marshal"


def load_slices(source: bytes, filename: str) -> Slices | None:
    """The file's slices: from the cache while the file is byte for byte the one they were cut from."""
    from infra.synth_cache import read_checked, write_checked

    entry = _entry(slice_key(source), "classes")
    body = read_checked(entry)
    if body is not None:
        try:
            doc = marshal.loads(body)  # noqa: S302 (written by this module, checksummed)
            if doc["format"] == FORMAT and doc["filename"] == filename:
                return Slices(header=doc["header"], classes=doc["classes"], names=doc["names"])
        except (ValueError, TypeError, KeyError, EOFError):
            pass  # damaged or foreign: cut the file again and replace the entry
    slices = cut(source, filename)
    if slices is not None:
        fields = {"header": slices.header, "classes": slices.classes, "names": slices.names}
        write_checked(entry, marshal.dumps({"format": FORMAT, "filename": filename, **fields}))
    return slices


def load_narrowed(source: bytes, filename: str, inputs: set[str]) -> types.CodeType | None:
    from infra.synth_cache import read_checked, write_checked

    key = hashlib.sha256(slice_key(source).encode() + "\0".join(sorted(inputs)).encode()).hexdigest()
    entry = _entry(key, "narrowed")
    body = read_checked(entry)
    if body is not None:
        try:
            doc = marshal.loads(body)  # noqa: S302 (written by this module, checksummed)
            if doc["format"] == FORMAT and doc["filename"] == filename:
                return doc["code"]
        except (ValueError, TypeError, KeyError, EOFError):
            pass
    code = narrowed(source, filename, inputs)
    if code is not None:
        write_checked(entry, marshal.dumps({"format": FORMAT, "filename": filename, "code": code}))
    return code


class _SlicedModule:
    """Defines a sliced module's classes on demand."""

    def __init__(self, module: types.ModuleType, slices: Slices) -> None:
        self.namespace = module.__dict__
        self.slices = slices

    def define(self, name: str, *, mentions: bool = False) -> None:
        """Define `name`; with `mentions`, every class it names too, so its string annotations resolve."""
        for each in [name, *self.slices.names[name]] if mentions else [name]:
            if each not in self.namespace:
                self._define(each)

    def _define(self, name: str) -> None:
        """Run the class's slice; a class of the file its statement evaluates (a base, a decorator argument) is
        defined first. A failed class statement binds nothing, so running it again is safe."""
        while name not in self.namespace:
            try:
                exec(self.slices.code(name), self.namespace)  # noqa: S102 (pulumi-aws' own generated code)
            except NameError as missing:
                if missing.name not in self.slices.classes or missing.name in self.namespace:
                    raise
                self._define(missing.name)


_SLICED: dict[str, _SlicedModule] = {}


def run_sliced(module: types.ModuleType, slices: Slices) -> None:
    """Run the header now and each class on first access (or when the SDK resolves a sliced class's annotations)."""
    exec(slices.header, module.__dict__)  # noqa: S102 (pulumi-aws' own generated code)
    sliced = _SlicedModule(module, slices)
    _SLICED[module.__name__] = sliced
    mentions = not _resolve_hints_through_us()  # without the hook, a class comes with every class it reaches

    def __getattr__(name: str) -> Any:
        if name in slices.classes:
            if mentions:
                _define_reachable(sliced, name)
            else:
                sliced.define(name)
            return sliced.namespace[name]
        raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        for name in slices.classes:
            sliced.define(name)
        return sorted(sliced.namespace)

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    module.__dir__ = __dir__  # type: ignore[method-assign]


def _define_reachable(sliced: _SlicedModule, name: str) -> None:
    pending, seen = [name], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        sliced.define(current)
        pending.extend(sliced.slices.names[current])


def _resolve_hints_through_us() -> bool:
    """Make the SDK define what a sliced class's annotations name before it resolves them; False if it cannot be.

    The SDK resolves a class's string annotations (`'WebAclRuleStatementArgs'`) with a copy of its module's globals
    (`pulumi._types._globals_for_cls`): the names must be defined then, and only then. Where that function is
    missing (another SDK version), the caller defines every class a class reaches instead.
    """
    from pulumi import _types

    current = getattr(_types, "_globals_for_cls", None)
    if current is None:
        return False
    if getattr(current, "_pacsguard_slices", False):
        return True

    def _globals_for_cls(cls: type) -> Any:
        for base in cls.__mro__:
            sliced = _SLICED.get(base.__module__)
            if sliced is not None and base.__name__ in sliced.slices.classes:
                sliced.define(base.__name__, mentions=True)
        return current(cls)

    _globals_for_cls._pacsguard_slices = True  # type: ignore[attr-defined]
    _types._globals_for_cls = _globals_for_cls
    return True


def run_narrowed(module: types.ModuleType, code: types.CodeType, inputs: types.ModuleType, names: set[str]) -> None:
    """Run a module whose `import *` of `_inputs` was narrowed; any other `_inputs` name still resolves on access."""

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(inputs, name)
            setattr(module, name, value)
            return value
        raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    exec(code, module.__dict__)  # noqa: S102
