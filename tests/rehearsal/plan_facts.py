"""What the rehearsal takes from the dev stack's plan: the user data as rendered, and the names it refers to."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from pathlib import Path

from infra.host_bundle import host_bundle, write_zip
from infra.hosts import BUNDLE_KEY
from infra.synth import FAKE_ACCOUNT, Synthesis
from orthanc_config.profile import HostProfile


def profile_of(user_data: str) -> HostProfile:
    body = re.search(r"<<'PACSGUARD_PROFILE'\n(.*)\nPACSGUARD_PROFILE", user_data, re.S)
    assert body, "the user data embeds no host profile"
    return HostProfile.from_dict(json.loads(body.group(1)))


def plan_facts(synthesis: Synthesis, workdir: Path) -> dict:
    (template,) = synthesis.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    user_data = base64.b64decode(template.inputs["userData"]).decode()
    profile = profile_of(user_data)
    objects = synthesis.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    (bundle_object,) = [r for r in objects if r.inputs.get("key") == BUNDLE_KEY]
    bucket, key = re.search(r"^AWS_REGION=\S+ python3 \S+ s3-get s3://([^/]+)/(\S+) ", user_data, re.M).groups()
    assert (bucket, key) == (bundle_object.inputs["bucket"], bundle_object.inputs["key"])
    truststore = urllib.parse.urlsplit(profile.database.ca_bundle_url)
    alb_keys = urllib.parse.urlsplit(profile.jwt_key_url)
    user_pool = urllib.parse.urlsplit(profile.machine_jwks)
    db_secret_arn = profile.database.password_source.removeprefix("aws-secretsmanager:")
    return {
        "user_data": user_data,
        "profile": profile,
        "region": profile.region,
        "account": FAKE_ACCOUNT,
        "ami": template.inputs["imageId"],
        "instance_type": template.inputs["instanceType"],
        "bucket": bucket,
        "bundle_key": key,
        # The object Pulumi uploads is host_bundle(); the rehearsal writes the same archive.
        "bundle": write_zip(host_bundle(), workdir / "host-bundle.zip"),
        "db_host": profile.database.host,
        "db_name": profile.database.name,
        "db_master_user": profile.database.user,
        "db_secret_name": db_secret_arn.split(":secret:", 1)[1],
        "truststore_host": truststore.hostname,
        "truststore_path": truststore.path,
        "public_hosts": [truststore.hostname, alb_keys.hostname, user_pool.hostname],
        "machine_jwks_path": user_pool.path,  # the user pool's JWKS (machine clients' access tokens)
        "alb_key_path": alb_keys.path,  # .../{kid}: the region serves the ALB's public key there
        "efs": profile.efs,
        "ca_secret_name": profile.stack_ca_secret.split(":secret:", 1)[1],
        "db_app_secret_name": profile.database.app_password_secret.split(":secret:", 1)[1],
    }
