"""Small judgements both the cloud checks and reports share (AWS API shapes, not Pulumi inputs)."""

from __future__ import annotations

import re
from typing import Any

from policies.graph import as_list, statements
from policies.model import SCOPE, Outcome

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def customer_key(value: Any) -> bool:
    """A customer-managed key given as ARN or id (AWS-managed aliases and empties are not)."""
    if not isinstance(value, str) or not value or "alias/aws/" in value:
        return False
    return (value.startswith("arn:") and ":key/" in value) or bool(UUID.match(value))


def denies_insecure_transport(doc: dict[str, Any], actions: tuple[str, ...]) -> bool:
    for st in statements(doc):
        if st.get("Effect") != "Deny":
            continue
        secure = (st.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport")
        if str(secure).lower() == "false" and set(as_list(st.get("Action"))) & set(actions):
            return True
    return False


def none_found(what: str, stack: str) -> list[Outcome]:
    """Nothing of this kind carries the stack's tag: missing evidence (scope), unless the stack's settings say it
    has none by design (the audit turns that into "not applicable")."""
    return [Outcome("stack", "skipped", f"no {what} tagged pacsguard:stack={stack} in this account and region", SCOPE)]
