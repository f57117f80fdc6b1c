"""Import only the pulumi-aws modules a program touches, not every module of each service it uses.

pulumi-aws already defers each service package (`pulumi_aws.ec2`) until first use, but a service package's
`__init__` then imports every resource of that service: `aws.ec2.Vpc` costs ec2's ~200 modules. Once installed
(before pulumi_aws is first imported), this finder gives each service package an `__init__` that imports a name's
module on first access instead: `Vpc` -> `pulumi_aws/ec2/vpc.py`, nested Args from `_inputs.py`, enums from
`_enums.py`. Generated modules are named after their resource in snake case; a name found nowhere else runs the
package's real `__init__`, so the package behaves exactly as before, just fewer modules load. The prod stack loads
about a third of the modules a full import does (tests/infra/test_synth_imports.py compares both graphs). Within
such a package, the shared `_inputs`/`outputs` modules define a class only when it is used, and the resource
modules import only the `_inputs` names they mention (infra/synth_slices.py).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import re
import sys
import types
from pathlib import Path
from typing import Any

PACKAGE = "pulumi_aws"
NOT_SERVICES = ("pulumi_aws.config",)  # provider settings: a module object of its own class, imported as it is
# Where a generated package keeps the names that are not a resource or function module of their own.
SHARED_MODULES = ("_inputs", "outputs", "_enums")
# Cut the shared modules into per-class slices (infra/synth_slices.py); off, they load whole (tests compare graphs).
SLICES = True
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def module_candidates(name: str) -> list[str]:
    """The modules that may define `name`, most specific first: `BucketV2Args` -> bucket_v2, then the shared ones."""
    stems = [name, name.removesuffix("_output")]  # get_ami_output lives beside get_ami
    bare = name.removeprefix("Awaitable")  # AwaitableGetAmiResult lives beside GetAmiResult
    for suffix in ("Args", "ArgsDict", "Result", "State"):
        if bare.endswith(suffix) and len(bare) > len(suffix):
            stems.append(bare[: -len(suffix)])
    snake = [_CAMEL_BOUNDARY.sub("_", stem).lower() for stem in stems]
    return list(dict.fromkeys(snake)) + list(SHARED_MODULES)


class _WrappingLoader(importlib.abc.Loader):
    """Runs a module found by the other finders (`real`) its own way; the default module object is kept."""

    def __init__(self, real: importlib.machinery.ModuleSpec) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None


class _ServicePackageLoader(_WrappingLoader):
    def exec_module(self, module: types.ModuleType) -> None:
        folder = Path(self.real.origin or "").parent
        real_loader = self.real.loader

        def complete() -> None:
            """Run the generated __init__: the package then holds every name, as without this finder."""
            module.__dict__.pop("__getattr__", None)
            module.__dict__.pop("__dir__", None)
            exec(real_loader.get_code(module.__name__), module.__dict__)  # type: ignore[union-attr]  # noqa: S102

        def submodule(stem: str) -> types.ModuleType | None:
            if not (folder / f"{stem}.py").is_file() and not (folder / stem / "__init__.py").is_file():
                return None
            __import__(f"{module.__name__}.{stem}")
            return sys.modules[f"{module.__name__}.{stem}"]

        def __getattr__(name: str) -> Any:
            if name.startswith("__"):  # probes such as __wrapped__; `import *` asks for __all__ and needs every name
                if name == "__all__":
                    complete()
                if name in module.__dict__:
                    return module.__dict__[name]
                raise AttributeError(name)
            own = submodule(name)
            if own is not None:  # a submodule (`outputs`), or a function named like its module (`get_ami`)
                value = vars(own).get(name, own)
                setattr(module, name, value)
                return value
            inputs = submodule("_inputs") if name.endswith(("Args", "ArgsDict")) else None
            if inputs is not None and name in getattr(inputs, "__all__", ()):
                # The generated __init__ star-imports _inputs after every resource module: its class wins a name
                # both define, and no resource module named like the class (web_acl_rule.py) needs to load.
                value = getattr(inputs, name)
                setattr(module, name, value)
                return value
            for stem in module_candidates(name):
                found = submodule(stem)
                if found is not None and (name in vars(found) or _sliced_has(found, name)):
                    value = getattr(found, name)
                    setattr(module, name, value)
                    return value
            complete()
            try:
                return module.__dict__[name]
            except KeyError:
                raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}") from None

        def __dir__() -> list[str]:
            complete()
            return sorted(module.__dict__)

        module.__getattr__ = __getattr__  # type: ignore[method-assign]
        module.__dir__ = __dir__  # type: ignore[method-assign]


class _ServiceModuleLoader(_WrappingLoader):
    """A module of a service package this finder loads: its shared classes by the slice, `import *` narrowed."""

    def exec_module(self, module: types.ModuleType) -> None:
        from infra import synth_slices

        origin = self.real.origin or ""
        source = Path(origin).read_bytes()
        package, _, stem = module.__name__.rpartition(".")
        if stem in synth_slices.SLICED:
            slices = synth_slices.load_slices(source, origin)
            if slices is not None:
                synth_slices.run_sliced(module, slices)
                return
        elif synth_slices.STAR_INPUTS.encode() in source:
            inputs = importlib.import_module(f"{package}._inputs")
            names = set(getattr(inputs, "__all__", ()))
            code = synth_slices.load_narrowed(source, origin, names)
            if code is not None:
                synth_slices.run_narrowed(module, code, inputs, names)
                return
        self.real.loader.exec_module(module)  # type: ignore[union-attr]


class _ServicePackageFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: types.ModuleType | None = None) -> Any:
        if not fullname.startswith(f"{PACKAGE}.") or fullname in NOT_SERVICES:
            return None
        if fullname.count(".") == 2:
            return self._module_spec(fullname, path, target)
        if fullname.count(".") != 1:
            return None
        real = self._real_spec(fullname, path, target)
        if real is None or real.submodule_search_locations is None or not real.origin:
            return None  # a plain module
        loader = _ServicePackageLoader(real)
        spec = importlib.machinery.ModuleSpec(fullname, loader, origin=real.origin, is_package=True)
        spec.submodule_search_locations = real.submodule_search_locations
        spec.has_location = True
        return spec

    def _module_spec(self, fullname: str, path: Any, target: Any) -> importlib.machinery.ModuleSpec | None:
        """A module of a service package that this finder loaded (not one a full import made), when slices are on."""
        parent = sys.modules.get(fullname.rpartition(".")[0])
        ours = parent is not None and isinstance(getattr(parent.__spec__, "loader", None), _ServicePackageLoader)
        if not SLICES or not ours:
            return None
        real = self._real_spec(fullname, path, target)
        if real is None or real.submodule_search_locations is not None or not (real.origin or "").endswith(".py"):
            return None
        spec = importlib.machinery.ModuleSpec(fullname, _ServiceModuleLoader(real), origin=real.origin)
        spec.has_location = True
        return spec

    def _real_spec(self, fullname: str, path: Any, target: Any) -> importlib.machinery.ModuleSpec | None:
        return next((s for f in sys.meta_path if f is not self and (s := _spec(f, fullname, path, target))), None)


def _sliced_has(module: types.ModuleType, name: str) -> bool:
    """Whether a module loaded by the slice (or narrowed) offers `name` without having run it yet."""
    if not isinstance(getattr(module.__spec__, "loader", None), _ServiceModuleLoader):
        return False
    try:
        getattr(module, name)
    except AttributeError:
        return False
    return True


def _spec(finder: Any, fullname: str, path: Any, target: Any) -> importlib.machinery.ModuleSpec | None:
    find_spec = getattr(finder, "find_spec", None)
    return find_spec(fullname, path, target) if find_spec else None


def install() -> None:
    """Install the finder once. It governs the service packages pulumi_aws declares after this (pulumi_aws declares
    them all on its first import): installed later, it changes nothing and synthesis imports as before."""
    if not any(isinstance(f, _ServicePackageFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ServicePackageFinder())
