"""Audit: CloudTrail with data events, access logs, retention, alarms, threat detection."""

from __future__ import annotations

from policies import citations as c
from policies.cloud.checks import monitoring
from policies.facts import kinds
from policies.facts.kinds import judged
from policies.facts.resources import (
    DELEGATED,
    Bucket,
    Database,
    Detector,
    LoadBalancer,
    LogGroup,
    PhiBucket,
    Recorder,
    Trail,
)
from policies.graph import PlanGraph
from policies.model import NOT_APPLICABLE, Citations, CloudCheck, Control, Outcome, StackCheck

AUDIT = Citations(hipaa=(c.AUDIT, c.ACTIVITY_REVIEW), gdpr=(c.GDPR_CIA, c.GDPR_BREACH), ihe=(c.ITI_20,))
DETECTION = Citations(hipaa=(c.ACTIVITY_REVIEW, c.LOGIN_MONITORING), gdpr=(c.GDPR_BREACH,))
MIN_RETENTION = {"prod": 2192, "dev": 365}  # six years: HIPAA 164.316(b)(2) documentation retention
REQUIRED_ALARMS = (
    "UnauthorizedApiCalls", "RootAccountUse", "ConsoleLoginWithoutMfa", "IamPolicyChanges",
    "KmsKeyDisableOrDeletion", "SecurityGroupChanges", "PacsAuthenticationFailures",
)  # fmt: skip
REQUIRED_LOG_EXPORTS = ("postgresql", "upgrade")
GUARDDUTY_FEATURES = ("S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS")


def _db_log_exports(db: Database) -> str | None:
    missing = [x for x in REQUIRED_LOG_EXPORTS if x not in db.log_exports]
    return f"logs not exported to CloudWatch: {', '.join(missing)}" if missing else None


def _trail(t: Trail) -> str | None:
    if not t.multi_region:
        return "trail is single-region"
    if not t.log_validation:
        return "log file validation is off (tampering would go unnoticed)"
    if not t.cloudwatch_logs:
        return "trail is not delivered to CloudWatch Logs (no alarms possible)"
    return None if t.logging else "logging is stopped"


def _data_events(b: PhiBucket) -> str | None:
    return None if b.object_events_recorded else "object reads and writes of this PHI bucket are not recorded"


def _access_logging(b: Bucket) -> str | None:
    return None if b.access_logging or b.log_sink else "server access logging is off"


def _access_logging_ok(b: Bucket) -> str:
    return "the access-log sink itself (logging into itself would loop)" if b.log_sink else "compliant"


def _alb_logs(lb: LoadBalancer) -> str | None:
    return None if lb.access_logs else "access logs are off"


def _retention(lg: LogGroup) -> str | None:
    minimum = MIN_RETENTION[lg.environment]
    days = lg.retention_days
    if days and days >= minimum:
        return None
    return f"kept {f'{days} days' if days else 'forever (retention unset)'}; {lg.environment} needs {minimum} days"


def _alarms(g: PlanGraph) -> list[Outcome]:
    filters = {f.inputs.get("name"): f for f in g.of("aws:cloudwatch/logMetricFilter:LogMetricFilter")}
    alarms = {a.inputs.get("metricName"): a for a in g.of("aws:cloudwatch/metricAlarm:MetricAlarm")}
    out = []
    for name in REQUIRED_ALARMS:
        if name not in filters:
            out.append(Outcome(name, "fail", "no metric filter"))
        elif name not in alarms or not alarms[name].inputs.get("alarmActions"):
            out.append(Outcome(name, "fail", "no alarm that notifies anyone"))
        else:
            out.append(Outcome(name, "pass", "filter and alarm with a notification"))
    return out


def _delegated(source: str, service: str) -> tuple[str, str] | None:
    """account.<service>: existing declares nothing: the plan cannot see it, the cloud audit judges the live one."""
    if source != DELEGATED:
        return None
    return (
        f"account.{service}: existing (run by the organisation); `pacsguard audit` judges the live one",
        NOT_APPLICABLE,
    )


def _guardduty(d: Detector) -> str | None:
    if d.source == DELEGATED:
        return None
    if not d.enabled:
        return "GuardDuty is not enabled"
    missing = [f for f in GUARDDUTY_FEATURES if f not in d.features]
    return f"features off: {', '.join(missing)}" if missing else None


def _config(r: Recorder) -> str | None:
    if r.source == DELEGATED:
        return None
    if not r.exists:
        return "AWS Config is not recording"
    if not r.all_supported:
        return "recorder does not record all supported resource types"
    return None if r.recording else "recorder is not recording"


