"""Tab completion: what is expected at the cursor (context.py) → candidates from indexes.

:class:`Candidates` turns an :class:`~pycrash.shell.context.Expected` into a list of
:class:`Candidate` (text replacing the word, what to show, a short description) and is
tested without prompt_toolkit.  :class:`PycrashCompleter` is the prompt_toolkit adapter; the
REPL wraps it in a ThreadedCompleter, so slow first builds never block typing.

Nothing here loads drgn's DWARF: symbol lists come from drgn only once ``session.prog``
exists (a command needed it, or the CLI loads it in the background); before that, symbols
come from the vmlinux ELF symbol table or VMCOREINFO, and types and members are not offered.
Type names come from pycrash's own walk of the debug files' top-level DIEs (typenames.py),
which starts in the background with the prompt.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from pycrash.api import CommandRegistry, Complete
from pycrash.shell import members
from pycrash.shell.context import Expected, Kind, expected_at
from pycrash.shell.gate import DRGN_GATE
from pycrash.shell.names import Lazy, SortedNames, loaded_program, symbol_names, task_names
from pycrash.shell.typenames import FULL_LIST_WAIT, TypeNameIndex, file_type_names_lazy

__all__ = ["Candidate", "Candidates", "PycrashCompleter"]

# At most this many candidates are offered (a bare Tab in "p " would list every symbol).
MAX_CANDIDATES = 5000
# How long one completion may wait for a first index build or the background debuginfo load
# (it runs in a thread: typing goes on meanwhile).  Tests raise it on slow machines.
WAIT = 10.0
# The thread in which Session.load_in_background loads the debuginfo.
DEBUGINFO_THREAD = "pycrash-debuginfo"
_MEMBER_KINDS = ("struct", "union", "typedef")
_IDENT_TAIL = re.compile(r"[A-Za-z_]\w*\Z")


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One completion: ``text`` replaces the whole word; ``display``/``meta`` are shown."""

    text: str
    display: str = ""
    meta: str = ""

    @property
    def shown(self) -> str:
        return self.display or self.text


