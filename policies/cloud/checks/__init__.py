"""Cloud checks of the controls that have no plan-time twin to share code with (key state, backup selections,
snapshots, IAM principals, CIS alarms, secret rotation, database log export). Collectors are imported at module
level here: these modules load only when a check runs or the catalog is built."""
