"""The few predicates over AWS values that more than one judge needs: one definition each."""

from __future__ import annotations

import re
from typing import Any

from policies.graph import as_list, statements

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def customer_key(value: Any) -> bool:
    """A customer-managed key given as ARN or id (AWS-managed aliases and empties are not)."""
    if not isinstance(value, str) or not value or "alias/aws/" in value:
        return False
    return (value.startswith("arn:") and ":key/" in value) or bool(UUID.match(value))


def denies_insecure_transport(doc: dict[str, Any], actions: tuple[str, ...] = ()) -> bool:
    """A Deny statement on aws:SecureTransport=false; when `actions` are given, it must name one of them."""
    for st in statements(doc):
        if st.get("Effect") != "Deny":
            continue
        secure = (st.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport")
        if str(secure).lower() == "false" and (not actions or set(as_list(st.get("Action"))) & set(actions)):
            return True
    return False


def merged_policy(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several policy documents attached to one resource, as the one document AWS would report."""
    return {"Version": "2012-10-17", "Statement": [st for d in docs for st in statements(d)]}


def world_port(protocol: Any, from_port: Any, to_port: Any) -> str:
    """How a finding names an ingress rule's ports: "443", "8000-8100", or "all" (every protocol, no port)."""
    if str(protocol) in ("-1", "-1.0", "all") or from_port is None:
        return "all"
    low, high = int(float(from_port)), int(float(to_port if to_port is not None else from_port))
    return str(low) if low == high else f"{low}-{high}"
