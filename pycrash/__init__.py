"""pycrash: a kernel crash-dump debugger shell in the style of crash(8)."""

__version__ = "0.1.0"
