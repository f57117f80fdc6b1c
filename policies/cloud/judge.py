"""What a cloud check says when the stack has nothing of a kind in the account (predicates over values live in
policies.facts.predicates, shared with the plan layer)."""

from __future__ import annotations

from policies.model import SCOPE, Outcome


def none_found(what: str, stack: str) -> list[Outcome]:
    """Nothing of this kind carries the stack's tag: missing evidence (scope), unless the stack's settings say it
    has none by design (the audit turns that into "not applicable")."""
    return [Outcome("stack", "skipped", f"no {what} tagged pacsguard:stack={stack} in this account and region", SCOPE)]
