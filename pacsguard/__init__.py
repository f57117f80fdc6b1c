"""PACSGuard command line and reporting."""

__version__ = "0.1.0"
