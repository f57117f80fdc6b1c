"""Web and DICOM entries: TLS policies, redirect-only HTTP, Cognito before forward, pass-through DICOM, WAF."""

from __future__ import annotations

from infra.synth import Synthesis
from infra.waf import BODY_RULES, MANAGED_GROUPS, body_labels
from tests.infra.graph import INGRESS, named, subnet_ids

LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"


def _alb(s: Synthesis):
    return named(s, LB, "web-alb")


def test_alb_is_internal_for_hospital_networks_drops_invalid_headers_and_logs(stack: Synthesis) -> None:
    alb = _alb(stack).inputs
    # The shipped stacks' users are on private hospital networks: an internet-facing ALB could not serve them.
    assert alb["loadBalancerType"] == "application" and alb["internal"] is True
    assert set(alb["subnets"]) == subnet_ids(stack, "private")
    assert alb["dropInvalidHeaderFields"] is True
    assert alb["accessLogs"]["enabled"] is True
    sink = named(stack, "aws:s3/bucket:Bucket", "storage-accesslogs").outputs["bucket"]
    assert alb["accessLogs"]["bucket"] == sink
    assert alb["enableDeletionProtection"] is stack.settings.is_prod


def test_web_entry_admits_only_the_https_networks(stack: Synthesis) -> None:
    rules = [r.inputs for r in stack.of_type(INGRESS) if r.inputs["securityGroupId"] == "web-sg-id"]
    assert {r["fromPort"] for r in rules} == {80, 443}
    assert {r["cidrIpv4"] for r in rules} == {str(c) for c in stack.settings.https.cidrs}
    hosts_443 = [
        r.inputs
        for r in stack.of_type(INGRESS)
        if r.inputs["securityGroupId"] == "hosts-sg-id" and r.inputs["fromPort"] == 443
    ]
    assert [r["referencedSecurityGroupId"] for r in hosts_443] == ["web-sg-id"]


def test_https_listener_uses_tls13_policy_and_authenticates_before_forwarding(stack: Synthesis) -> None:
    https = named(stack, LISTENER, "web-https").inputs
    assert https["protocol"] == "HTTPS" and https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    actions = sorted(https["defaultActions"], key=lambda a: a["order"])
    assert [a["type"] for a in actions] == ["authenticate-cognito", "forward"]
    cognito = actions[0]["authenticateCognito"]
    assert cognito["onUnauthenticatedRequest"] == "authenticate"
    assert cognito["sessionTimeout"] == stack.settings.web.session_timeout_minutes * 60
    # Any scope besides openid limits userInfo to those claims: custom:pacs_role would never arrive.
    assert cognito["scope"] == "openid"
    client = named(stack, "aws:cognito/userPoolClient:UserPoolClient", "identity-alb-client")
    assert client.inputs["allowedOauthScopes"] == ["openid"]
    assert "custom:pacs_role" in client.inputs["readAttributes"]


def test_listener_waits_for_an_issued_certificate(stack: Synthesis) -> None:
    https = named(stack, LISTENER, "web-https")
    validation = named(stack, "aws:acm/certificateValidation:CertificateValidation", "web-certificate-validation")
    record = named(stack, "aws:route53/record:Record", "web-certificate-validation-record")
    assert record.inputs["zoneId"] == stack.settings.web.route53_zone_id
    assert record.inputs["type"] == "CNAME"
    assert validation.urn in https.property_dependencies["certificateArn"]


def test_alb_may_reach_cognito_on_443_only(stack: Synthesis) -> None:
    egress = [
        r.inputs
        for r in stack.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.inputs["securityGroupId"] == "web-sg-id"
    ]
    to_idp = [e for e in egress if e.get("cidrIpv4") == "0.0.0.0/0"]
    assert [(e["ipProtocol"], e["fromPort"], e["toPort"]) for e in to_idp] == [("tcp", 443, 443)]


def test_http_listener_only_redirects(stack: Synthesis) -> None:
    http = named(stack, LISTENER, "web-http-redirect").inputs
    (action,) = http["defaultActions"]
    assert action["type"] == "redirect"
    assert action["redirect"] == {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}


