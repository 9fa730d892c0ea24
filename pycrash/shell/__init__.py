"""The interactive shell: the prompt_toolkit REPL and what it needs.

``repl``       the read-execute loop, ``run_repl(session, runner)`` (the CLI calls it)
``config``     prompt text, history file, editing mode, completion style, colour
``context``    what the word under the cursor is expected to be (pure, no prompt_toolkit)
``completer``  candidates for each kind, and the prompt_toolkit Completer
``names``      cached, sorted name lists (symbols, tasks) built once, lazily
``typenames``  struct/union/typedef/enum names from pycrash.dwarf's walk, cached by build-id
``members``    ``struct.member.member`` paths and ``sym.member->member`` over drgn types
``gate``       keeps background drgn work and the type walk out of a running command's way
``keys``       key bindings added to prompt_toolkit's readline-like defaults
``highlight``  pygments colouring of C-like and ``dis`` output on a terminal
``progress``   the transient progress line of long walks, and Ctrl-C
"""
