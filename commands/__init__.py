"""pycrash's built-in commands, one module per command (or per small family of commands).

Each module registers its commands with :func:`pycrash.api.register`; the framework imports every
module in this package at start, exactly as it imports a plugin.
"""
