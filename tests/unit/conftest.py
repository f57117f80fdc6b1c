"""Unit-test setup: the plugin modules load as top-level names inside Orthanc; tests import them the same way."""

import sys
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "orthanc_config" / "plugin"
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))
