"""Small edits of a captured graph, each breaking one property the way a careless change would."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

from policies.graph import PlanGraph, Res

Mutation = Callable[[PlanGraph], PlanGraph]


def _set_path(obj: Any, path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        obj = obj[int(key)] if isinstance(obj, list) else obj[key]
    last = keys[-1]
    if isinstance(obj, list):
        obj[int(last)] = value
    elif value is DELETE:
        obj.pop(last, None)
    else:
        obj[last] = value


DELETE = object()


def _rebuild(g: PlanGraph, resources: list[Res], **overrides: Any) -> PlanGraph:
    attrs = {
        "stack": g.stack,
        "region": g.region,
        "allowed_regions": g.allowed_regions,
        "existing_services": g.existing_services,
        **overrides,
    }
    return PlanGraph(resources, **attrs)


def edit(name: str, **paths: Any) -> Mutation:
    """Set input paths (dots walk dicts and list indices; __ stands for a dot inside a key) on resource `name`."""

    def apply(g: PlanGraph) -> PlanGraph:
        out, hit = [], False
        for r in g.resources:
            if r.name == name:
                inputs = copy.deepcopy(r.inputs)
                for path, value in paths.items():
                    _set_path(inputs, path.replace("__", "."), value)
                r = dataclasses.replace(r, inputs=inputs)
                hit = True
            out.append(r)
        assert hit, f"no resource named {name}"
        return _rebuild(g, out)

    return apply


def transform(name: str, fn: Callable[[dict[str, Any]], None], **fields: Any) -> Mutation:
    """Change resource `name` with fn(inputs) and optional dataclass fields (protect, property_dependencies)."""

    def apply(g: PlanGraph) -> PlanGraph:
        out, hit = [], False
        for r in g.resources:
            if r.name == name:
                inputs = copy.deepcopy(r.inputs)
                fn(inputs)
                r = dataclasses.replace(r, inputs=inputs, **fields)
                hit = True
            out.append(r)
        assert hit, f"no resource named {name}"
        return _rebuild(g, out)

    return apply


def drop(name: str) -> Mutation:
    def apply(g: PlanGraph) -> PlanGraph:
        assert any(r.name == name for r in g.resources), f"no resource named {name}"
        return _rebuild(g, [r for r in g.resources if r.name != name])

    return apply


def add(res_type: str, name: str, inputs: dict[str, Any], deps: dict[str, list[str]] | None = None) -> Mutation:
    def apply(g: PlanGraph) -> PlanGraph:
        extra = Res(res_type, name, f"urn:pulumi:test::pacsguard::{res_type}::{name}", inputs, False, deps or {})
        return _rebuild(g, [*g.resources, extra])

    return apply


def with_regions(allowed: list[str]) -> Mutation:
    return lambda g: _rebuild(g, list(g.resources), allowed_regions=allowed)


def policy_statements(
    name: str, fn: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], field: str = "policy"
) -> Mutation:
    def change(inputs: dict[str, Any]) -> None:
        doc = json.loads(inputs[field])
        doc["Statement"] = fn(doc["Statement"])
        inputs[field] = json.dumps(doc)

    return transform(name, change)


def profile(name: str, **changes: Any) -> Mutation:
    """Change the host profile embedded in a launch template's user data."""

    def change(inputs: dict[str, Any]) -> None:
        script = base64.b64decode(inputs["userData"]).decode()
        match = re.search(r"<<'PACSGUARD_PROFILE'\n(.*?)\nPACSGUARD_PROFILE", script, re.S)
        prof = json.loads(match.group(1))
        prof.update(changes)
        script = script.replace(match.group(1), json.dumps(prof, indent=2))
        inputs["userData"] = base64.b64encode(script.encode()).decode()

    return transform(name, change)


def urn_of(g: PlanGraph, name: str) -> str:
    return next(r.urn for r in g.resources if r.name == name)


def without_dependency(name: str, prop: str, target: str) -> Mutation:
    def apply(g: PlanGraph) -> PlanGraph:
        gone = urn_of(g, target)
        res = next(r for r in g.resources if r.name == name)
        deps = {k: [u for u in v if not (k == prop and u == gone)] for k, v in res.property_dependencies.items()}
        return transform(name, lambda _i: None, property_dependencies=deps)(g)

    return apply


def chain(*mutations: Mutation) -> Mutation:
    def apply(g: PlanGraph) -> PlanGraph:
        for m in mutations:
            g = m(g)
        return g

    return apply


def without_order(name: str, target: str) -> Mutation:
    """Forget that resource `name` waits for `target` (an explicit depends_on removed, as a refactor might)."""

    def apply(g: PlanGraph) -> PlanGraph:
        gone = urn_of(g, target)
        res = next(r for r in g.resources if r.name == name)
        assert gone in res.dependencies, f"{name} does not depend on {target}"
        deps = tuple(u for u in res.dependencies if u != gone)
        props = {k: [u for u in v if u != gone] for k, v in res.property_dependencies.items()}
        return transform(name, lambda _i: None, dependencies=deps, property_dependencies=props)(g)

    return apply


def retarget(name: str, prop: str, target: str) -> Mutation:
    """Make input `prop` of `name` refer to resource `target` instead of what it referred to."""

    def apply(g: PlanGraph) -> PlanGraph:
        res = next(r for r in g.resources if r.name == name)
        props = {**res.property_dependencies, prop: [urn_of(g, target)]}
        return transform(name, lambda _i: None, property_dependencies=props)(g)

    return apply


def attach_aws_managed(role: str, policy: str, name: str = "extra-attachment") -> Mutation:
    """Attach an AWS-managed policy (by ARN) to role `role`, as a hurried admin would."""

    def apply(g: PlanGraph) -> PlanGraph:
        inputs = {"policyArn": f"arn:aws:iam::aws:policy/{policy}"}
        return add("aws:iam/rolePolicyAttachment:RolePolicyAttachment", name, inputs, {"role": [urn_of(g, role)]})(g)

    return apply
