"""What a normal (non-editable) install carries: setup.py finds packages by their __init__.py,
so a source folder of modules without one would be silently left out of the wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("top", ["pycrash", "commands"])
def test_every_module_folder_is_a_package(top: str) -> None:
    missing = [
        str(folder.relative_to(ROOT))
        for folder in [ROOT / top, *(p for p in (ROOT / top).rglob("*") if p.is_dir())]
        if "__pycache__" not in folder.parts
        and any(folder.glob("*.py"))
        and not (folder / "__init__.py").exists()
    ]
    assert not missing, f"folders of modules without __init__.py: {missing}"
