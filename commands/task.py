"""``task``: a task's task_struct and thread_info, as crash 8.0.6 prints them (task.c
``cmd_task``, ``do_task`` and ``parse_task_thread``).

Each task gets its header line, ``struct task_struct {...}`` as gdb prints it, a blank line and
``struct thread_info {...}`` (the thread_info embedded at the start of the task_struct since
CONFIG_THREAD_INFO_IN_TASK, 4.9 on x86-64; before, the one ``task_struct.stack`` points to),
then a blank line.  ``-R member[,member]`` (or member names given as plain words) keeps only
those members, picked from that text exactly as crash picks them.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.expr.numbers import is_number
from pycrash.kernel.tasks import TaskInfo, TaskTable, task_table


@dataclasses.dataclass
class TaskArgs:
    """The tasks named by a command's words (crash's tasklist) and its INFO lines."""

    tasks: list[TaskInfo]
    messages: list[str]  # crash's INFO lines, in the order of the words


def task_args(ctx: CommandContext, words: list[str],
              other: Callable[[str], str | None]) -> TaskArgs:
    """crash's cmd_task/cmd_sig argument loop over ``words``.

    A number names every task with that PID (PID 0: one idle task per CPU) or one task_struct
    address, as crash's str_to_context() decides; any other word goes to ``other``, which
    returns the INFO line to print for it (or None).  With no task named (and no bad number)
    the current context is used.
    """
    from pycrash.commands.ps import resolve_number

    table = task_table(ctx.session.prog)
    found = TaskArgs([], [])
    bogus = False
    for word in words:
        if not is_number(word):
            message = other(word)
            if message is not None:
                found.messages.append(message)
            continue
        resolved = resolve_number(table, word)
        if resolved is None:
            bogus = True
            found.messages.append(f"invalid task or pid value: {word}")
        elif resolved[0] == "pid":
            found.tasks.extend(table.pid(resolved[1]))
        else:
            info = table.get(resolved[1])
            if info is not None:
                found.tasks.append(info)
    if not found.tasks and not bogus:
        current = current_task(ctx, table)
        if current is None:
            raise CommandError("no current context")
        found.tasks.append(current)
    return found


def usage_text(command: type[Command]) -> str:
    """crash's cmd_usage(SYNOPSIS) text, printed for an unknown option."""
    return (f"Usage:\n  {command.name} {command.synopsis}\n"
            f'Enter "help {command.name}" for details.\n')


def current_task(ctx: CommandContext, table: TaskTable) -> TaskInfo | None:
    """The current context's task (crash's CURRENT_TASK())."""
    return table.get(ctx.session.context.task)


@dataclasses.dataclass
class TaskDump:
    """One task's text: its header and the task_struct/thread_info lines."""

    pid: int
    task: int
    cpu: int
    comm: str
    lines: list[str]


@dataclasses.dataclass
class TaskData:
    messages: list[str]
    tasks: list[TaskDump]
    members: list[str]


def pick_task_members(lines: list[str], members: list[str]) -> list[str]:
    """crash's parse_task_thread(): the lines of the named top-level members.

    A member line is ``  NAME = ...`` (four spaces inside a randomized-layout anonymous
    struct); a member that opens a brace keeps every line up to its closing one.
    """
    out: list[str] = []
    close_prefix = ""  # lookfor2: a line starting with this ends the member
    close_text = ""  # lookfor3: a line containing this ends the member
    randomized = False
    for buf in lines:
        if buf == "  {\n":
            randomized = True
        elif randomized and buf in ("  }, \n", "  },\n"):
            randomized = False
        if close_prefix:
            out.append(buf)
            if buf.startswith(close_prefix):
                close_prefix = ""
            continue
        if close_text:
            out.append(buf)
            if close_text in buf:
                close_text = ""
            continue
        for member in members:
            close_prefix = close_text = ""
            if buf.startswith(f"{'  ' if randomized else ''}  {member} = "):
                out.append(buf)
                if "{{\n" in buf:
                    close_prefix = f"{'  ' if randomized else ''}    }},"
                elif " = {\n" in buf:
                    close_prefix = " " * (len(buf) - len(buf.lstrip(" "))) + "}"
                elif "{" in buf:
                    close_text = "},"
                break
    return out


