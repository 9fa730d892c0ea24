"""``sig``: a task's signal handling, as crash 8.0.6 prints it (task.c ``cmd_sig``,
``dump_signal_data``, ``signame_list`` and ``translate_sigset``).

For each task: its header, the thread group's ``signal_struct`` and its 64 ``k_sigaction``
dispositions (address, handler, mask, flags), then whether a signal is pending, the blocked
mask and the private and shared pending sets with their queued signals.  ``-g`` shows the whole
thread group (the group's data once, then each thread's own part, indented); ``-l`` lists the
signal names; ``-s SIGSET`` names the signals of a sigset.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.kernel.signals import TaskSignals
from pycrash.kernel.tasks import TaskInfo

# crash's header: " SIG %s %s %s %s" of SIGACTION centred in 16 (VADDR_PRLEN), HANDLER
# right-justified in 10 (x86-64's UVADDR_PRLEN), MASK centred in 16, FLAGS left-justified in 16.
_UVADDR_PRLEN = 10
_ACTION_HEADER = " SIG    SIGACTION        HANDLER       MASK       FLAGS           "
_QUEUE_HEADER = "  SIGQUEUE:  SIG      SIGINFO     "
_HANDLERS = {0: "SIG_DFL", 1: "SIG_IGN", 0xFFFFFFFFFFFFFFFF: "SIG_ERR"}


@dataclasses.dataclass
class SigTask:
    """One task's part of the output; ``level`` says which parts crash shows for it."""

    info: TaskInfo
    signals: TaskSignals
    group_level: bool  # the signal_struct, dispositions and shared pending set
    task_level: bool  # SIGPENDING, BLOCKED and the private pending set
    indent: bool  # sig -g: a thread under its group


@dataclasses.dataclass
class SigData:
    mode: str  # "tasks", "list" (-l), "sigset" (-s) or "usage"
    messages: list[str] = dataclasses.field(default_factory=list)
    # "tasks": per task (or thread group with -g), the parts in print order
    groups: list[list[SigTask]] = dataclasses.field(default_factory=list)
    lines: list[str] = dataclasses.field(default_factory=list)  # -l / -s text
    sigset: int | None = None  # -s: the value translated
    fatal: bool = False  # the last message ended the command (crash's error(FATAL))


def translate_sigset(sigset: int) -> list[str]:
    """crash's translate_sigset(): the names, space-separated, wrapped before 80 columns."""
    from pycrash.kernel.signals import sigset_names

    names = sigset_names(sigset)
    if not names:
        return ["(none)"]
    lines: list[str] = []
    line = ""
    for n, name in enumerate(names):
        word = (" " if n else "") + name
        if len(line) + len(word) > 80:
            lines.append(line)
            line = word.lstrip(" ")  # crash shifts the leading space away
        else:
            line += word
    lines.append(line)
    return lines


