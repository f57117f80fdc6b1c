"""Which AWS services the hosts reach through VPC endpoints, and which of those endpoints take a policy.

Kept free of Pulumi imports: the network controls read it too.
"""

from __future__ import annotations

INTERFACE_ENDPOINTS = ("ssm", "ssmmessages", "ec2messages", "kms", "logs", "secretsmanager", "sts")
# Services whose endpoints accept an endpoint policy (AWS PrivateLink, "AWS services that integrate with AWS
# PrivateLink", column "Supports endpoint policies"). The Session Manager channels (ssm, ssmmessages,
# ec2messages) are left on the default policy rather than risk a create-time refusal.
POLICY_SERVICES = ("s3", "kms", "logs", "secretsmanager", "sts", "ec2")
# storage.mode ebs: the host attaches its image volume itself (ec2:AttachVolume), also outside a package window.
EBS_ENDPOINTS = ("ec2",)
