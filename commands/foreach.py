"""``foreach``: run ``bt`` or ``ps`` on selected tasks, as crash 8.0.6 does (task.c
``cmd_foreach``/``foreach``).

Tasks are picked by PID, task address, command name, ``'regex'``, a state (``RU``, ``IN``,
``UN``, ...), ``user``, ``kernel``, ``gleader`` or ``active``; crash's command options may
come anywhere on the line.  Each task's ``bt`` is preceded by its header (a blank line
between tasks); ``ps`` prints one table with a single header.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.kernel.stack import crash_backtrace
from pycrash.kernel.tasks import TaskInfo, TaskTable, task_table

# crash's foreach keywords; only bt and ps are implemented here.
_KEYWORDS = ("bt", "vm", "task", "files", "net", "set", "ps", "sig", "test", "vtop")
_STATES = ("RU", "IN", "UN", "ST", "TR", "ZO", "DE", "PA", "WA", "ID", "NE", "SW")


@dataclasses.dataclass
class ForeachData:
    keyword: str
    tasks: list[TaskInfo]
    traces: list[Any] = dataclasses.field(default_factory=list)
    rows: list[Any] = dataclasses.field(default_factory=list)


@register
class Foreach(Command):
    name = "foreach"
    summary = "display command data for multiple tasks in the system"
    keep_quotes = True  # 'regex' task names arrive with their quotes, as crash sees them
    description = """\
  This command allows for an examination of various kernel data associated
  with any, or all, tasks in the system, without having to set the context
  to each targeted task.

      pid  perform the command(s) on this PID.
    taskp  perform the command(s) on task referenced by this hexadecimal
           task_struct pointer.
     name  perform the command(s) on all tasks with this name.
  'regex'  perform the command(s) on all tasks whose names match this
           regular expression.
     user  perform the command(s) on all user (non-kernel) threads.
  gleader  perform the command(s) on all user (non-kernel) thread group leaders.
   kernel  perform the command(s) on all kernel threads.
   active  perform the command(s) on the active thread on each CPU.
    state  perform the command(s) on all tasks in the specified state, which
           may be one of: RU, IN, UN, ST, ZO, TR, SW, DE, WA, PA, ID or NE.

  pycrash implements the bt and ps keywords, with their options.
"""
    arguments = (
        Arg("-R", dest="ref", metavar="ref"),
        Arg("-x", dest="hex", action="store_true"),
        Arg("-d", dest="dec", action="store_true"),
        Arg("-s", dest="offsets", action="store_true"),
        Arg("-l", dest="lines", action="store_true"),
        Arg("-t", dest="text", action="store_true"),
        Arg("-T", dest="text_all", action="store_true"),
        Arg("-f", dest="full", action="store_true"),
        Arg("-F", dest="full_sym", action="count", default=0),
        Arg("-G", dest="group", action="store_true"),
        Arg("-y", dest="policy", metavar="policy"),
        Arg("-a", dest="args", action="store_true"),
        Arg("-c", dest="children", action="store_true"),
        Arg("-p", dest="parents", action="store_true"),
        Arg("-g", dest="threads", action="store_true"),
        Arg("-r", dest="rlimits", action="store_true"),
        Arg("-e", dest="eframes", action="store_true"),
        Arg("-m", dest="mm", action="store_true"),  # vm -m
        Arg("-v", dest="vmas", action="store_true"),  # vm -v
        Arg("words", nargs="*", metavar="task | keyword", complete=Complete.TASK),
    )

    @classmethod
    def parse(cls, argv: Sequence[str]) -> argparse.Namespace:
        """Options may follow the keyword, as crash's getopt() allows."""
        try:
            namespace = cls.parser().parse_intermixed_args(list(argv))
        except argparse.ArgumentError as exc:
            raise CommandError(str(exc)) from None
        namespace.argv = list(argv)  # the raw words, for keywords run by other commands
        return namespace

    def run(self, ctx: CommandContext, args: Any) -> ForeachData:
        table = task_table(ctx.session.prog)
        keyword, tasks = select(table, args.words)
        if keyword not in ("bt", "ps"):
            return self._delegate(ctx, args, keyword, tasks)
        if args.hex and args.dec:
            raise CommandError("bt: -x and -d options are mutually exclusive")
        data = ForeachData(keyword, tasks)
        if keyword == "bt":
            if args.threads:
                raise CommandError("bt -g option is not supported when issued from foreach")
            for info in ctx.progress(tasks, "foreach bt", len(tasks)):
                data.traces.append(crash_backtrace(
                    ctx.session, info.task, full=args.full or bool(args.full_sym),
                    text_symbols=args.text, text_all=args.text_all))
        else:
            from pycrash.commands.ps import Ps

            data.rows = [Ps._row(ctx.session, table, info, args.offsets) for info in tasks]
        return data

    @staticmethod
    def _delegate(ctx: CommandContext, args: Any, keyword: str,
                  tasks: list[TaskInfo]) -> ForeachData:
        """Other keywords (files, vm, task, sig, net, vtop): run that command per task.

        Its per-task output is shown under the task header (crash prints the header itself;
        a command that starts with the same header line keeps its own).
        """
        import io

        from pycrash.api import CommandContext as Context
        from pycrash.api import registry

        if keyword in ("set", "test"):
            raise CommandError(f"{keyword}: not supported by pycrash's foreach")
        command_cls = registry.get(keyword)
        if command_cls is None:
            raise CommandError(f"{keyword}: command not available")
        argv = getattr(args, "argv", [])
        words = argv[argv.index(keyword) + 1:] if keyword in argv else []
        data = ForeachData(keyword, tasks)
        for info in ctx.progress(tasks, f"foreach {keyword}", len(tasks)):
            command = command_cls()
            if keyword == "vtop":  # vtop takes addresses: the task goes with -c
                argv_sub = ["-c", f"{info.task:x}", *(w for w in words if w != "-c")]
            else:
                argv_sub = [*words, f"{info.task:x}"]
            sub_args = command_cls.parse(argv_sub)
            out = io.StringIO()
            sub = Context(session=ctx.session, out=out, args=sub_args, command=command,
                          json=False, progress_hook=ctx.progress_hook)
            try:
                command.render(sub, command.run(sub, sub_args))
            except CommandError as exc:
                out.write(f"{keyword}: {exc}\n")
            data.rows.append((info, out.getvalue()))
        return data

    def render(self, ctx: CommandContext, data: ForeachData) -> None:
        args = ctx.args
        if data.keyword not in ("bt", "ps"):
            from pycrash.commands.bt import task_header

            references = "-R" in getattr(args, "argv", [])
            separate = False
            for info, text in data.rows:
                if references:
                    # a -R search (files -R, ...) prints only the tasks with a reference, each
                    # under its own header and followed by a blank line, as crash does
                    ctx.out.write(text)
                    continue
                header = task_header(info)
                if not text.startswith(header + "\n"):
                    text = header + "\n" + text
                if data.keyword == "sig" and text.endswith("\n\n"):
                    # crash's sig ends with a blank line on its own, not under foreach
                    # (whose blank line between tasks takes its place)
                    text = text[:-1]
                ctx.out.write(("\n" if separate else "") + text)
                separate = True
            return
        if data.keyword == "bt":
            from pycrash.commands.bt import Bt, task_header

            radix = 16 if args.hex else 10
            first = True
            if args.ref:
                from pycrash.commands.bt import _references, _stackless, render_referencing

                for trace in data.traces:
                    if _stackless(trace) or _references(trace, args.ref, ctx.session):
                        render_referencing(ctx.out, trace, args, ctx.session)
                return
            for trace in data.traces:
                ctx.out.write(("" if first else "\n") + task_header(trace) + "\n")
                first = False
                Bt._render_trace(ctx.out, trace, args, radix, ctx.session)
            return
        from pycrash.commands.ps import Ps, PsData

        Ps()._render_table(ctx.out, PsData("table", header=bool(data.rows), kstackp=args.offsets,
                                           rows=data.rows))

    def to_json(self, ctx: CommandContext, data: ForeachData) -> Any:
        if data.keyword not in ("bt", "ps"):
            return [{"pid": info.pid, "task": info.task, "output": text}
                    for info, text in data.rows]
        if data.keyword == "bt":
            from pycrash.commands.bt import Bt, BtData

            return Bt().to_json(ctx, BtData(data.traces))
        return [dataclasses.asdict(row) for row in data.rows]