class Candidates:
    """The candidate lists of one session, built lazily and cached for the session's life."""

    def __init__(self, session: Any, registry: CommandRegistry, wait: float = WAIT) -> None:
        self.session = session
        self.registry = registry
        self.wait = wait
        self._symbols_early: Lazy[SortedNames] = Lazy(lambda: symbol_names(session))
        self._symbols_drgn: Lazy[SortedNames] | None = None
        self._tasks: Lazy[SortedNames | None] | None = None
        self._types: TypeNameIndex | None = None

    # -- sources -------------------------------------------------------------------------

    def _program(self, wait: float | None = None) -> Any | None:
        """The session's drgn Program if it exists; waits for a load already under way
        (the CLI starts one in the background), never starts one."""
        wait = self.wait if wait is None else wait
        prog = loaded_program(self.session)
        if prog is None and wait > 0:
            for thread in threading.enumerate():
                if thread.name == DEBUGINFO_THREAD and thread.is_alive():
                    thread.join(wait)
                    prog = loaded_program(self.session)
        return prog

    def symbols(self) -> SortedNames | None:
        if self._program(wait=0) is not None:
            if self._symbols_drgn is None:
                self._symbols_drgn = Lazy(lambda: symbol_names(self.session))
            names = self._symbols_drgn.get(self.wait)
            if names is not None:
                return names
        return self._symbols_early.get(self.wait)

    def types(self) -> TypeNameIndex | None:
        prog = self._program()
        if prog is None:
            return None
        if self._types is None:
            self._types = TypeNameIndex(prog, _debug_files(prog, self.session))
            self._types.start()
        return self._types

    def tasks(self) -> SortedNames | None:
        if self._program() is None:
            return None
        if self._tasks is None:
            self._tasks = Lazy(lambda: task_names(self.session))
        return self._tasks.get(self.wait)

    def warm_up(self) -> None:
        """Start building what is cheap to build now (called when the prompt first shows)."""
        self._symbols_early.start()
        vmlinux = getattr(self.session, "vmlinux_path", None)
        settings = getattr(self.session, "settings", None) or {}
        if vmlinux is not None and not settings.get("minimal"):
            file_type_names_lazy(str(vmlinux)).start()  # pycrash's own walk, not drgn's load
        if self._program(wait=0) is not None:
            self.types()

    # -- dispatch ------------------------------------------------------------------------

    def for_text(self, text: str) -> tuple[Expected, list[Candidate]]:
        """What ``text`` (the line up to the cursor) expects, and its candidates."""
        expected = expected_at(text, self.registry)
        return expected, self.for_expected(expected, text)

    def for_expected(self, expected: Expected, text: str = "") -> list[Candidate]:
        kind, word = expected.kind, expected.word
        if kind is Complete.COMMAND:
            return [Candidate(n) for n in self.registry.names() if n.startswith(word)]
        if kind is Kind.OPTION:
            return self._options(expected)
        if kind in (Complete.TYPE, Complete.MEMBER_PATH):
            if "." in word:
                return self._member_path(word)
            tag = _tag_before(text)
            if tag:
                kinds: tuple[str, ...] = (tag,)
            elif kind is Complete.TYPE:
                kinds = ("struct", "union", "typedef", "enum")
            else:
                kinds = _MEMBER_KINDS
            return self._type_names(word, kinds)
        if kind is Complete.EXPRESSION:
            return self._expression(word)
        if kind is Complete.SYMBOL:
            return self._symbols(word, head="")
        if kind in (Complete.PID, Complete.TASK):
            return self._tasks_matching(word, digits_only=kind is Complete.PID)
        return []  # FILE is the adapter's PathCompleter; NONE offers nothing

    def _options(self, expected: Expected) -> list[Candidate]:
        command = expected.command
        if command is None:
            return []
        result = []
        for arg in command.arguments:
            if not arg.is_option:
                continue
            for name in arg.names:
                if name.startswith(expected.word):
                    result.append(Candidate(name, meta=str(arg.kwargs.get("help", ""))))
        return result

    def _type_names(self, word: str, kinds: Iterable[str]) -> list[Candidate]:
        index = self.types()
        if index is None:
            return []
        # Tab waits for its answer (readline style): the list is waited for briefly.
        pairs = index.matching(word, kinds, wait=min(self.wait, FULL_LIST_WAIT))
        return [Candidate(n, meta=k) for n, k in pairs[:MAX_CANDIDATES]]

    def _member_path(self, word: str) -> list[Candidate]:
        prog = self._program()
        if prog is None:
            return []
        with DRGN_GATE.background():
            found = members.complete_member_path(prog, word)
            if not found and members.resolve_type_name(prog, word.split(".", 1)[0]) is None:
                # Not a type: "init_task.co" as a first word runs as "p init_task.co".
                found = members.complete_expression_members(prog, word)
        return [Candidate(text, _last_component(text), meta) for text, meta in found]

    def _expression(self, word: str) -> list[Candidate]:
        if "." in word or "->" in word:
            prog = self._program()
            if prog is None:
                return []
            with DRGN_GATE.background():
                found = members.complete_expression_members(prog, word)
            return [Candidate(text, _last_component(text), meta) for text, meta in found]
        tail = _IDENT_TAIL.search(word)
        if tail is None:
            return []
        return self._symbols(tail.group(0), head=word[: tail.start()])

    def _symbols(self, prefix: str, head: str) -> list[Candidate]:
        names = self.symbols()
        if names is None:
            return []
        found = names.starting_with(prefix, MAX_CANDIDATES)
        return [Candidate(head + n, n if head else "") for n in found]

    def _tasks_matching(self, word: str, digits_only: bool) -> list[Candidate]:
        names = self.tasks()
        if names is None:
            return []
        found = names.starting_with(word, MAX_CANDIDATES)
        if digits_only:
            found = sorted((n for n in found if n.isdigit()), key=int)
        return [Candidate(n, meta=names.meta(n)) for n in found]


def _tag_before(text: str) -> str | None:
    """The tag keyword ("struct", "union", "enum") just before the word being completed."""
    words = text.split()
    if text and not text[-1].isspace():
        words = words[:-1]
    if len(words) >= 2 and words[-1] in ("struct", "union", "enum"):
        return {"struct": "struct", "union": "union", "enum": "enum"}[words[-1]]
    return None


def _last_component(text: str) -> str:
    return re.split(r"\.|->|,", text)[-1]


def _debug_files(prog: Any, session: Any) -> list[str]:
    """The debug files drgn loaded (vmlinux first, then modules); the vmlinux path at least."""
    files: list[str] = []
    try:
        with DRGN_GATE.background():
            for module in prog.modules():
                path = getattr(module, "debug_file_path", None)
                if path and path not in files:
                    files.append(path)
    except Exception:  # noqa: BLE001 - older drgn or no module API: fall back below
        pass
    vmlinux = getattr(session, "vmlinux_path", None)
    if vmlinux is not None and str(vmlinux) not in files:
        files.insert(0, str(vmlinux))
    return files


class PycrashCompleter(Completer):
    """prompt_toolkit completer over :class:`Candidates` (and paths for FILE arguments)."""

    def __init__(self, session: Any, registry: CommandRegistry) -> None:
        self.candidates = Candidates(session, registry)
        self._paths = PathCompleter(expanduser=True)

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        text = document.text_before_cursor
        try:
            expected, found = self.candidates.for_text(text)
        except Exception:  # noqa: BLE001 - a completion bug must never kill the prompt
            return
        if expected.kind is Complete.FILE:
            sub = Document(expected.word, len(expected.word))
            yield from self._paths.get_completions(sub, complete_event)
            return
        start = -len(expected.word)
        for candidate in found:
            yield Completion(
                candidate.text,
                start_position=start,
                display=candidate.shown,
                display_meta=candidate.meta or None,
            )
