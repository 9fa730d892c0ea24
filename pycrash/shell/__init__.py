"""The interactive shell: the prompt_toolkit REPL and what it needs.

``repl``       the read-execute loop (``run_repl(session, runner)``)
``config``     prompt text, history file, editing mode: read from the session's settings
``context``    what the word under the cursor is expected to be (pure, no prompt_toolkit)
``names``      cached, sorted name lists (symbols, types, tasks) built once, lazily
``members``    ``struct.member.member`` paths over drgn types
``completer``  the prompt_toolkit Completer joining the two
``keys``       key bindings
``highlight``  pygments highlighting of C-like output on a terminal
``progress``   the transient progress line of long walks
"""
