"""ENC-KMS-KEY-STATE: a stack key that is disabled or scheduled for deletion makes every image it protects
unreadable (at once, or in 7-30 days)."""

from __future__ import annotations

from typing import Any

from policies.cloud.collect import kms
from policies.cloud.judge import none_found
from policies.model import Outcome, outcome


def key_state(cx: Any) -> list[Outcome]:
    out = []
    for k in kms.all_keys(cx.api, cx.stack):
        state = k["meta"].get("KeyState")
        if state == "PendingDeletion":
            when = k["meta"].get("DeletionDate")
            failure = f"scheduled for deletion{f' on {when:%Y-%m-%d}' if hasattr(when, 'strftime') else ''}: " \
                      "cancel it (kms:CancelKeyDeletion) or every object it encrypts becomes unreadable"  # fmt: skip
        elif state != "Enabled":
            failure = f"key is {state}: what it encrypts cannot be read until it is enabled"
        else:
            failure = None
        out.append(outcome(k["id"], failure, "enabled"))
    return out or none_found("KMS key", cx.stack)
