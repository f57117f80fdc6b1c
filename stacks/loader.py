"""Read a stack's YAML (or the live Pulumi config) into validated Settings, with errors that name the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from infra.aws_access import UNFOLLOWED, refusal, unfollowed_keys
from stacks.settings import Settings

STACKS_DIR = Path(__file__).resolve().parent
PROJECT = "pacsguard"


class SettingsError(Exception):
    """Invalid or missing stack settings: one line naming the file, the key and the rule."""


def stack_file(stack: str, stacks_dir: Path = STACKS_DIR) -> Path:
    return stacks_dir / f"Pulumi.{stack}.yaml"


def available_stacks(stacks_dir: Path = STACKS_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def read_stack_config(stack: str, stacks_dir: Path = STACKS_DIR) -> dict[str, Any]:
    """The `config:` mapping of a stack file, keys as written (`pacsguard:dicom`, `aws:region`)."""
    path = stack_file(stack, stacks_dir)
    if not path.is_file():
        known = ", ".join(available_stacks(stacks_dir)) or "none"
        raise SettingsError(f"unknown stack {stack!r}: no {path.name} in {stacks_dir} (known stacks: {known})")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path.name}: not valid YAML ({exc.__class__.__name__}: {exc})") from None
    config = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(config, dict):
        raise SettingsError(f"{path.name}: expected a top-level 'config:' mapping")
    return config


def settings_from_config(config: dict[str, Any], source: str) -> Settings:
    """Validate `pacsguard:*` keys plus `aws:region` against the Settings model."""
    values: dict[str, Any] = {}
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if namespace == PROJECT:
            values[name] = value
        elif key == "aws:region":
            values.setdefault("region", value)
        elif namespace not in ("aws", "pulumi"):
            raise SettingsError(f"{source}: unknown config namespace in {key!r}; use 'pacsguard:' or 'aws:'")
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(f"{source}: {_first_error(exc)}") from None
    # The program's own Cognito resources (the login session on every stack, the passkey factor) call Cognito with
    # the stack's aws: config; what they cannot follow is refused here, before any resource is declared, rather than
    # half-way through a pulumi up.
    refused = unfollowed_keys(config.get)
    if refused:
        raise SettingsError(f"{source}: {refusal(refused)}")
    return settings


def load_settings(stack: str, stacks_dir: Path = STACKS_DIR) -> Settings:
    return settings_from_config(read_stack_config(stack, stacks_dir), stack_file(stack, stacks_dir).name)


def pulumi_config_map(config: dict[str, Any]) -> dict[str, str]:
    """The stack config in the form `pulumi.runtime.set_all_config` takes (objects as JSON strings)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def settings_from_pulumi_config() -> Settings:
    """Inside a real `pulumi up`: read the same keys from the engine's config."""
    import pulumi

    project_cfg = pulumi.Config(PROJECT)
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        raw = project_cfg.get(name)
        if raw is not None:
            values[f"{PROJECT}:{name}"] = _maybe_json(raw)
    aws = pulumi.Config("aws")
    for key in ("region", *UNFOLLOWED):
        if aws.get(key):
            values[f"aws:{key}"] = aws.get(key)
    try:
        return settings_from_config(values, f"stack {pulumi.get_stack()}")
    except SettingsError as exc:
        raise pulumi.RunError(str(exc)) from None


def _maybe_json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"{key}: required key is missing"
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key (check the spelling; see stacks/settings.py for the keys)"
    return f"{key}: {message}" if key else message
