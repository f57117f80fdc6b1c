"""Hosts: IMDSv2, no public IP, no key pair, encrypted volumes, private subnets, no secret in user data."""

from __future__ import annotations

import base64
import re

from infra.synth import Synthesis
from tests.infra.graph import stack_key_arns, subnet_ids

SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r'"password"\s*:', re.I),
    re.compile(r"PGPASSWORD|aws_secret_access_key", re.I),
]


def _lt(s: Synthesis):
    (lt,) = s.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    return lt.inputs


def user_data(s: Synthesis) -> str:
    return base64.b64decode(_lt(s)["userData"]).decode()


def test_imdsv2_required_with_hop_limit_one(stack: Synthesis) -> None:
    md = _lt(stack)["metadataOptions"]
    assert md["httpTokens"] == "required" and md["httpPutResponseHopLimit"] == 1


def test_no_public_ip_and_no_key_pair(stack: Synthesis) -> None:
    lt = _lt(stack)
    assert all(ni["associatePublicIpAddress"] == "false" for ni in lt["networkInterfaces"])
    assert not lt.get("keyName")


def test_root_volume_encrypted_with_a_stack_key(stack: Synthesis) -> None:
    keys = set(stack_key_arns(stack).values())
    for bdm in _lt(stack)["blockDeviceMappings"]:
        assert bdm["ebs"]["encrypted"] == "true" and bdm["ebs"]["kmsKeyId"] in keys


def test_debian_ami_is_looked_up_not_hard_coded(stack: Synthesis) -> None:
    assert _lt(stack)["imageId"] == "ami-0debian12offline"  # the mock's answer to ec2.getAmi


def test_asg_spans_the_private_subnets_with_the_configured_count(stack: Synthesis) -> None:
    (asg,) = stack.of_type("aws:autoscaling/group:Group")
    private = subnet_ids(stack, "private")
    assert set(asg.inputs["vpcZoneIdentifiers"]) == private
    n = stack.settings.hosts.count
    assert (asg.inputs["minSize"], asg.inputs["maxSize"], asg.inputs["desiredCapacity"]) == (n, n, n)


def test_ebs_encryption_by_default_with_the_images_key(stack: Synthesis) -> None:
    (enc,) = stack.of_type("aws:ebs/encryptionByDefault:EncryptionByDefault")
    (key,) = stack.of_type("aws:ebs/defaultKmsKey:DefaultKmsKey")
    assert enc.inputs["enabled"] is True and key.inputs["keyArn"] == stack_key_arns(stack)["images"]


def test_user_data_runs_the_host_bootstrap_and_holds_no_secret(stack: Synthesis) -> None:
    ud = user_data(stack)
    assert "host-bundle.zip install --profile" in ud
    assert "aws-secretsmanager:arn:aws:secretsmanager:" in ud  # the password is fetched at boot, by ARN
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(ud), f"user data matches {pattern.pattern}"


def test_secret_scanner_catches_an_embedded_password() -> None:
    leaked = '{"database": {"password": "hunter2"}}'
    assert any(p.search(leaked) for p in SECRET_PATTERNS)


def test_user_data_profile_carries_the_modality_allow_list(prod: Synthesis) -> None:
    ud = user_data(prod)
    for m in prod.settings.dicom.modalities:
        assert f'"aet": "{m.aet}"' in ud and f'"host": "{m.host}"' in ud


def test_efs_image_store_encrypted_tls_only_and_mounted_through_access_point(stack: Synthesis) -> None:
    (fs,) = stack.of_type("aws:efs/fileSystem:FileSystem")
    assert fs.inputs["encrypted"] is True and fs.inputs["kmsKeyId"] == stack_key_arns(stack)["images"]
    (pol,) = stack.of_type("aws:efs/fileSystemPolicy:FileSystemPolicy")
    import json

    sts = json.loads(pol.inputs["policy"])["Statement"]
    assert any(
        st["Effect"] == "Deny" and st["Condition"]["Bool"]["aws:SecureTransport"] == "false"
        for st in sts
        if "Bool" in st.get("Condition", {})
    )
    mounts = stack.of_type("aws:efs/mountTarget:MountTarget")
    assert len(mounts) == stack.settings.availability_zones
    (ap,) = stack.of_type("aws:efs/accessPoint:AccessPoint")
    assert ap.inputs["rootDirectory"]["creationInfo"]["permissions"] == "0750"


def test_hosts_pin_the_stacks_own_load_balancer_as_token_signer(stack: Synthesis) -> None:
    import json
    import re

    body = re.search(r"<<'PACSGUARD_PROFILE'\n(.*)\nPACSGUARD_PROFILE", user_data(stack), re.S).group(1)
    profile = json.loads(body)
    alb = next(r for r in stack.of_type("aws:lb/loadBalancer:LoadBalancer") if r.name == "web-alb")
    assert profile["jwt_signer"] == alb.outputs["arn"]
    assert profile["jwt_key_url"] == f"https://public-keys.auth.elb.{stack.settings.region}.amazonaws.com/{{kid}}"
    assert profile["identity"] == "jwt"  # no Basic users on AWS hosts
