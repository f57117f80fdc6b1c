"""Everything that runs on a PACS host.

Standard library only (plus Debian's python3-cryptography for the PKI): the bootstrap runs under the
host's system Python, both as EC2 user data and as the local installer.
"""
