"""BAK-COVERAGE decides as AWS Backup assigns resources: `Resources` AND `Conditions`, `ListOfTags` on its own,
`NotResources` excluding (https://docs.aws.amazon.com/aws-backup/latest/devguide/assigning-resources-json.html).

Both layers read a selection naming a resource by ARN as covering it whatever its tags, although AWS also asks the
conditions of it; and the plan never judged the EBS image volume of `storage.mode: ebs`."""

from __future__ import annotations

from typing import Any

from infra.synth import Synthesis
from policies.catalog import by_id
from policies.facts.backup_selection import Conditions, Selection, conditions
from policies.graph import PlanGraph
from tests.policies.mutations import add, chain, edit, transform, urn_of

PHI = {"pacsguard:stack": "prod", "pacsguard:data-class": "phi"}
EQUALS_PHI = conditions({"StringEquals": [("aws:ResourceTag/pacsguard:data-class", "phi")]})


# --- AWS's rule, on the documentation's own examples --------------------------------------------------------------


def test_named_resources_must_also_meet_the_conditions() -> None:
    rule = Selection(has_resources=True, conditions=EQUALS_PHI)
    assert rule.assigns(named=True, excluded=False, tags=PHI)
    assert not rule.assigns(named=True, excluded=False, tags={"pacsguard:data-class": "none"})
    assert not rule.assigns(named=False, excluded=False, tags=PHI)


def test_list_of_tags_selects_on_its_own_and_not_resources_excludes() -> None:
    rule = Selection(has_resources=True, list_of_tags=(("backup", "true"),))
    assert rule.assigns(named=False, excluded=False, tags={"backup": "true"})
    assert not rule.assigns(named=True, excluded=True, tags={"backup": "true"})


def test_conditions_alone_select_by_tags_and_every_operator_counts() -> None:
    rule = Selection(
        has_resources=False,
        conditions=Conditions(
            equals=(("stage", "prod"),), like=(("team", "pacs*"),), not_equals=(("tier", "scratch"),), not_like=()
        ),
    )
    assert rule.assigns(named=False, excluded=False, tags={"stage": "prod", "team": "pacs-eu", "tier": "data"})
    assert not rule.assigns(named=False, excluded=False, tags={"stage": "prod", "team": "pacs-eu", "tier": "scratch"})
    assert not rule.assigns(named=False, excluded=False, tags={"stage": "prod", "team": "ris", "tier": "data"})
    # StringLike's only wildcard is *: fnmatch's ? and [] are literal characters to AWS
    assert not Selection(False, conditions({"StringLike": [("aws:ResourceTag/a", "x?")]})).assigns(
        named=False, excluded=False, tags={"a": "xy"}
    )


def test_a_negated_condition_does_not_count_an_untagged_resource_as_selected() -> None:
    rule = Selection(has_resources=False, conditions=Conditions(not_equals=(("tier", "scratch"),)))
    assert not rule.assigns(named=False, excluded=False, tags={})


# --- the account layer ------------------------------------------------------------------------------------------


def test_account_layer_applies_the_conditions_to_a_resource_named_by_arn() -> None:
    from policies.cloud.checks.backups import selects

    arn = "arn:aws:rds:eu-central-1:123456789012:db:index"
    selection: dict[str, Any] = {
        "Resources": [arn],
        "Conditions": {
            "StringEquals": [{"ConditionKey": "aws:ResourceTag/pacsguard:data-class", "ConditionValue": "phi"}]
        },
    }
    assert selects(selection, arn, PHI)
    assert not selects(selection, arn, {"pacsguard:stack": "prod"})  # AWS skips it: no data-class tag


def test_an_instances_own_disk_is_not_a_data_store_to_back_up() -> None:
    from policies.cloud.checks.backups import dies_with_its_instance

    assert dies_with_its_instance({"Attachments": [{"DeleteOnTermination": True}]})
    assert not dies_with_its_instance({"Attachments": [{"DeleteOnTermination": False}]})
    assert not dies_with_its_instance({"Attachments": []})  # detached: whatever it holds outlives any host


# --- the plan layer -----------------------------------------------------------------------------------------------


def _coverage(g: PlanGraph) -> dict[str, str]:
    return {o.resource: o.status for o in by_id("BAK-COVERAGE").plan.check(g)}  # type: ignore[union-attr]


def test_prod_selection_covers_the_index_and_the_image_store(prod: Synthesis) -> None:
    assert _coverage(PlanGraph.from_synthesis(prod)) == {"database-index": "pass", "storage-images": "pass"}


def test_plan_fails_a_resource_named_by_the_selection_whose_tags_the_conditions_refuse(prod: Synthesis) -> None:
    g = edit("backups-phi", **{"conditions.0.stringEquals.1.value": "confidential"})(PlanGraph.from_synthesis(prod))
    assert _coverage(g) == {"database-index": "fail", "storage-images": "fail"}


def test_plan_judges_the_ebs_image_volume(prod: Synthesis) -> None:
    g = PlanGraph.from_synthesis(prod)
    volume = add("aws:ebs/volume:Volume", "hosts-images", {"tags": PHI, "encrypted": True})
    assert _coverage(volume(g))["hosts-images"] == "fail"  # not in the selection's resources

    def select_it(h: PlanGraph) -> PlanGraph:
        sel = next(r for r in h.resources if r.name == "backups-phi")
        deps = {**sel.property_dependencies}
        deps["resources"] = [*deps.get("resources", []), urn_of(h, "hosts-images")]
        return transform("backups-phi", lambda _i: None, property_dependencies=deps)(h)

    assert _coverage(chain(volume, select_it)(g))["hosts-images"] == "pass"


def test_plan_counts_a_selection_of_everything_by_its_conditions(prod: Synthesis) -> None:
    def everything(i: dict[str, Any]) -> None:
        i["resources"] = ["*"]

    g = PlanGraph.from_synthesis(prod)
    sel = next(r for r in g.resources if r.name == "backups-phi")
    g = transform("backups-phi", everything, property_dependencies={**sel.property_dependencies, "resources": []})(g)
    assert _coverage(g) == {"database-index": "pass", "storage-images": "pass"}
