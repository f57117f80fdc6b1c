"""The PACSGuard CrossGuard policy pack: `pulumi preview --policy-pack policies`."""

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.crossguard import build_policies

PolicyPack(
    name="pacsguard",
    description="PACSGuard controls: HIPAA 164.312 / 164.308(a)(7), GDPR Art. 32, DICOM PS3.15, IHE ATNA",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
)