def select(table: TaskTable, words: list[str]) -> tuple[str, list[TaskInfo]]:
    """crash's cmd_foreach() argument rules: (the keyword, the tasks it runs on)."""
    from pycrash.commands.ps import resolve_number

    keyword = None
    pids: list[int] = []
    tasks: list[int] = []
    comms: list[str] = []
    regexes: list[re.Pattern[str]] = []
    state = None
    user = kernel = gleader = active = False
    for word in words:
        if keyword is not None:
            continue  # command arguments (none used by bt/ps here)
        if word in _KEYWORDS:
            keyword = word
            continue
        if _is_number(word) and word != "DE":
            found = resolve_number(table, word)
            if found is not None:
                (pids if found[0] == "pid" else tasks).append(found[1])
                continue
        if word == "kernel":
            if user:
                raise CommandError("user and kernel are mutually exclusive!")
            kernel = True
        elif word.lstrip("\\") in _STATES:
            if state is not None:
                raise CommandError("only one task state allowed")
            state = word.lstrip("\\")
        elif word == "user":
            if kernel:
                raise CommandError("user and kernel are mutually exclusive!")
            user = True
        elif word == "gleader":
            if kernel:
                raise CommandError("gleader and kernel are mutually exclusive!")
            user = gleader = True
        elif word == "active":
            active = True
        elif len(word) > 1 and word.startswith("'") and word.endswith("'"):
            try:
                regexes.append(re.compile(word[1:-1]))
            except re.error:
                raise CommandError(f"invalid regular expression: {word[1:-1]}") from None
        else:
            comms.append(word[1:] if word.startswith("\\") else word)
    if keyword is None:
        raise CommandError("no keywords specified")
    specified = bool(pids or tasks or comms or regexes)
    selected = []
    for info in table:
        if active and not info.active:
            continue
        if user and info.is_kernel_thread:
            continue
        if gleader and info.pid != info.tgid:
            continue
        if kernel and not info.is_kernel_thread:
            continue
        if state is not None and not table.state_name(info).startswith(state):
            continue
        if specified and not (info.task in tasks or info.pid in pids
                              or info.comm in [c[:15] for c in comms]
                              or any(r.search(info.comm) for r in regexes)):
            continue
        selected.append(info)
    return keyword, selected


def _is_number(word: str) -> bool:
    text = word[2:] if word.lower().startswith("0x") else word
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)
