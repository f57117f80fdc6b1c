"""The Pulumi program: validated settings in, the secure PACS stack out."""

from infra.stack import build
from stacks.loader import settings_from_pulumi_config

build(settings_from_pulumi_config())