@register
class Sig(Command):
    name = "sig"
    summary = "task signal handling"
    synopsis = "[[-l] | [-s sigset]] | [-g] [pid | taskp] ..."
    description = """\
  This command displays signal-handling data of one or more tasks.  Multiple
  task or PID numbers may be entered; if no arguments are entered, the signal
  handling data of the current context will be displayed.  The default display
  shows:

    1.  A formatted dump of the "sig" signal_struct structure referenced by
        the task_struct.  For each defined signal, it shows the sigaction
        structure address, the signal handler, the signal sigset_t mask
        (also expressed as a 64-bit hexadecimal value), and the flags.
    2.  Whether the task has an unblocked signal pending.
    3.  The contents of the "blocked" and "signal" sigset_t structures
        from the task_struct/signal_struct, both of which are represented
        as a 64-bit hexadecimal value.
    4.  For each queued signal, private and/or shared, if any, its signal
        number and associated siginfo structure address.

  The -l option lists the signal numbers and their name(s).  The -s option
  translates a 64-bit hexadecimal value representing the contents of a
  sigset_t structure into the signal names whose bits are set.

        pid  a process PID.
      taskp  a hexadecimal task_struct pointer.
         -g  displays signal information for all threads in a task's
             thread group.
         -l  displays the defined signal numbers and names.
  -s sigset  translates a 64-bit hexadecimal value representing a sigset_t
             into a list of signal names associated with the bits set.
"""
    arguments = (
        Arg("-l", dest="list", action="store_true", help="list the signal numbers and names"),
        Arg("-s", dest="sigset", metavar="sigset", help="name the signals of a sigset"),
        Arg("-g", dest="group", action="store_true", help="every thread of the thread group"),
        Arg("-R", dest="ref", action="append", default=[], help=argparse.SUPPRESS),
        Arg("words", nargs="*", metavar="pid | taskp", complete=Complete.TASK),
    )

    @classmethod
    def parse(cls, argv: Sequence[str]) -> argparse.Namespace:
        """A bad option gives crash's usage text (cmd_usage), not an error line."""
        try:
            args = super().parse(argv)
        except CommandError:
            return argparse.Namespace(usage=True)
        # crash's getopt loop acts on the first of -l and -s it meets
        args.first = next((w[:2] for w in argv if w[:2] in ("-l", "-s")), None)
        return args

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> SigData:
        if getattr(args, "usage", False):
            from pycrash.commands.task import usage_text

            return SigData("usage", lines=usage_text(type(self)).splitlines())
        from pycrash.kernel.signals import signal_list

        # crash acts on the first of -s/-l it meets; -s and -l both return at once.
        if args.sigset is not None and (args.first == "-s" or not args.list):
            sigset = _htoll(args.sigset)
            return SigData("sigset", lines=translate_sigset(sigset), sigset=sigset)
        if args.list:
            return SigData("list", lines=signal_list())
        from pycrash.commands.task import task_args

        from pycrash.kernel.datatype import member_path_exists

        task_type = ctx.session.prog.type("struct task_struct")
        references = list(args.ref)

        def member_word(word: str) -> str | None:
            if "," in word or member_path_exists(task_type, word):
                references.append(word)
                return None
            return f"invalid task or pid value: {word}"

        chosen = task_args(ctx, list(args.words), member_word)
        data = SigData("tasks", messages=chosen.messages)
        if references and chosen.tasks and not args.group:
            # crash's signal_reference(): the -R framework exists, its display does not
            data.messages.append("-R not supported yet")
            data.fatal = True
            return data
        if args.group:
            data.groups = self._thread_groups(ctx, chosen.tasks)
        else:
            for info in ctx.progress(chosen.tasks, "sig", len(chosen.tasks)):
                data.groups.append([SigTask(info, _signals(ctx, info), True, True, False)])
        return data

    @staticmethod
    def _thread_groups(ctx: CommandContext, tasks: list[TaskInfo]) -> list[list[SigTask]]:
        """crash's do_sig_thread_group(): each named task's group leader, once per PID 0."""
        from pycrash.kernel.tasks import task_table

        table = task_table(ctx.session.prog)
        groups = []
        idle_shown = False
        for info in tasks:
            if info.pid != info.tgid:
                leaders = [t for t in table.pid(info.tgid) if t.pid == t.tgid]
                if not leaders:
                    continue
                info = leaders[0]
            if info.pid == 0 and idle_shown:
                continue
            leader_signals = _signals(ctx, info)
            group = [SigTask(info, leader_signals, True, False, False),
                     SigTask(info, leader_signals, False, True, True)]
            for thread in ctx.progress(table, "sig -g", len(table)):
                if thread.task != info.task and thread.tgid == info.tgid:
                    group.append(SigTask(thread, _signals(ctx, thread), False, True, True))
                    if thread.pid == 0:
                        idle_shown = True
            groups.append(group)
        return groups

    def render(self, ctx: CommandContext, data: SigData) -> None:
        from pycrash.kernel.signals import sa_flags_names

        out = ctx.out
        if data.mode != "tasks":
            out.write("".join(line + "\n" for line in data.lines))
            return
        for n, message in enumerate(data.messages):
            last = data.fatal and n == len(data.messages) - 1
            out.write(f"sig: {message}\n" + ("" if last else "\n"))
        header = _header
        for group in data.groups:
            for part in group:
                pad = "  " if part.indent else ""
                if part.indent:
                    out.write("\n  ")
                out.write(header(part.info) + "\n")
                sig = part.signals
                if part.group_level:
                    out.write(f"{pad}SIGNAL_STRUCT: {sig.signal_struct:x}  ")
                    if not sig.signal_struct:
                        out.write("\n")
                        continue
                    out.write(f"NR_THREADS: {sig.nr_threads}\n" if sig.nr_threads is not None
                              else "\n")
                    out.write(pad + _ACTION_HEADER + "\n")
                    for action in sig.actions:
                        handler = _HANDLERS.get(action.handler, f"{action.handler:x}")
                        flags = ""
                        names = sa_flags_names(action.flags)
                        if names:
                            flags = "(" + "|".join(names) + ")"
                        number = f"[{action.signal}]".rjust(4)
                        out.write(f"{pad}{number} {action.address:<{_UVADDR_PRLEN}x} "
                                  f"{handler:>{_UVADDR_PRLEN}} "
                                  f"{action.mask:016x} {action.flags:x} {flags}\n")
                if part.task_level:
                    out.write(f"{pad}SIGPENDING: {'yes' if sig.sigpending else 'no'}\n")
                    out.write(f"{pad}   BLOCKED: {sig.blocked:016x}\n")
                    if sig.shared_signal is not None:
                        out.write(f"{pad}PRIVATE_PENDING\n")
                    out.write(f"{pad}    SIGNAL: {sig.private_signal:016x}\n")
                    _queue(out, pad, sig.private_queue)
                if part.group_level and sig.shared_signal is not None:
                    out.write("SHARED_PENDING\n")
                    out.write(f"{pad}    SIGNAL: {sig.shared_signal:016x}\n")
                    _queue(out, pad, sig.shared_queue)
            out.write("\n")

    def to_json(self, ctx: CommandContext, data: SigData) -> Any:
        from pycrash.kernel.signals import NSIG, SIGRTMIN, signal_names, sigset_names

        if data.mode == "list":
            return [{"signal": n, "name": signal_names(n)} for n in range(1, NSIG + 1)
                    if n >= SIGRTMIN or signal_names(n)]
        if data.mode == "sigset":
            return {"sigset": data.sigset, "signals": sigset_names(data.sigset or 0)}
        if data.mode != "tasks":
            return data.lines
        from pycrash.api import jsonable

        return [[{"pid": part.info.pid, "task": part.info.task, "comm": part.info.comm,
                  "signals": jsonable(part.signals)} for part in group]
                for group in data.groups]


