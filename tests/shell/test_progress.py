"""The progress line: drawn on a terminal for long walks, erased at the end."""

from __future__ import annotations

import io

from pycrash.shell.progress import CLEAR_LINE, SHOW_AFTER, ProgressLine, make_progress_hook


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_short_walk_draws_nothing() -> None:
    out, clock = io.StringIO(), FakeClock()
    line = ProgressLine(out, clock)
    line("tasks", 64, 100)
    clock.now += SHOW_AFTER / 2
    line("tasks", 128, 200)
    line("tasks", -1, 200)
    assert out.getvalue() == ""


def test_long_walk_draws_then_clears() -> None:
    out, clock = io.StringIO(), FakeClock()
    line = ProgressLine(out, clock)
    line("tasks", 64, 1000)
    clock.now += SHOW_AFTER + 0.01
    line("tasks", 128, 1000)
    assert out.getvalue() == CLEAR_LINE + "tasks: 128/1000 (12%)"
    line("tasks", 192, 1000)  # too soon to redraw
    assert out.getvalue().count("tasks:") == 1
    clock.now += 1
    line("tasks", 256, None)
    assert out.getvalue().endswith(CLEAR_LINE + "tasks: 256")
    line("tasks", -1, None)
    assert out.getvalue().endswith("tasks: 256" + CLEAR_LINE)


def test_not_a_terminal_means_no_output() -> None:
    out = io.StringIO()
    hook = make_progress_hook(out)
    assert not isinstance(hook, ProgressLine)
    hook("tasks", 64, 100)
    hook("tasks", -1, 100)
    assert out.getvalue() == ""


def test_context_progress_drives_the_hook() -> None:
    """CommandContext.progress calls the hook every 64 items and with -1 at the end."""
    from pycrash.api import CommandContext

    calls = []
    ctx = CommandContext(
        session=None,  # type: ignore[arg-type]
        out=io.StringIO(),
        args=None,  # type: ignore[arg-type]
        command=None,  # type: ignore[arg-type]
        progress_hook=lambda label, done, total: calls.append((label, done, total)),
    )
    assert list(ctx.progress(range(130), "pages", 130)) == list(range(130))
    assert calls == [("pages", 64, 130), ("pages", 128, 130), ("pages", -1, 130)]
