"""Packaging glue that pyproject.toml cannot express on its own.

The built-in commands live in the top-level ``commands/`` folder of the source tree (next to
``plugins/``), but are installed inside the package as ``pycrash.commands``.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["pycrash", "pycrash.*"]) + ["pycrash.commands"],
    package_dir={"pycrash.commands": "commands"},
)