def _htoll(text: str) -> int:
    """crash's htoll(): hexadecimal, with or without 0x, at most 64 bits."""
    body = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        value = int(body, 16)
    except ValueError:
        value = -1
    if value < 0 or value >> 64 or "_" in body:
        raise CommandError(f'invalid input: "{text}"')
    return value


def _header(info: TaskInfo) -> str:
    from pycrash.commands.ps import task_header

    return task_header(info)


def _queue(out: Any, pad: str, queue: list[Any]) -> None:
    """A pending queue's entries.  (crash 8.0.6's sigqueue_list() starts the private queue at
    its list head, so it shows the head as a bogus first entry and drops the last one; pycrash
    shows the queued entries themselves.)"""
    if not queue:
        out.write(f"{pad}  SIGQUEUE: (empty)\n")
        return
    out.write(pad + _QUEUE_HEADER + "\n")
    for entry in queue:
        out.write(f"             {entry.signal:3d}  {entry.info:x}\n")


def _signals(ctx: CommandContext, info: TaskInfo) -> TaskSignals:
    import drgn

    from pycrash.kernel.signals import task_signals

    try:
        return task_signals(ctx.session.prog, info.task)
    except drgn.FaultError as err:
        raise CommandError(f"cannot read the signal state of task {info.task:x}: {err}") \
            from None
    except (LookupError, AttributeError) as err:
        raise CommandError(f"this kernel's signal structures are not understood: {err}") \
            from None