def test_target_group_is_tls_end_to_end_with_a_phi_free_health_check(stack: Synthesis) -> None:
    tg = named(stack, "aws:lb/targetGroup:TargetGroup", "web-hosts").inputs
    assert tg["protocol"] == "HTTPS" and tg["port"] == 443
    assert tg["healthCheck"]["protocol"] == "HTTPS" and tg["healthCheck"]["path"] == "/healthz"


def test_dicom_nlb_is_internal_tcp_pass_through_with_client_ip_and_cross_zone(stack: Synthesis) -> None:
    nlb = named(stack, LB, "dicom-nlb").inputs
    assert nlb["loadBalancerType"] == "network" and nlb["internal"] is True
    assert nlb["enableCrossZoneLoadBalancing"] is True
    tg = named(stack, "aws:lb/targetGroup:TargetGroup", "dicom-hosts").inputs
    assert tg["protocol"] == "TCP" and tg["preserveClientIp"] == "true" and tg["port"] == stack.settings.dicom.port
    listener = named(stack, LISTENER, "dicom-tcp").inputs
    assert listener["protocol"] == "TCP"  # TLS ends at Orthanc: mutual TLS needs the client certificate there


def test_waf_has_managed_groups_rate_limit_and_stow_exception(stack: Synthesis) -> None:
    (acl,) = stack.of_type("aws:wafv2/webAcl:WebAcl")
    assert acl.inputs["scope"] == "REGIONAL"
    rules = {r["name"]: r for r in acl.inputs["rules"]}
    for group in MANAGED_GROUPS:
        assert rules[group]["statement"]["managedRuleGroupStatement"]["name"] == group
    rate = rules["RatePerClientIp"]["statement"]["rateBasedStatement"]
    assert rate["aggregateKeyType"] == "IP" and rate["limit"] == stack.settings.waf.rate_limit
    for group, (_namespace, body_rules) in BODY_RULES.items():
        overrides = rules[group]["statement"]["managedRuleGroupStatement"]["ruleActionOverrides"]
        assert {o["name"] for o in overrides} == set(body_rules)
        assert all(o["actionToUse"] == {"count": {}} for o in overrides)
    body = rules["BodyRulesExceptStow"]
    assert "block" in body["action"]
    labelled, unless = body["statement"]["andStatement"]["statements"]
    keys = {s["labelMatchStatement"]["key"] for s in labelled["orStatement"]["statements"]}
    assert keys == set(body_labels()) and len(keys) == 10
    assert "awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body" in keys
    # A STOW upload must not be blocked by the React RCE body rule either, nor may that rule go unenforced elsewhere.
    assert "awswaf:managed:aws:known-bad-inputs:ReactJSRCE_Body" in keys
    stow = unless["notStatement"]["statement"]["andStatement"]["statements"]
    matches = [
        (m["byteMatchStatement"]["searchString"], next(iter(m["byteMatchStatement"]["fieldToMatch"]))) for m in stow
    ]
    assert matches == [
        (stack.settings.waf.stow_path_prefix, "uriPath"),
        ("POST", "method"),
        ("multipart/related", "singleHeader"),
    ]
    assert body["priority"] > max(rules[g]["priority"] for g in BODY_RULES)  # the labels exist by then


def test_waf_is_on_the_alb_and_logs_to_an_encrypted_group(stack: Synthesis) -> None:
    (assoc,) = stack.of_type("aws:wafv2/webAclAssociation:WebAclAssociation")
    assert assoc.inputs["resourceArn"] == _alb(stack).outputs["arn"]
    (logging,) = stack.of_type("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    group = named(stack, "aws:cloudwatch/logGroup:LogGroup", "waf-logs")
    assert group.inputs["name"].startswith("aws-waf-logs-") and group.inputs["kmsKeyId"]
    assert logging.inputs["logDestinationConfigs"] == [group.outputs["arn"]]
    redacted = [next(iter(f.values())) for f in logging.inputs["redactedFields"]]
    assert {"name": "authorization"} in redacted and {"name": "cookie"} in redacted
