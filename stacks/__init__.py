"""Stack settings: one YAML file per environment and the model that validates them."""
