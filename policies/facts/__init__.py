"""Typed facts per resource kind: what both the plan adapter (policies.plan.facts, from the synthesised graph) and
the cloud collectors (policies.cloud.facts, from boto3) produce, so one judge per control reads the same thing at
both layers and the layers cannot drift (DESIGN.md, "Catalog internals")."""
