"""The answer key on one account: every break is caught by `audit` (100 %), and the good account shows no failure
but what the emulator cannot model (listed in EMULATOR_LIMITS)."""

from __future__ import annotations

from tests.audit.answer_key import BREAKS, EMULATOR_LIMITS, resource_name
from tests.audit.conftest import Clients
from tests.audit.test_cloud_checks import audit

MIN_BREAKS = 35


def test_the_key_is_big_enough() -> None:
    assert len(BREAKS) >= MIN_BREAKS
    assert len({b.name for b in BREAKS}) == len(BREAKS)


def test_every_break_of_the_key_is_caught_on_one_account(clients: Clients, moto: str, account: dict) -> None:
    ids = account
    good = audit(moto)
    false_failures = [f for f in good if f.status == "fail" and f.control not in EMULATOR_LIMITS]
    assert not false_failures
    for b in BREAKS:
        b.apply(clients, ids)
    broken = audit(moto)
    missed = []
    for b in BREAKS:
        for control, key in b.expect:
            name = resource_name(ids, key)
            if not any(f.control == control and f.status == "fail" and (name in f.resource or name in f.message)
                       for f in broken):  # fmt: skip
                missed.append(f"{b.name}: {control} on {name}")
    assert not missed, missed
