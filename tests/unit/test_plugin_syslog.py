"""RFC 5424 records between the plugin and the sink: every value comes back as it was written, escapes included,
and anything malformed is a SyslogError (the sink then raises a Security Alert instead of storing it)."""

from __future__ import annotations

import random

import pytest

from orthanc_config.plugin import pacsguard_syslog as rfc5424

TRICKY = ["plain", 'quote " inside', "back\\slash", "bracket ] inside", 'all \\"]\\ of them', "", "ünïcode ✓", "a\nb"]


@pytest.mark.parametrize("value", TRICKY)
def test_every_value_comes_back_as_written(value: str) -> None:
    record = {"event_id": "110100", "reason": value, "study_uids": [value, "1.2.3"], "emergency": True}
    _header, back = rfc5424.parse_record(rfc5424.format_record(record, hostname="pacs"))
    assert back == record


def _reference_value(text: str, i: int) -> tuple[int, str]:
    """The character-by-character reading the sink used before issue 18: the oracle for the regular expression."""
    out = []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in '"\\]':
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return i + 1, "".join(out)
        out.append(ch)
        i += 1
    raise rfc5424.SyslogError("SD-PARAM value not terminated")


def test_any_value_reads_as_the_character_by_character_parser_read_it() -> None:
    rng = random.Random(18)
    alphabet = 'ab\\"] =x'
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        try:
            expected: object = _reference_value(text, 0)
        except rfc5424.SyslogError:
            expected = rfc5424.SyslogError
        try:
            got: object = rfc5424.read_value(text, 0)
        except rfc5424.SyslogError:
            got = rfc5424.SyslogError
        assert got == expected, text


@pytest.mark.parametrize(
    "message",
    [
        b"not syslog at all",
        b"<109>1 2026-12-02T08:00:00Z pacs pacsguard - 110100 no structured data",
        b'<109>1 2026-12-02T08:00:00Z pacs pacsguard - 110100 [atna@32473 reason="never closed',
        b'<109>1 2026-12-02T08:00:00Z pacs pacsguard - 110100 [atna@32473 reason="x" user="y"',
        b'<109>1 2026-12-02T08:00:00Z pacs pacsguard - 110100 [atna@32473 bad name="x"]',
        b'<109>1 2026-12-02T08:00:00Z pacs pacsguard - 110100 [atna@32473 emergency="maybe"]',
        b'<109>1 2026-12-02T08:00:00Z pacs pacsguard - 110100 [atna@32473 reason="trailing backslash\\',
        b'<109>1 2026-12-02T08:00:00Z pacs pacsguard - 110100 [atna@32473 reason="\xff"]',
    ],
)
def test_a_malformed_message_is_refused(message: bytes) -> None:
    with pytest.raises(rfc5424.SyslogError):
        rfc5424.parse_record(message)
