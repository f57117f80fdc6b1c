"""Settings are validated before any resource exists; each rejection names the key and the rule."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.loader import (
    SettingsError,
    available_stacks,
    load_settings,
    read_stack_config,
    settings_from_config,
)


def _prod() -> dict[str, Any]:
    return copy.deepcopy(read_stack_config("prod"))


def _dev() -> dict[str, Any]:
    return copy.deepcopy(read_stack_config("dev"))


def _reject(config: dict[str, Any], *fragments: str) -> str:
    with pytest.raises(SettingsError) as exc:
        settings_from_config(config, "Pulumi.test.yaml")
    message = str(exc.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize("name", ["dev", "prod", "emulator", "localstack"])
def test_shipped_stacks_are_valid(name: str) -> None:
    load_settings(name)


def test_all_shipped_stacks_are_listed() -> None:
    assert set(available_stacks()) >= {"dev", "prod", "emulator", "localstack"}


@pytest.mark.parametrize("world", ["0.0.0.0/0", "::/0"])
def test_prod_refuses_world_open_dicom(world: str) -> None:
    cfg = _prod()
    cfg["pacsguard:dicom"]["modality_cidrs"].append(world)
    _reject(cfg, "dicom.modality_cidrs", "prod refuses DICOM open to")


def test_dev_accepts_world_open_dicom_only_because_it_is_written_out() -> None:
    # Explicit and allowed in dev; the controls report it as a failing control.
    cfg = _dev()
    cfg["pacsguard:dicom"]["modality_cidrs"] = ["0.0.0.0/0"]
    assert str(settings_from_config(cfg, "x").dicom.modality_cidrs[0]) == "0.0.0.0/0"


def test_prod_refuses_deletion_protection_off() -> None:
    cfg = _prod()
    cfg["pacsguard:deletion_protection"] = False
    _reject(cfg, "deletion_protection", "prod refuses")


def test_prod_refuses_short_database_backups() -> None:
    cfg = _prod()
    cfg["pacsguard:database"]["backup_retention_days"] = 14
    _reject(cfg, "database.backup_retention_days", "at least 35")


@pytest.mark.parametrize("zones", [1, 4])
def test_zones_must_be_two_or_three(zones: int) -> None:
    cfg = _prod()
    cfg["pacsguard:availability_zones"] = zones
    _reject(cfg, "availability_zones")


def test_prod_refuses_single_az_database() -> None:
    cfg = _prod()
    cfg["pacsguard:database"]["multi_az"] = False
    _reject(cfg, "database.multi_az")


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("pacsguard:vpc_cidr", "10.0.0.0/8", "vpc_cidr"),
        ("pacsguard:vpc_cidr", "8.8.0.0/16", "vpc_cidr"),
        ("pacsguard:vpc_cidr", "10.40.0.1/16", "vpc_cidr"),
        ("pacsguard:log_retention_days", 100, "log_retention_days"),
        ("pacsguard:environment", "staging", "environment"),
        ("aws:region", "mars-1", "region"),
    ],
)
def test_bad_values_name_their_key(key: str, value: Any, fragment: str) -> None:
    cfg = _dev()
    cfg[key] = value
    _reject(cfg, fragment)


def test_malformed_cidr_names_the_key() -> None:
    cfg = _dev()
    cfg["pacsguard:https"]["cidrs"] = ["10.60.20.0/33"]
    _reject(cfg, "https.cidrs")
    cfg["pacsguard:https"]["cidrs"] = ["reading-room"]
    _reject(cfg, "https.cidrs", "not a CIDR")


def test_modality_outside_its_networks_is_refused() -> None:
    cfg = _dev()
    cfg["pacsguard:dicom"]["modalities"] = [{"aet": "CT1", "host": "192.0.2.7"}]
    _reject(cfg, "dicom.modalities.0.host", "outside dicom.modality_cidrs")


def test_unknown_key_is_a_typo_not_ignored() -> None:
    cfg = _dev()
    cfg["pacsguard:deletion_protecton"] = True
    _reject(cfg, "deletion_protecton", "unknown key")


def test_missing_required_key() -> None:
    cfg = _dev()
    del cfg["pacsguard:dicom"]
    _reject(cfg, "dicom", "required")


def test_ebs_storage_needs_a_single_host() -> None:
    cfg = _dev()
    cfg["pacsguard:storage"] = {"mode": "ebs"}
    cfg["pacsguard:hosts"] = {"count": 2}
    _reject(cfg, "storage.mode")


def test_data_residency_region_must_be_allowed() -> None:
    cfg = _prod()
    cfg["pacsguard:allowed_regions"] = ["eu-west-1"]
    _reject(cfg, "region", "data residency")


def test_prod_log_retention_under_six_years_is_refused() -> None:
    cfg = _prod()
    cfg["pacsguard:log_retention_days"] = 365
    _reject(cfg, "log_retention_days", "six years")


def test_unknown_stack_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"unknown stack 'qa'.*known stacks: dev, emulator, localstack, prod"):
        load_settings("qa")


def test_broken_yaml_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.bad.yaml").write_text("config: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings("bad", tmp_path)


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.copy.yaml").write_text(yaml.safe_dump({"config": _prod()}))
    assert load_settings("copy", tmp_path) == load_settings("prod")


def test_pulumi_engine_config_gives_the_same_settings_as_the_file() -> None:
    """What `pulumi up` reads through pulumi.Config must validate to what `pacsguard plan` reads from YAML."""
    import pulumi

    from infra.synth import _StackMocks
    from stacks.loader import pulumi_config_map, settings_from_pulumi_config

    for name in ("dev", "prod"):
        pulumi.runtime.set_mocks(_StackMocks("eu-central-1"), project="pacsguard", stack=name, preview=False)
        pulumi.runtime.set_all_config(pulumi_config_map(read_stack_config(name)))
        assert settings_from_pulumi_config() == load_settings(name)


def test_pulumi_engine_config_errors_stop_the_program() -> None:
    import pulumi

    from infra.synth import _StackMocks
    from stacks.loader import pulumi_config_map, settings_from_pulumi_config

    cfg = _prod()
    cfg["pacsguard:deletion_protection"] = False
    pulumi.runtime.set_mocks(_StackMocks("eu-central-1"), project="pacsguard", stack="prod", preview=False)
    pulumi.runtime.set_all_config(pulumi_config_map(cfg))
    with pytest.raises(pulumi.RunError, match="deletion_protection"):
        settings_from_pulumi_config()


def test_pulumi_up_stops_before_any_resource_on_a_role_the_passkey_factor_cannot_assume() -> None:
    """`pulumi up` reads the aws: keys through pulumi.Config: a role there stops the program before it declares
    anything, as the stack file does for `pacsguard plan`."""
    import pulumi

    from infra.synth import _StackMocks
    from stacks.loader import pulumi_config_map, settings_from_pulumi_config

    cfg = _prod()
    cfg["aws:assumeRoles"] = [{"roleArn": "arn:aws:iam::123456789012:role/deployer"}]
    pulumi.runtime.set_mocks(_StackMocks("eu-central-1"), project="pacsguard", stack="prod", preview=False)
    pulumi.runtime.set_all_config(pulumi_config_map(cfg))
    with pytest.raises(pulumi.RunError, match=r"aws:assumeRoles is set.*aws:profile"):
        settings_from_pulumi_config()


def test_world_open_web_entry_needs_an_explicit_setting() -> None:
    cfg = _dev()
    cfg["pacsguard:https"]["cidrs"] = ["0.0.0.0/0"]
    _reject(cfg, "https.cidrs", "web.allow_world")
    cfg["pacsguard:web"]["allow_world"] = True
    _reject(cfg, "web.internal", "cannot reach an internal ALB")
    cfg["pacsguard:web"]["internal"] = False
    assert settings_from_config(cfg, "x").web.allow_world  # explicit, with WAF and MFA on: accepted


@pytest.mark.parametrize(("section", "key"), [("pacsguard:waf", "enabled"), ("pacsguard:identity", "mfa")])
def test_world_open_web_entry_refused_without_waf_or_mfa(section: str, key: str) -> None:
    cfg = _dev()
    cfg["pacsguard:https"]["cidrs"] = ["0.0.0.0/0"]
    cfg["pacsguard:web"]["allow_world"] = True
    cfg["pacsguard:web"]["internal"] = False
    cfg[section] = {key: False}
    _reject(cfg, "web.allow_world", "waf.enabled and identity.mfa")


@pytest.mark.parametrize(
    ("section", "key", "fragment"),
    [("pacsguard:waf", "enabled", "waf.enabled"), ("pacsguard:identity", "mfa", "identity.mfa")],
)
def test_prod_refuses_no_waf_or_no_mfa(section: str, key: str, fragment: str) -> None:
    cfg = _prod()
    cfg[section] = {**cfg.get(section, {}), key: False}
    _reject(cfg, fragment, "prod refuses")


def test_backup_copy_must_leave_the_region_but_stay_in_allowed_regions() -> None:
    cfg = _prod()
    cfg["pacsguard:backup"]["copy_region"] = "eu-central-1"
    _reject(cfg, "backup.copy_region", "another region")
    cfg["pacsguard:backup"]["copy_region"] = "us-east-1"
    _reject(cfg, "backup.copy_region", "data residency")


def test_backup_retentions_must_grow() -> None:
    cfg = _dev()
    cfg["pacsguard:backup"] = {"daily_retention_days": 30, "weekly_retention_days": 14, "monthly_retention_days": 90}
    _reject(cfg, "backup", "daily <= weekly <= monthly")


def test_prod_daily_backups_kept_35_days() -> None:
    cfg = _prod()
    cfg["pacsguard:backup"]["daily_retention_days"] = 14
    _reject(cfg, "backup.daily_retention_days")


def test_web_needs_a_domain_and_a_valid_certificate_arn() -> None:
    cfg = _dev()
    del cfg["pacsguard:web"]["domain_name"]
    _reject(cfg, "web.domain_name", "required")
    cfg = _dev()
    cfg["pacsguard:web"]["certificate_arn"] = "arn:aws:iam::123:server-certificate/x"
    _reject(cfg, "web.certificate_arn")


def test_session_timeout_is_bounded() -> None:
    cfg = _dev()
    cfg["pacsguard:web"]["session_timeout_minutes"] = 24 * 60
    _reject(cfg, "web.session_timeout_minutes")


# --- first deploy: what AWS would refuse, or what would deploy a PACS nobody can reach -------------------


def test_a_stack_without_certificate_or_zone_is_refused() -> None:
    cfg = _prod()
    del cfg["pacsguard:web"]["route53_zone_id"]
    _reject(cfg, "web", "web.certificate_arn", "web.route53_zone_id")
    cfg["pacsguard:web"]["certificate_arn"] = "arn:aws:acm:eu-central-1:123456789012:certificate/0a1b2c3d-4e5f"
    assert settings_from_config(cfg, "x").web.certificate_arn


@pytest.mark.parametrize("version", ["16.4", "16.1", "13", "12"])
def test_database_version_is_a_supported_major(version: str) -> None:
    cfg = _prod()
    cfg["pacsguard:database"]["engine_version"] = version
    message = _reject(cfg, "database.engine_version")
    assert ("pins a minor" in message) if "." in version else ("not a major RDS supports" in message)


@pytest.mark.parametrize("version", ["17", "18"])
def test_current_rds_majors_are_accepted(version: str) -> None:
    cfg = _prod()
    cfg["pacsguard:database"]["engine_version"] = version
    assert settings_from_config(cfg, "x").database.engine_version == version


def test_default_database_version_is_a_major() -> None:
    assert load_settings("prod").database.engine_version == "16"


@pytest.mark.parametrize("network", ["0.0.0.0/1", "8.8.8.0/24", "10.0.0.0/8", "192.0.0.0/2", "198.51.100.0/24"])
def test_prod_refuses_public_or_wide_modality_networks(network: str) -> None:
    cfg = _prod()
    cfg["pacsguard:dicom"]["modality_cidrs"].append(network)
    _reject(cfg, "dicom.modality_cidrs", "prod refuses")


def test_prod_accepts_a_private_slash_16_modality_network() -> None:
    cfg = _prod()
    cfg["pacsguard:dicom"]["modality_cidrs"].append("172.20.0.0/16")
    assert settings_from_config(cfg, "x")


def test_internet_facing_alb_for_private_networks_only_is_refused() -> None:
    cfg = _prod()
    cfg["pacsguard:web"]["internal"] = False
    _reject(cfg, "web.internal", "internet-facing")


def test_private_hospital_networks_need_a_way_into_the_vpc() -> None:
    cfg = _prod()
    del cfg["pacsguard:connectivity"]
    _reject(cfg, "connectivity", "10.70.20.0/23", "no route into the VPC", "transit_gateway_id")
    cfg["pacsguard:connectivity"] = {"transit_gateway_id": "tgw-0a1b2c3d4e5f60718", "vpn_gateway_id": "vgw-0a1b2c3d"}
    _reject(cfg, "connectivity", "not both")


@pytest.mark.parametrize("service", ["guardduty", "config", "security_hub"])
def test_prod_refuses_account_services_off_but_accepts_existing(service: str) -> None:
    cfg = _prod()
    cfg["pacsguard:account"][service] = "off"
    _reject(cfg, f"account.{service}", "prod refuses off")
    cfg["pacsguard:account"][service] = "existing"
    assert getattr(settings_from_config(cfg, "x").account, service) == "existing"


def test_public_users_cannot_reach_an_internal_alb() -> None:
    cfg = _prod()
    cfg["pacsguard:https"]["cidrs"].append("203.0.113.0/24")
    _reject(cfg, "web.internal", "203.0.113.0/24")


def test_regions_outside_the_aws_and_govcloud_partitions_are_refused() -> None:
    """Finding 4 of the AWS review: cn-north-1 passed the region pattern and built a wrong ALB key URL."""
    cfg = _prod()
    cfg["aws:region"] = "cn-north-1"
    cfg.pop("pacsguard:allowed_regions", None)
    _reject(cfg, "region", "cn-north-1", "aws-us-gov")
