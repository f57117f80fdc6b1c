"""The plan layer: the synthesised Pulumi graph turned into typed facts (policies.facts)."""
