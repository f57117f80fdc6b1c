"""The catalog's numbers as the README states them: a test checks every phrase against the catalog, so the prose
cannot go stale (issue 17, item 6)."""

from __future__ import annotations

from policies.model import Control

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


def word(n: int) -> str:
    return WORDS[n] if n < len(WORDS) else str(n)


DEPLOYABILITY = "deployability"  # AWS's create-time rules, not security controls


def numbers(controls: tuple[Control, ...]) -> dict[str, int]:
    security = [c for c in controls if c.family != DEPLOYABILITY]
    return {
        "controls": len(controls),
        "security": len(security),
        "families": len({c.family for c in security}),
        "deployability": len(controls) - len(security),
        "plan": sum(1 for c in controls if "plan" in c.layers),
        "cloud": sum(1 for c in controls if "cloud" in c.layers),
        "cloud_only": sum(1 for c in controls if c.layers == ("cloud",)),
        "wire": sum(1 for c in controls if "wire" in c.layers),
    }


def readme_phrases(controls: tuple[Control, ...]) -> list[str]:
    """Sentences (whitespace-normalised) the README must contain."""
    n = numbers(controls)
    families = ", ".join(
        dict.fromkeys(c.family if c.family != "pacs" else "PACS" for c in controls if c.family != DEPLOYABILITY)
    )
    return [
        f"{n['security']} security controls in {word(n['families'])} families ({families})",
        f"{n['deployability']} deployability rules",
        f"{n['plan']} of the {n['controls']} have a plan check",
        f"{n['cloud']} controls have a cloud check ({word(n['cloud_only'])} are cloud-only",
        f"{n['wire']} controls are checked on the wire",
    ]
