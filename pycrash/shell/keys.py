"""Key bindings added to prompt_toolkit's emacs/vi defaults.

The defaults already give what crash users expect from readline: Ctrl-R reverse search of the
history, Ctrl-A/E, Ctrl-D (exit on an empty line, else delete), Ctrl-C (abandon the line: the
REPL then shows a fresh prompt).
"""

from __future__ import annotations

from prompt_toolkit import search
from prompt_toolkit.filters import completion_is_selected, has_completions, is_searching
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

__all__ = ["shell_key_bindings"]


def shell_key_bindings() -> KeyBindings:
    kb = KeyBindings()

    @kb.add("c-space")
    def _start_completion(event: KeyPressEvent) -> None:
        """Ctrl-Space: show the completions of the word under the cursor."""
        buffer = event.app.current_buffer
        if buffer.complete_state:
            buffer.complete_next()
        else:
            buffer.start_completion(select_first=False)

    @kb.add("enter", filter=has_completions & completion_is_selected)
    def _accept_completion(event: KeyPressEvent) -> None:
        """Enter on a selected completion inserts it instead of running the line."""
        buffer = event.current_buffer
        buffer.complete_state = None

    @kb.add("enter", filter=is_searching)
    def _run_found_line(event: KeyPressEvent) -> None:
        """Enter in a Ctrl-R search runs the line found, as readline (and crash) does."""
        search.accept_search()
        event.app.current_buffer.validate_and_handle()

    return kb
