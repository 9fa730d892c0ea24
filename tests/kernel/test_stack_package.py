"""pycrash.kernel.stack is a package of small modules; its public names load on first use."""

from __future__ import annotations

import subprocess
import sys

import pycrash.kernel.stack as stack


def test_every_public_name_resolves() -> None:
    for name in stack.__all__:
        value = getattr(stack, name)
        assert value.__module__.startswith("pycrash.kernel.stack."), name


def test_importing_the_package_loads_no_tracer_module() -> None:
    code = ("import sys, pycrash.kernel.stack; "
            "print(sorted(m for m in sys.modules if m.startswith('pycrash.kernel.stack.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        stack.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("no AttributeError")
