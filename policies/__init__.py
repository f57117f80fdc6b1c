"""The control catalog and the layers that check it (plan time here; cloud and wire layers build on it)."""
