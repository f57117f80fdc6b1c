"""Each resource kind with its two producers of facts (plan adapter, cloud collector), and `judged`, which makes a
control's plan and cloud checks out of ONE judge over those facts: the two layers cannot judge differently.

A judge takes one facts object and returns the failure message, or None when compliant."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from policies.cloud import facts as cloud
from policies.cloud.judge import none_found
from policies.graph import PlanGraph
from policies.model import CloudCheck, Outcome, StackCheck, outcome
from policies.plan import facts as plan

F = TypeVar("F")
Judge = Callable[[Any], str | None]


@dataclass(frozen=True)
class Kind(Generic[F]):
    label: str  # what a finding calls one of them ("no bucket tagged ...", "no bucket in this stack")
    plan: Callable[[PlanGraph], list[F]]
    cloud: Callable[[Any], list[F]]  # CloudContext -> facts of the stack's resources
    account_wide: bool = False  # found in the account whatever their tags: none at all is a failure, not a scope gap
    none_is_fine: str = ""  # account-wide kinds where none at all passes: why

    def none_in_account(self, cx: Any) -> list[Outcome]:
        if self.none_is_fine:
            return [Outcome("account", "pass", self.none_is_fine)]
        if self.account_wide:
            return [Outcome("account", "fail", f"no {self.label} in this account")]
        return none_found(self.label, cx.stack)


BUCKETS = Kind("bucket", plan.buckets, cloud.buckets)
KEYS = Kind("KMS key", plan.keys, cloud.keys)
KEY_LIFECYCLES = Kind("KMS key", plan.key_lifecycles, cloud.key_lifecycles)
DATABASES = Kind("database", plan.databases, cloud.databases)
FILE_SYSTEMS = Kind("file system", plan.file_systems, cloud.file_systems)
EBS_DEFAULT = Kind("EBS encryption default", plan.ebs_default, cloud.ebs_default)
VOLUMES = Kind("EBS volume", plan.volumes, cloud.volumes)
LOG_GROUPS = Kind("log group", plan.log_groups, cloud.log_groups)
SECRETS = Kind("secret", plan.secrets, cloud.secrets)
TOPICS = Kind("topic", plan.topics, cloud.topics)
VAULTS = Kind("backup vault", plan.vaults, cloud.vaults)
TRAILS = Kind("CloudTrail trail", plan.trails, cloud.trails, account_wide=True)
LISTENERS = Kind("load balancer listener", plan.listeners, cloud.listeners)
PRINCIPALS = Kind(
    "IAM principal",
    plan.principals,
    cloud.principals,
    account_wide=True,
    none_is_fine="no IAM user, group or role besides AWS's service-linked roles",
)
HOSTS = Kind("instance or launch template", plan.hosts, cloud.hosts)
USER_POOLS = Kind("user pool", plan.user_pools, cloud.user_pools)
BACKUP_PLANS = Kind("backup plan", plan.backup_plans, cloud.backup_plans)
VPCS = Kind("VPC", plan.vpcs, cloud.vpcs)
LOAD_BALANCERS = Kind("load balancer", plan.load_balancers, cloud.load_balancers)
DEFAULT_GROUPS = Kind("VPC", plan.default_groups, cloud.default_groups)
SECURITY_GROUPS = Kind("security group", plan.security_groups, cloud.security_groups)
PHI_BUCKETS = Kind("PHI bucket", plan.phi_buckets, cloud.phi_buckets)
DETECTORS = Kind("GuardDuty detector", plan.detectors, cloud.detectors, account_wide=True)
RECORDERS = Kind("AWS Config recorder", plan.recorders, cloud.recorders, account_wide=True)
PROTECTED = Kind("database, file system or volume to back up", plan.protected, cloud.protected)
APP_CLIENTS = Kind("user pool app client", plan.app_clients, cloud.app_clients)
LISTENER_RULES = Kind(
    "listener rule",
    plan.listener_rules,
    cloud.listener_rules,
    none_is_fine="no listener rule: nothing is forwarded past the default actions",
)
LOGIN_LISTENERS = Kind(
    "listener signing users in with Cognito",
    plan.login_listeners,
    cloud.login_listeners,
    none_is_fine="no listener signs users in with Cognito: the clients' tokens are held to Cognito's 60 minutes",
)
EMERGENCY = Kind("break-glass arrangement", plan.emergency_access, cloud.emergency_access)
PASSKEY_POOLS = Kind("user pool", plan.passkey_pools, cloud.passkey_pools)


def judged(
    kind: Kind[F],
    judge: Callable[[F], str | None],
    ok: str | Callable[[F], str] = "compliant",
    *,
    applies: Callable[[F], bool] | None = None,
    applies_to: str = "",
    missing: str | None = None,
    none_applies: str | None = None,
    unjudged: Callable[[F], tuple[str, str] | None] | None = None,
) -> dict[str, Any]:
    """`plan=` and `cloud=` of a Control, both judging `kind`'s facts with `judge` (spread into Control(...)).

    `missing`: the failure when the stack has none of the kind at all (else: not applicable in the plan, a scope
    gap in the account). `applies` narrows the facts judged (prod stacks only, log buckets only); when it leaves
    none, the failure `none_applies`, or else "not applicable" naming `applies_to`. `unjudged`: when the judge
    finds no failure but the facts leave a property unknown to this layer, (why, cause) makes it `skipped`."""

    def one(f: F) -> Outcome:
        failure = judge(f)
        skip = None if failure or unjudged is None else unjudged(f)
        if skip:
            return Outcome(f.name, "skipped", *skip)  # type: ignore[attr-defined]
        return outcome(f.name, failure, ok(f) if callable(ok) else ok)  # type: ignore[attr-defined]

    def verdicts(facts: list[F], none: Callable[[], list[Outcome]]) -> list[Outcome]:
        if not facts:
            return [Outcome("stack", "fail", missing)] if missing else none()
        chosen = [f for f in facts if applies is None or applies(f)]
        if not chosen and none_applies:
            return [Outcome("stack", "fail", none_applies)]
        if not chosen:
            return [Outcome("stack", "skipped", f"not applicable: applies to {applies_to} only")]
        return [one(f) for f in chosen]

    def plan_check(g: PlanGraph) -> list[Outcome]:
        return verdicts(
            kind.plan(g), lambda: [Outcome("stack", "skipped", f"not applicable: no {kind.label} in this stack")]
        )

    def cloud_check(cx: Any) -> list[Outcome]:
        return verdicts(kind.cloud(cx), lambda: kind.none_in_account(cx))

    return {
        "plan": StackCheck(plan_check, judge=judge, kind=kind),
        "cloud": CloudCheck(cloud_check, judge=judge, kind=kind),
    }


def judged_each(*parts: dict[str, Any]) -> dict[str, Any]:
    """One control judging several kinds (each part from `judged`): outcomes of every part, at both layers."""
    plans, clouds = [p["plan"] for p in parts], [p["cloud"] for p in parts]
    judges, kinds = tuple(p.judge for p in plans), tuple(p.kind for p in plans)
    return {
        "plan": StackCheck(
            lambda g: _one_not_applicable([o for p in plans for o in p.check(g)]), judge=judges, kind=kinds
        ),
        "cloud": CloudCheck(
            lambda cx: _one_not_applicable([o for c in clouds for o in c.check(cx)]), judge=judges, kind=kinds
        ),
    }


NOT_APPLICABLE_PREFIX = "not applicable: "


def _one_not_applicable(outcomes: list[Outcome]) -> list[Outcome]:
    """When no part of a control applies to the stack, one finding naming every reason, not one per part."""
    if len(outcomes) < 2 or not all(
        o.resource == "stack" and o.status == "skipped" and o.message.startswith(NOT_APPLICABLE_PREFIX)
        for o in outcomes
    ):
        return outcomes
    reasons = "; ".join(dict.fromkeys(o.message.removeprefix(NOT_APPLICABLE_PREFIX) for o in outcomes))
    return [Outcome("stack", "skipped", NOT_APPLICABLE_PREFIX + reasons, outcomes[0].cause)]
