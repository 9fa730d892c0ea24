"""The drgn gate: background completion work waits while a command runs."""

from __future__ import annotations

import threading

from pycrash.shell.gate import DrgnGate


def test_background_work_waits_for_the_command() -> None:
    gate = DrgnGate()
    events: list[str] = []
    started = threading.Event()

    def background() -> None:
        started.set()
        with gate.background():
            events.append("background")

    with gate.command():
        worker = threading.Thread(target=background)
        worker.start()
        started.wait()
        worker.join(0.2)  # it cannot get in while the command holds the gate
        events.append("command done")
    worker.join(10)
    assert events == ["command done", "background"]


def test_the_command_thread_itself_is_not_blocked() -> None:
    gate = DrgnGate()
    with gate.command():
        with gate.background():  # would wait forever if it waited for itself
            pass
    assert not gate.command_waiting
