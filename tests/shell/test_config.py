"""Prompt and history settings."""

from __future__ import annotations

from pathlib import Path

from pycrash.shell import config


class Session:
    def __init__(self, **settings) -> None:
        self.settings = settings


def test_prompt_default_and_setting() -> None:
    assert config.prompt_text(Session()) == "crash> "
    assert config.prompt_text(Session(prompt="dump1> ")) == "dump1> "
    assert config.prompt_text(Session(prompt="")) == "crash> "


def test_history_path() -> None:
    assert config.history_path({}) == Path.home() / ".pycrash_history"
    assert config.history_path({"PYCRASH_HISTORY": "/tmp/h"}) == Path("/tmp/h")


def test_vi_mode() -> None:
    assert not config.vi_mode(Session())
    assert config.vi_mode(Session(edit="vi"))


def test_completion_style() -> None:
    assert config.completion_style(Session()) == "readline"
    assert config.completion_style(Session(completion="column")) == "column"
    assert config.completion_style(Session(completion="bogus")) == "readline"
