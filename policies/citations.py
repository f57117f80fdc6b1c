"""The regulation and standard sections controls cite, named once."""

from __future__ import annotations

# HIPAA Security Rule, 45 CFR
ACCESS = "164.312(a)(1) Access control"
UNIQUE_ID = "164.312(a)(2)(i) Unique user identification"
AUTO_LOGOFF = "164.312(a)(2)(iii) Automatic logoff"
EMERGENCY_ACCESS = "164.312(a)(2)(ii) Emergency access procedure"
ENC_AT_REST = "164.312(a)(2)(iv) Encryption and decryption"
AUDIT = "164.312(b) Audit controls"
INTEGRITY = "164.312(c)(1) Integrity"
INTEGRITY_MECHANISM = "164.312(c)(2) Mechanism to authenticate ePHI"
AUTHENTICATION = "164.312(d) Person or entity authentication"
TRANSMISSION = "164.312(e)(1) Transmission security"
TRANSMISSION_ENC = "164.312(e)(2)(ii) Encryption"
BACKUP_PLAN = "164.308(a)(7)(ii)(A) Data backup plan"
DISASTER_RECOVERY = "164.308(a)(7)(ii)(B) Disaster recovery plan"
CONTINGENCY_TESTING = "164.308(a)(7)(ii)(D) Testing and revision procedures"
ACTIVITY_REVIEW = "164.308(a)(1)(ii)(D) Information system activity review"
LOGIN_MONITORING = "164.308(a)(5)(ii)(C) Log-in monitoring"

# GDPR
GDPR_ENCRYPTION = "Art. 32(1)(a) encryption of personal data"
GDPR_CIA = "Art. 32(1)(b) confidentiality, integrity, availability and resilience"
GDPR_RESTORE = "Art. 32(1)(c) restore availability and access in a timely manner"
GDPR_TESTING = "Art. 32(1)(d) regularly testing and evaluating effectiveness"
GDPR_BY_DESIGN = "Art. 25 data protection by design and by default"
GDPR_BREACH = "Art. 33 notification of a personal data breach"
GDPR_TRANSFER = "Art. 44 general principle for transfers"

# DICOM PS3.15 and IHE ATNA
DICOM_TLS = "PS3.15 Annex B secure transport connection profiles (BCP 195 TLS)"
DICOM_AUDIT = "PS3.15 Annex A.5 audit trail message format"
DICOM_CONFIDENTIALITY = "PS3.15 Annex E attribute confidentiality profiles"
ITI_19 = "ITI-19 Authenticate Node"
ITI_20 = "ITI-20 Record Audit Event"
