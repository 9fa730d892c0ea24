"""The table of built-in words (pycrash.commands.BUILTIN_COMMANDS) against the modules."""

from __future__ import annotations

import importlib
import pkgutil

import pycrash.commands as package

from pycrash import api, plugins


def registered_words(module_name: str) -> set[str]:
    """The words of the commands the module itself defines (not those of modules it imports),
    as the process-wide registry holds them once the module is imported."""
    module = importlib.import_module(f"pycrash.commands.{module_name}")
    api.registry.commands()  # settle any lazy entries
    return {
        word
        for word, cls in api.registry._by_name.items()
        if cls.__module__ == module.__name__
    }


def test_table_lists_every_module_with_its_words() -> None:
    modules = sorted(m.name for m in pkgutil.iter_modules(package.__path__)
                     if not m.name.startswith("_"))
    actual = {name: registered_words(name) for name in modules}
    declared = {name: set(words) for name, words in package.BUILTIN_COMMANDS.items()}
    assert declared == actual


def test_start_up_imports_no_command_module() -> None:
    registry = api.CommandRegistry()
    assert plugins.load_builtins(registry, report=lambda message: None) == 0
    assert "bt" in registry.names() and "union" in registry.names()
    assert registry.origin("struct") == "builtin"
    # get() imports on demand and gives the module's real class
    cls = registry.get("union")
    assert cls is not None and cls.__module__ == "pycrash.commands.struct"


def test_a_plugin_keeps_a_word_it_took_before_the_builtin_was_imported() -> None:
    registry = api.CommandRegistry()
    plugins.load_builtins(registry, report=lambda message: None)

    class MyPs(api.Command):
        name = "ps"

    registry.add(MyPs, "plugin test")
    assert registry.get("ps") is MyPs
    registry.get("bt")  # importing other built-ins changes nothing for "ps"
    assert registry.get("ps") is MyPs and registry.origin("ps") == "plugin test"
