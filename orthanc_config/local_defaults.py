"""The local stack's defaults, apart from its machinery: the CLI shows them in --help without importing it."""

from __future__ import annotations

from pathlib import Path

DEFAULT_NAME = "pacsguard"
DEFAULT_STATE = Path("/var/lib/pacsguard/local")
DEFAULT_SUBNET = "198.18.0.0"