@register
class Task(Command):
    name = "task"
    summary = "task_struct and thread_info contents"
    synopsis = "[-R member[,member]] [-dx] [pid | taskp] ..."
    description = """\
  This command dumps a formatted display of the contents of a task's
  task_struct and thread_info structures.  Multiple task or PID numbers
  may be entered; if no arguments are entered, the task_struct and
  thread_info structures of the current context are displayed.  The -R option,
  which may also be invoked indirectly via "foreach task", pares the output
  down to one or more structure members.

        pid  a process PID.
      taskp  a hexadecimal task_struct pointer.
  -R member  a comma-separated list of one or more task_struct and/or
             thread_info structure members.  If any member contains an embedded
             structure, or is an array, the output may be restricted to the
             embedded structure or an array element by expressing the member
             argument as "member.member" or "member[index]"; embedded member
             specifications may extend beyond one level deep, by expressing the
             member argument as "member.member.member...".
         -x  override default output format with hexadecimal format.
         -d  override default output format with decimal format.

  NOTE: When this command is invoked directly (i.e., not from "foreach"), it
  is not necessary to include the "-R" before the task_struct/thread_info
  member name(s).
"""
    arguments = (
        Arg("-R", dest="members", action="append", default=[], metavar="member[,member]",
            complete=Complete.MEMBER_PATH, help="only these task_struct/thread_info members"),
        Arg("-x", dest="hex", action="store_true", help="hexadecimal output"),
        Arg("-h", dest="hex", action="store_true", help=argparse.SUPPRESS),
        Arg("-d", dest="dec", action="store_true", help="decimal output"),
        Arg("words", nargs="*", metavar="pid | taskp", complete=Complete.TASK),
    )

    @classmethod
    def parse(cls, argv: Sequence[str]) -> argparse.Namespace:
        """A bad option gives crash's usage text (cmd_usage), not an error line."""
        try:
            return super().parse(argv)
        except CommandError:
            return argparse.Namespace(usage=True)

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> TaskData | str:
        import drgn

        if getattr(args, "usage", False):
            return usage_text(type(self))

        from pycrash.kernel.datatype import find_datatype, member_path_exists

        if args.hex and args.dec:
            raise CommandError("-d and -x are mutually exclusive")
        radix = 16 if args.hex else 10 if args.dec else int(ctx.session.settings.get("radix", 10))
        prog = ctx.session.prog
        task_type = find_datatype(prog, "task_struct")
        if task_type is None:
            raise CommandError("no task_struct type in the debuginfo")
        thread_info = _thread_info(prog, task_type.type)
        members = [m for text in args.members for m in text.split(",") if m]

        def member_word(word: str) -> str | None:
            if "," in word or member_path_exists(task_type.type, word) \
                    or "." in word or "[" in word:
                members.extend(m for m in word.split(",") if m)
                return None
            return f"invalid task, pid, or task_struct member: {word}"

        chosen = task_args(ctx, list(args.words), member_word)
        data = TaskData(chosen.messages, [], members)
        for info in ctx.progress(chosen.tasks, "task", len(chosen.tasks)):
            try:
                lines = self._lines(ctx, info, task_type, thread_info, radix, members)
            except drgn.FaultError as err:
                raise CommandError(f"cannot read task_struct {info.task:x}: {err}") from None
            data.tasks.append(TaskDump(info.pid, info.task, info.cpu, info.comm, lines))
        return data

    @staticmethod
    def _lines(ctx: CommandContext, info: TaskInfo, task_type: Any,
               thread_info: tuple[Any, str] | None, radix: int,
               members: list[str]) -> list[str]:
        from pycrash.commands.struct import contents_lines

        from pycrash.format.layout import pick_member_path
        from pycrash.kernel.datatype import member_path_exists

        lines = contents_lines(ctx, task_type, info.task, radix)
        info_lines: list[str] = []
        if thread_info is not None:
            ti_type, where = thread_info
            if where == "stack":
                address = info.stack
            elif where.startswith("pointer:"):
                address = ctx.session.prog.read_u64(info.task + int(where[8:]))
            else:
                address = info.task + int(where)
            info_lines = contents_lines(ctx, ti_type, address, radix)
        if not members:
            return lines + (["\n"] + info_lines if info_lines else [])
        text = lines + info_lines
        out: list[str] = []
        for member in members:
            if "." in member or "[" in member:
                picked = pick_member_path(text, member)
                if picked is None:
                    out.append(f"task: invalid data structure member reference: {member}\n")
                else:
                    out.extend(picked)
                continue
            if not member_path_exists(task_type.type, member) and (
                    thread_info is None or not member_path_exists(thread_info[0].type, member)):
                out.append(f"task: {member}: not a task_struct or thread_info member\n")
            out.extend(pick_task_members(text, [member]))
        return out

    def render(self, ctx: CommandContext, data: TaskData | str) -> None:
        if isinstance(data, str):
            ctx.out.write(data)
            return
        for message in data.messages:
            ctx.out.write(f"task: {message}\n\n")
        for dump in data.tasks:
            ctx.out.write(f"PID: {dump.pid:<7d}  TASK: {dump.task:<16x}  CPU: {dump.cpu:<3d}"
                          f'  COMMAND: "{dump.comm}"\n')
            ctx.out.write("".join(dump.lines))
            ctx.out.write("\n")

    def to_json(self, ctx: CommandContext, data: TaskData | str) -> Any:
        if isinstance(data, str):
            return {"usage": data}
        return [{"pid": d.pid, "task": d.task, "cpu": d.cpu, "comm": d.comm,
                 "text": "".join(d.lines)} for d in data.tasks]


def _thread_info(prog: Any, task_type: Any) -> tuple[Any, str] | None:
    """crash's THREAD_INFO: the thread_info datatype and where it is: its offset in the
    task_struct (CONFIG_THREAD_INFO_IN_TASK, x86-64 since 4.9), ``pointer:OFFSET`` (a
    ``task_struct.thread_info`` pointer) or ``stack`` (at the base of the kernel stack that
    ``task_struct.stack`` points to); None when the kernel has no struct thread_info."""
    import drgn

    from pycrash.kernel.datatype import find_datatype

    datatype = find_datatype(prog, "thread_info")
    if datatype is None:
        return None
    if task_type.has_member("thread_info"):
        offset = drgn.offsetof(task_type, "thread_info")
        if task_type.member("thread_info").type.kind == drgn.TypeKind.STRUCT:
            return datatype, str(offset)
        return datatype, f"pointer:{offset}"
    if task_type.has_member("stack"):
        return datatype, "stack"
    return None
