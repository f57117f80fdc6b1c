"""Pulumi ComponentResources of the PACSGuard stack, one per concern; stack.build composes them."""