CONTROLS = [
    Control(
        id="AUD-CLOUDTRAIL",
        title="CloudTrail records every region with validated, monitored logs",
        family="audit",
        severity="high",
        rationale="The account-level record of who changed or read what; validation makes tampering detectable.",
        remediation="Multi-region trail with log file validation, KMS and CloudWatch Logs delivery.",
        citations=AUDIT,
        equivalents={
            "aws_config": "MULTI_REGION_CLOUD_TRAIL_ENABLED",
            "prowler": "cloudtrail_multi_region_enabled, cloudtrail_log_file_validation_enabled, cloudtrail_cloudwatch_logging_enabled",
            "checkov": "CKV_AWS_67",
        },
        **judged(
            kinds.TRAILS, _trail, "multi-region, validated, delivered to CloudWatch", missing="no CloudTrail trail"
        ),
    ),
    Control(
        id="AUD-PHI-DATA-EVENTS",
        title="Object access on PHI buckets is recorded",
        family="audit",
        severity="high",
        rationale="Management events do not show who downloaded an image; S3 data events do.",
        remediation="Add an advanced event selector for AWS::S3::Object data events on the PHI buckets.",
        citations=AUDIT,
        equivalents={"prowler": "cloudtrail_s3_dataevents_read_enabled"},
        **judged(kinds.PHI_BUCKETS, _data_events, "object reads and writes recorded"),
    ),
    Control(
        id="AUD-S3-ACCESS-LOGS",
        title="Buckets log every request",
        family="audit",
        severity="medium",
        rationale="Server access logs record requests CloudTrail data events may not (including denied ones).",
        remediation="Add BucketLogging to the access-log sink for every bucket but the sink itself.",
        citations=AUDIT,
        equivalents={
            "aws_config": "S3_BUCKET_LOGGING_ENABLED",
            "prowler": "s3_bucket_server_access_logging_enabled",
            "checkov": "CKV_AWS_18",
        },
        **judged(kinds.BUCKETS, _access_logging, _access_logging_ok),
    ),
    Control(
        id="AUD-ALB-LOGS",
        title="The web load balancer writes access logs",
        family="audit",
        severity="medium",
        rationale="Every HTTP request to the PACS, with client address, is kept.",
        remediation="Enable access_logs to the access-log bucket.",
        citations=AUDIT,
        equivalents={"prowler": "elbv2_logging_enabled", "checkov": "CKV_AWS_91"},
        **judged(
            kinds.LOAD_BALANCERS,
            _alb_logs,
            applies=lambda lb: lb.type == "application",
            applies_to="application load balancers",
        ),
    ),
    Control(
        id="AUD-LOG-RETENTION",
        title="Logs are kept six years in prod, one year in dev",
        family="audit",
        severity="medium",
        rationale="HIPAA documentation must be retained six years; audit logs are the evidence.",
        remediation="Set log_retention_days (prod default 2192).",
        citations=Citations(hipaa=(c.AUDIT, "164.316(b)(2)(i) Time limit"), gdpr=(c.GDPR_CIA,)),
        equivalents={
            "prowler": "cloudwatch_log_group_retention_policy_specific_days_enabled",
            "checkov": "CKV_AWS_338",
        },
        **judged(kinds.LOG_GROUPS, _retention, lambda lg: f"kept {lg.retention_days} days"),
    ),
    Control(
        id="AUD-ALARMS",
        title="Security events raise alarms that reach someone",
        family="audit",
        severity="high",
        rationale="Logs nobody watches do not detect a breach: the CIS monitoring set plus PACS authentication failures.",
        remediation="Metric filters and alarms for unauthorized calls, root use, console login without MFA, IAM and SG changes, "
        "KMS disable/deletion and PACS authentication failures, notifying an SNS topic.",
        citations=DETECTION,
        equivalents={
            "prowler": "cloudwatch_log_metric_filter_unauthorized_api_calls, cloudwatch_log_metric_filter_security_group_changes, "
            "cloudwatch_changes_to_network_acls_alarm_configured, cloudwatch_changes_to_network_gateways_alarm_configured, "
            "cloudwatch_changes_to_network_route_tables_alarm_configured, cloudwatch_changes_to_vpcs_alarm_configured, "
            "cloudwatch_log_metric_filter_policy_changes, cloudwatch_log_metric_filter_disable_or_scheduled_deletion_of_kms_cmk"
        },
        plan=StackCheck(_alarms),
        cloud=CloudCheck(monitoring.cis_alarms),
    ),
    Control(
        id="AUD-GUARDDUTY",
        title="GuardDuty watches S3, EBS and RDS logins",
        family="audit",
        severity="high",
        rationale="Threat detection flags exfiltration from the archive and brute force against the index.",
        remediation="Enable the detector with S3_DATA_EVENTS, EBS_MALWARE_PROTECTION and RDS_LOGIN_EVENTS.",
        citations=DETECTION,
        equivalents={"aws_config": "GUARDDUTY_ENABLED_CENTRALIZED", "prowler": "guardduty_is_enabled"},
        **judged(
            kinds.DETECTORS,
            _guardduty,
            "S3, EBS malware and RDS login protection on",
            unjudged=lambda d: _delegated(d.source, "guardduty"),
        ),
    ),
    Control(
        id="AUD-CONFIG",
        title="AWS Config records every resource type",
        family="audit",
        severity="medium",
        rationale="Configuration history shows when a control drifted, not only that it did.",
        remediation="Recorder with all_supported, a delivery channel and the recorder started.",
        citations=DETECTION,
        equivalents={"prowler": "config_recorder_all_regions_enabled"},
        **judged(
            kinds.RECORDERS,
            _config,
            "recording all resource types",
            unjudged=lambda r: _delegated(r.source, "config"),
        ),
    ),
    Control(
        id="AUD-RDS-LOGS",
        title="The index database exports its logs to CloudWatch",
        family="audit",
        severity="medium",
        rationale="PostgreSQL's connection and error logs show who reached the index and failed logins; on the instance alone they rotate away within days.",
        remediation="Set enabled_cloudwatch_logs_exports=['postgresql', 'upgrade'] on the instance (the stack's Database component does).",
        citations=Citations(hipaa=(c.AUDIT, c.LOGIN_MONITORING), gdpr=(c.GDPR_CIA,)),
        equivalents={"aws_config": "RDS_LOGGING_ENABLED", "prowler": "rds_instance_integration_cloudwatch_logs"},
        **judged(kinds.DATABASES, _db_log_exports, "postgresql and upgrade logs exported"),
    ),
]
