"""Shell settings: the prompt, the history file, the editing mode, completion and colour.

Everything is read from ``session.settings`` each time it is needed, so ``set prompt ...``
takes effect at the next prompt without the shell having to be told.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_PROMPT = "crash> "
HISTORY_ENV = "PYCRASH_HISTORY"
HISTORY_FILE = ".pycrash_history"


def _settings(session: Any) -> Mapping[str, Any]:
    settings = getattr(session, "settings", None)
    return settings if settings is not None else {}


def prompt_text(session: Any) -> str:
    """The prompt to show: ``settings["prompt"]``, else crash's ``crash> ``."""
    prompt = _settings(session).get("prompt")
    return prompt if isinstance(prompt, str) and prompt else DEFAULT_PROMPT


def history_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$PYCRASH_HISTORY`` if set, else ``~/.pycrash_history``."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(HISTORY_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return Path.home() / HISTORY_FILE


def vi_mode(session: Any) -> bool:
    """True when the user asked for vi editing keys (crash's ``-e vi`` / ``set edit vi``)."""
    mode = _settings(session).get("edit", _settings(session).get("editing_mode", "emacs"))
    return str(mode).lower() == "vi"


def color_enabled(session: Any, environ: Mapping[str, str] | None = None) -> bool:
    """Colour is on unless ``$NO_COLOR`` is set or ``settings["color"]`` is false/"off"."""
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR"):
        return False
    value = _settings(session).get("color", True)
    if isinstance(value, str):
        return value.lower() not in ("off", "no", "false", "0")
    return bool(value)


def completion_style(session: Any) -> str:
    """How candidates are shown: "readline" (listed below the line, as crash does; the
    default), "column" (a menu under the cursor) or "multi" (a multi-column menu)."""
    style = str(_settings(session).get("completion", "readline")).lower()
    return style if style in ("readline", "column", "multi") else "readline"
