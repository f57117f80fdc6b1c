"""One judgement per property: a control checked at both the plan and the cloud layer judges the same typed facts
with ONE function, so the layers cannot drift (issue 17 item 4). The controls that still judge each layer apart are
listed here by name with the reason; converting one means removing it from the list, adding one fails."""

from __future__ import annotations

import ast
import inspect

from policies.catalog import FAMILIES, controls
from policies.facts import kinds

# Both layers, but the evidence differs by nature: id -> why. Where it differs in degree (account-wide trails and
# their home regions, GuardDuty or Config delegated to the organisation, a jwt-validation rule an emulator cannot
# hold), the shared facts carry what each layer can know instead (policies.facts.resources).
LAYER_SPECIFIC: dict[str, str] = {
    "IAM-NO-STATIC-KEYS": "by nature: the plan sees that the program creates a key or user, the account sees a "
    "key's age and last use",
    "AUD-ALARMS": "different evidence: the plan matches the stack's filters and alarms by name, the account matches "
    "CIS filter patterns on any logging trail's log group",
}


def _both_layers() -> list:
    return [c for c in controls() if c.plan is not None and c.cloud is not None]


def test_every_control_on_both_layers_calls_one_shared_judge() -> None:
    apart = set()
    for ctl in _both_layers():
        plan_judge, cloud_judge = getattr(ctl.plan, "judge", None), ctl.cloud.judge
        if plan_judge is None and cloud_judge is None:
            apart.add(ctl.id)
            continue
        assert plan_judge == cloud_judge, f"{ctl.id}: plan and cloud judge with different functions"
        assert ctl.plan.kind == ctl.cloud.kind, f"{ctl.id}: plan and cloud judge different kinds of facts"
    assert apart == set(LAYER_SPECIFIC), "a control judges its layers apart: use policies.facts.kinds.judged"


def test_every_kind_has_both_producers_returning_its_facts() -> None:
    for kind in (v for v in vars(kinds).values() if isinstance(v, kinds.Kind)):
        plan_ret = inspect.signature(kind.plan).return_annotation
        cloud_ret = inspect.signature(kind.cloud).return_annotation
        assert plan_ret == cloud_ret, (
            f"{kind.label}: the plan adapter and the cloud collector return {plan_ret} vs {cloud_ret}"
        )


def _imported_modules(tree: ast.AST) -> set[str]:
    return {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }


def test_family_modules_hold_controls_and_judges_not_collectors() -> None:
    # A family that reads boto3 collectors itself re-implements what policies.cloud.facts produces.
    for family in FAMILIES:
        tree = ast.parse(inspect.getsource(family))
        collectors = {m for m in _imported_modules(tree) if m.startswith("policies.cloud.collect")}
        converted = all(c.id not in LAYER_SPECIFIC for c in family.CONTROLS if c.plan and c.cloud)
        if converted:
            assert not collectors, f"{family.__name__} imports {collectors}"
