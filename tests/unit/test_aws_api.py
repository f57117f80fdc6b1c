"""The host's standard-library AWS client signs exactly as botocore does, and works against the moto server."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from orthanc_config import aws_api

NOW = dt.datetime(2026, 12, 1, 12, 30, 45, tzinfo=dt.UTC)
CREDS = aws_api.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session/token+=")


def _botocore_authorization(method: str, url: str, service: str, headers: dict[str, str], body: bytes) -> str:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    signer_class = botocore_auth.S3SigV4Auth if service == "s3" else botocore_auth.SigV4Auth
    signer = signer_class(BotoCredentials(CREDS.access_key, CREDS.secret_key, CREDS.token), service, "eu-west-1")
    original = botocore_auth.get_current_datetime
    botocore_auth.get_current_datetime = lambda: NOW.replace(tzinfo=None)
    try:
        signer.add_auth(request)
    finally:
        botocore_auth.get_current_datetime = original
    return request.headers["Authorization"]


@pytest.mark.parametrize(
    ("method", "url", "service", "headers", "body"),
    [
        (
            "POST",
            "https://secretsmanager.eu-west-1.amazonaws.com/",
            "secretsmanager",
            {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"},
            b'{"SecretId": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1"}',
        ),
        ("GET", "https://b.s3.eu-west-1.amazonaws.com/pacsguard/bootstrap/host-bundle.zip", "s3", {}, b""),
        ("GET", "http://127.0.0.1:5000/bucket/a%20b/c.zip?versionId=3", "s3", {}, b""),
    ],
)
def test_signature_matches_botocore(method: str, url: str, service: str, headers: dict, body: bytes) -> None:
    ours = aws_api.sign(
        method, url, region="eu-west-1", service=service, credentials=CREDS, headers=headers, body=body, now=NOW
    )
    assert ours["Authorization"] == _botocore_authorization(method, url, service, headers, body)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    monkeypatch.setenv(aws_api.ENDPOINT_ENV, moto_endpoint)
    return moto_endpoint


def test_s3_get_and_secrets_against_moto(aws_env: str) -> None:
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    s3 = boto3.client("s3", region_name="eu-west-1", endpoint_url=aws_env, **keys)
    s3.create_bucket(Bucket="bundle-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="bundle-bucket", Key="pacsguard/bootstrap/host-bundle.zip", Body=b"PK-bundle")
    sm = boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=aws_env, **keys)
    arn = sm.create_secret(Name="db-master", SecretString='{"username": "u", "password": "p"}')["ARN"]

    client = aws_api.Client("eu-west-1", credentials=aws_api.Credentials("testing", "testing"))
    assert client.s3_get("bundle-bucket", "pacsguard/bootstrap/host-bundle.zip") == b"PK-bundle"
    assert client.call("secretsmanager", "GetSecretValue", {"SecretId": arn})["SecretString"].endswith('"p"}')
    with pytest.raises(aws_api.AwsError) as err:
        client.call("secretsmanager", "GetSecretValue", {"SecretId": "missing"})
    assert err.value.code == "ResourceNotFoundException"
