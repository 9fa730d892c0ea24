"""pycrash's built-in commands, one module per command (or per small family of commands).

Each module registers its commands with :func:`pycrash.api.register`, exactly as a plugin does.
``BUILTIN_COMMANDS`` tells the framework which words each module provides, so that start-up
imports none of them: a module is imported the first time one of its words is used
(``tests/framework/test_builtin_table.py`` checks this table against what the modules register).
A module missing from the table still works; it is just imported at start.
"""

BUILTIN_COMMANDS: dict[str, tuple[str, ...]] = {
    "ascii": ("ascii",),
    "bt": ("bt",),
    "dev": ("dev",),
    "dis": ("dis",),
    "eval": ("eval",),
    "exit": ("exit", "q", "quit"),
    "extend": ("extend",),
    "files": ("files",),
    "foreach": ("foreach",),
    "help": ("help",),
    "irq": ("irq",),
    "kmem": ("kmem",),
    "list": ("list",),
    "log": ("log",),
    "mod": ("mod",),
    "mount": ("mount",),
    "net": ("net",),
    "p": ("p", "print", "p/x", "p/d", "p/u", "p/o", "p/t", "p/c", "p/a", "p/z"),
    "ps": ("ps",),
    "rd": ("rd",),
    "runq": ("runq",),
    "search": ("search",),
    "set": ("set",),
    "struct": ("struct", "union", "*"),
    "sig": ("sig",),
    "swap": ("swap",),
    "sym": ("sym",),
    "sys": ("sys",),
    "task": ("task",),
    "timer": ("timer",),
    "tree": ("tree",),
    "vm": ("vm",),
    "vtop": ("vtop", "ptov", "btop", "ptob"),
    "waitq": ("waitq",),
    "whatis": ("whatis",),
}
