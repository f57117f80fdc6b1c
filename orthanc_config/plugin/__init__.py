"""The Orthanc Python plugin. Each module stands alone (the plugin loads them as top-level modules)."""
