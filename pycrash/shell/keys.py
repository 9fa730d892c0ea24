"""Key bindings added to prompt_toolkit's emacs/vi defaults.

The defaults already give what crash users expect from readline: Ctrl-R reverse search of the
history, Ctrl-A/E, Ctrl-D (exit on an empty line, else delete), Ctrl-C (abandon the line: the
REPL then shows a fresh prompt).
"""

from __future__ import annotations

from prompt_toolkit.filters import completion_is_selected, has_completions
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

    @kb.add("escape", filter=has_completions, eager=True)
    def _close_completions(event: KeyPressEvent) -> None:
        """Escape closes the completion menu."""
        event.current_buffer.cancel_completion()

    return kb
