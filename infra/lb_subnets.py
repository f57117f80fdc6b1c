"""The subnets the load balancers live in: what the host firewall admits and nginx trusts for X-Forwarded-For."""

from __future__ import annotations

from infra.network import subnet_plan
from stacks.settings import Settings


def load_balancer_cidrs(s: Settings) -> tuple[str, ...]:
    plan = subnet_plan(s.vpc_cidr, s.availability_zones)
    tiers = {"private" if s.web.internal else "public", "public" if s.dicom.internet_facing else "private"}
    return tuple(c for tier in ("public", "private") if tier in tiers for c in plan[tier])
