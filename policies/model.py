"""What a control is, and what checking it produces. Kept free of Pulumi imports: reports and the CLI use it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from policies.graph import PlanGraph, Res

Severity = Literal["critical", "high", "medium", "low"]
Status = Literal["pass", "fail", "skipped", "error"]
Layer = Literal["plan", "cloud", "wire"]
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
BLOCKING = ("critical", "high")  # a failure of these makes the exit code 1

# Why a result is `skipped` or `error`. Only NOT_APPLICABLE (the stack has no such resource by design) is evidence
# of nothing to check; the others mean evidence is missing, which fails a critical or high control (DESIGN.md).
NOT_APPLICABLE = ""
ENDPOINT = "endpoint"  # the endpoint (an emulator) or the target cannot answer: waived by --allow-skipped
PERMISSIONS = "permissions"  # the auditor was denied
SCOPE = "scope"  # nothing carrying the stack's tag was found where the stack should have it
FAILED_CALL = "failed-call"  # throttled after retries, a 5xx, or an error nobody classified


@dataclass(frozen=True)
class Citations:
    hipaa: tuple[str, ...] = ()
    gdpr: tuple[str, ...] = ()
    dicom: tuple[str, ...] = ()
    ihe: tuple[str, ...] = ()
    aws: tuple[str, ...] = ()  # AWS documentation pages: the source of a deployability rule's constraint

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "hipaa": list(self.hipaa),
            "gdpr": list(self.gdpr),
            "dicom": list(self.dicom),
            "ihe": list(self.ihe),
            "aws": list(self.aws),
        }


@dataclass(frozen=True)
class Outcome:
    """One resource's result for one control."""

    resource: str
    status: Status
    message: str
    cause: str = NOT_APPLICABLE  # for skipped/error: see the causes above


@dataclass(frozen=True)
class ResourceCheck:
    """A check of one resource on its own inputs: also a CrossGuard resource validation policy."""

    types: tuple[str, ...]
    check: Callable[[dict[str, Any]], str | None]  # inputs -> failure message, or None when compliant
    applies: Callable[[dict[str, Any]], bool] = lambda _inputs: True
    applies_to: str = ""  # said when resources exist but none is in scope, e.g. "prod stacks"


@dataclass(frozen=True)
class StackCheck:
    """A check over the whole graph (joins split resources): also a CrossGuard stack validation policy."""

    check: Callable[[PlanGraph], list[Outcome]]
    judge: Callable[[Any], str | None] | None = None  # the shared judge over facts (policies.facts.kinds.judged)
    kind: Any = None  # the policies.facts.kinds.Kind it judges


@dataclass(frozen=True)
class CloudCheck:
    """A check of what the AWS account actually runs (boto3, through policies.cloud.api)."""

    check: Callable[[Any], list[Outcome]]  # CloudContext -> outcomes
    judge: Callable[[Any], str | None] | None = None  # the same judge as the plan check's, when the control has one
    kind: Any = None


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    family: str
    severity: Severity
    rationale: str
    remediation: str
    citations: Citations
    equivalents: dict[str, str] = field(default_factory=dict)  # aws_config / prowler / checkov
    plan: ResourceCheck | StackCheck | None = None
    cloud: CloudCheck | None = None
    layers_extra: tuple[Layer, ...] = ()  # the wire layer, when it checks the control

    @property
    def layers(self) -> tuple[Layer, ...]:
        return (("plan",) if self.plan else ()) + (("cloud",) if self.cloud else ()) + self.layers_extra

    def evaluate(self, graph: PlanGraph) -> list[Outcome]:
        if self.plan is None:
            return []
        if isinstance(self.plan, StackCheck):
            return self.plan.check(graph)
        outcomes = []
        candidates = graph.of(*self.plan.types)
        for res in candidates:
            if not self.plan.applies(res.inputs):
                continue
            message = self.plan.check(res.inputs)
            outcomes.append(Outcome(res.name, "fail" if message else "pass", message or "compliant"))
        if not outcomes:
            kinds = ", ".join(t.split(":")[-1] for t in self.plan.types)
            why = f"applies to {self.plan.applies_to} only" if candidates else f"no {kinds} in this stack"
            outcomes.append(Outcome("stack", "skipped", f"not applicable: {why}"))
        return outcomes


@dataclass(frozen=True)
class Finding:
    control: str
    status: Status
    severity: Severity
    resource: str
    message: str
    cause: str = NOT_APPLICABLE

    def as_dict(self) -> dict[str, str]:
        doc = {
            "control": self.control,
            "status": self.status,
            "severity": self.severity,
            "resource": self.resource,
            "message": self.message,
        }
        if self.cause:
            doc["cause"] = self.cause
        return doc

    @property
    def missing_evidence(self) -> bool:
        """Skipped or errored for a reason other than "the stack has no such resource by design"."""
        return self.status == "error" or (self.status == "skipped" and self.cause != NOT_APPLICABLE)


def resource_outcome(res: Res, failure: str | None, ok: str = "compliant") -> Outcome:
    return Outcome(res.name, "fail" if failure else "pass", failure or ok)


def outcome(resource: str, failure: str | None, ok: str = "compliant") -> Outcome:
    return Outcome(resource, "fail" if failure else "pass", failure or ok)
