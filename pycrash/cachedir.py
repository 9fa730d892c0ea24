"""Where pycrash keeps what it can rebuild: ``$XDG_CACHE_HOME/pycrash`` (``~/.cache/pycrash``).

It holds unpacked compressed vmlinux files, the kernel symbol tables (``symbols/``) and the
type-name lists of the shell (``typenames-*.json``); each user of it documents its own key and
invalidation rule. Everything there may be deleted at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(*parts: str) -> Path:
    """The cache directory (or a path below it); not created here."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pycrash"
    return base.joinpath(*parts)
