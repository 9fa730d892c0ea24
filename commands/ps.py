"""``ps``: process status, as crash 8.0.6 prints it (task.c ``cmd_ps`` and ``show_ps_data``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import drgn

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.format.columns import center, translate_nanoseconds
from pycrash.kernel.tasks import TaskInfo, TaskTable, task_last_run, task_mem_usage, task_table

_EXCLUSIVE = "-a, -t, -c, -p, -g, -l, -m, -S, -r and -A flags are all mutually-exclusive"
_USAGE = """\
Usage:
  ps [-k|-u|-G|-y policy] [-s] [-p|-c|-t|-[l|m][-C cpu]|-a|-g|-r|-S|-A|-H]
     [pid | task | command] ...
Enter "help ps" for details.
"""
# include/uapi/linux/sched.h SCHED_* values, crash's accepted names (make_sched_policy()).
_POLICIES = {"NORMAL": 0, "FIFO": 1, "RR": 2, "BATCH": 3, "ISO": 4, "IDLE": 5, "DEADLINE": 6}
_RLIMIT_NAMES = ("CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK",
                 "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME")
_RLIM_INFINITY = 0xFFFFFFFFFFFFFFFF


@dataclasses.dataclass
class PsRow:
    """One line of the default ps table."""

    pid: int
    ppid: int
    cpu: int
    task: int
    kstackp: int | None  # -s: the saved kernel stack pointer (None for active tasks)
    state: str
    pct_mem: float
    vsz_kb: int
    rss_kb: int
    comm: str
    kernel_thread: bool
    active: bool


@dataclasses.dataclass
class PsData:
    mode: str  # "table", "times", "parents", "children", "threads", "args", "rlimits", "summary"
    header: bool = True
    kstackp: bool = False
    rows: list[Any] = dataclasses.field(default_factory=list)
    # text crash prints instead of (or between) rows: (position in rows, text)
    messages: list[tuple[int, str]] = dataclasses.field(default_factory=list)


def task_header(info: TaskInfo) -> str:
    """crash's print_task_header(): ``PID: %-7ld  TASK: %-16lx  CPU: %-3s  COMMAND: "%s"``."""
    return (f"PID: {info.pid:<7d}  TASK: {info.task:<16x}  CPU: {info.cpu:<3d}  "
            f'COMMAND: "{info.comm}"')


def _is_number(word: str) -> bool:
    """crash's IS_A_NUMBER: decimal, or hexadecimal with or without 0x."""
    text = word[2:] if word.lower().startswith("0x") else word
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def resolve_number(table: TaskTable, word: str) -> tuple[str, int] | None:
    """crash's str_to_context(): ("pid", n) or ("task", address), None if neither."""
    decimal = int(word) if word.isdigit() else None
    text = word[2:] if word.lower().startswith("0x") else word
    try:
        hexval: int | None = int(text, 16)
    except ValueError:
        hexval = None
    if decimal is not None and table.pid(decimal):
        return "pid", decimal
    if decimal is not None and table.get(decimal):
        return "task", decimal
    if hexval is not None and hexval != decimal:
        if table.get(hexval):
            return "task", hexval
        if table.pid(hexval):
            return "pid", hexval
    return None


def select_tasks(table: TaskTable, words: list[str], out_messages: list[str]) -> list[TaskInfo]:
    """Tasks matching crash-style identifiers, in task-table order (one per match)."""
    import re

    matchers = []
    for word in words:
        if _is_number(word):
            found = resolve_number(table, word)
            if found is None:
                out_messages.append(f"invalid task or pid value: {word}")
                continue
            matchers.append(found)
        elif len(word) > 1 and word.startswith("'") and word.endswith("'"):
            try:
                matchers.append(("regex", re.compile(word[1:-1])))
            except re.error:
                raise CommandError(f"invalid regular expression: {word[1:-1]}") from None
        else:
            matchers.append(("comm", word[1:] if word.startswith("\\") else word))
    selected = []
    for info in table:
        for kind, value in matchers:
            if (kind == "pid" and info.pid == value) or (kind == "task" and info.task == value) \
                    or (kind == "comm" and info.comm == value[:15]) \
                    or (kind == "regex" and value.search(info.comm)):
                selected.append(info)
    return selected


def _policy_mask(text: str) -> int:
    mask = 0
    for part in text.split(","):
        part = part.strip()
        if part.isdigit() and int(part) in _POLICIES.values():
            mask |= 1 << int(part)
        elif part.upper() in _POLICIES:
            mask |= 1 << _POLICIES[part.upper()]
        else:
            raise CommandError(f"{part}: invalid scheduling policy")
    return mask


@register
class Ps(Command):
    name = "ps"
    summary = "display process status information"
    keep_quotes = True  # 'regex' task names arrive with their quotes, as crash sees them
    description = """\
  This command displays process status for selected, or all, processes
  in the system.  If no arguments are entered, the process data is
  is displayed for all processes.  Specific processes may be selected
  by using the following identifier formats:

       pid  a process PID.
      task  a hexadecimal task_struct pointer.
   command  a command name.  If a command name is made up of letters that
            are all numerical values, precede the name string with a "\\".
            If the command string is enclosed within "'" characters, then
            the encompassed string must be a POSIX extended regular expression
            that will be used to match task names.

        -k  restrict the output to only kernel threads.
        -u  restrict the output to only user tasks.
        -G  display only the thread group leader in a thread group.
 -y policy  restrict the output to tasks having a specified scheduling policy
            (0 or NORMAL, 1 or FIFO, 2 or RR, 3 or BATCH, 4 or ISO, 5 or IDLE,
            6 or DEADLINE; several may be given, comma-separated).
       -s  replace the TASK column with the KSTACKP column.
       -p  display the parental hierarchy of selected, or all, tasks.
       -c  display the children of selected, or all, tasks.
       -t  display the task run time, start time, and cumulative user
           and system times.
       -l  display the task's last-run timestamp value.
       -m  similar to -l, but the timestamp value is translated into days,
           hours, minutes, seconds, and milliseconds since the task was
           last run on a cpu.
  -C cpus  only usable with the -l or -m options.
       -a  display the command line arguments and environment strings of
           selected, or all, user-mode tasks.
       -g  display tasks by thread group, of selected, or all, tasks.
       -r  display resource limits (rlimits) of selected, or all, tasks.
       -S  display a summary consisting of the number of tasks in a task state.
       -A  display only the active task on each cpu.
       -H  display no header line.

  The active task on each CPU is marked with ">".  --json prints the table rows.
"""
    arguments = (
        Arg("-k", dest="kernel", action="store_true", help="kernel threads only"),
        Arg("-u", dest="user", action="store_true", help="user tasks only"),
        Arg("-G", dest="group", action="store_true", help="thread group leaders only"),
        Arg("-y", dest="policy", metavar="policy", help="scheduling policies"),
        Arg("-s", dest="kstackp", action="store_true", help="show KSTACKP instead of TASK"),
        Arg("-p", dest="parents", action="store_true", help="parental hierarchy"),
        Arg("-c", dest="children", action="store_true", help="children"),
        Arg("-t", dest="times", action="store_true", help="run, start, user and system times"),
        Arg("-l", dest="last_run", action="store_true", help="last-run timestamps"),
        Arg("-m", dest="msecs", action="store_true", help="time since last run"),
        Arg("-C", dest="cpus", metavar="cpus", help="per-cpu blocks for -l/-m"),
        Arg("-a", dest="args", action="store_true", help="arguments and environment"),
        Arg("-g", dest="threads", action="store_true", help="tasks by thread group"),
        Arg("-r", dest="rlimits", action="store_true", help="resource limits"),
        Arg("-S", dest="summary", action="store_true", help="task-state summary"),
        Arg("-A", dest="active", action="store_true", help="active tasks only"),
        Arg("-H", dest="no_header", action="store_true", help="no header line"),
        Arg("tasks", nargs="*", metavar="pid | task | command", complete=Complete.TASK),
    )

    def run(self, ctx: CommandContext, args: Any) -> PsData:
        if args.kernel and args.user:
            raise CommandError("-u and -k are mutually exclusive")
        modes = [m for m in ("args", "times", "children", "parents", "threads", "last_run",
                             "msecs", "summary", "rlimits", "active") if getattr(args, m)]
        if len(modes) > 1:
            raise CommandError(_EXCLUSIVE)
        session = ctx.session
        prog = session.prog
        table = task_table(prog)
        if args.last_run or args.msecs:
            if not _has_last_run(prog):
                data = PsData("error")
                data.messages.append((0, "ps: last-run timestamps do not exist in this kernel\n"
                                      + _USAGE))
                return data
        policy = _policy_mask(args.policy) if args.policy else None
        messages: list[str] = []
        if args.tasks:
            if args.summary:
                raise CommandError("-S option takes no arguments")
            selected = select_tasks(table, args.tasks, messages)
        else:
            selected = list(table)
            if args.cpus and not (args.last_run or args.msecs):
                raise CommandError("-C option is only applicable with -l and -m")
        selected = [t for t in selected if _passes_filters(prog, t, args, policy)]

        mode = modes[0] if modes and modes[0] != "active" else "table"
        if mode in ("last_run", "msecs"):
            return _last_run_data(prog, table, selected, mode, args.cpus, bool(args.tasks))
        data = PsData(mode, header=not args.no_header, kstackp=args.kstackp)
        data.messages = [(0, f"ps: {m}\n") for m in messages]
        if args.group:
            selected = _group_leaders(table, selected, bool(args.tasks))
        if mode == "table":
            if args.active and not args.tasks:
                selected = [t for t in selected if t.active]
            data.rows = [self._row(session, table, t, args.kstackp) for t in selected]
        elif mode == "summary":
            counts: dict[str, int] = {}
            for info in table:
                state = table.state_name(info)
                counts[state] = counts.get(state, 0) + 1
            data.rows = list(counts.items())
        elif mode == "times":
            rows = [_times(session, t) for t in selected]
            data.rows = sorted(rows, key=lambda r: r["start_time"])
        elif mode == "parents":
            data.rows = [_parents(table, t) for t in selected]
        elif mode == "children":
            data.rows = [(t, [c for c in table if c.parent == t.task]) for t in selected]
        elif mode == "threads":
            data.rows = _thread_groups(table, selected, bool(args.tasks))
        elif mode == "args":
            data.rows = [(t, _task_args(session, prog, t)) for t in selected]
        elif mode == "rlimits":
            data.rows = [(t, _rlimits(prog, t)) for t in selected]
        return data

    @staticmethod
    def _row(session: Any, table: TaskTable, info: TaskInfo, kstackp: bool) -> PsRow:
        usage = task_mem_usage(session.prog, table, info)
        sp = None
        if kstackp and not info.active:
            sp = _thread_sp(session.prog, info.task)
        page_kb = 4
        return PsRow(
            pid=info.pid, ppid=info.ppid, cpu=info.cpu, task=info.task, kstackp=sp,
            state=table.state_name(info), pct_mem=usage.pct_physmem,
            vsz_kb=usage.total_vm * page_kb, rss_kb=usage.rss * page_kb, comm=info.comm,
            kernel_thread=info.is_kernel_thread, active=info.active,
        )

    def render(self, ctx: CommandContext, data: PsData) -> None:
        out = ctx.out
        for _, text in data.messages:
            out.write(text + ("\n" if data.mode != "error" else ""))
        if data.mode == "error":
            return
        render = getattr(self, f"_render_{data.mode}")
        render(out, data)

    def _render_table(self, out: Any, data: PsData) -> None:
        if data.header:
            column = "KSTACKP".center(16) if data.kstackp else "TASK".center(16)
            if data.kstackp:
                column = center("KSTACKP", 16, right=True)
            out.write(f"      PID    PPID  CPU {column}  ST  %MEM      VSZ      RSS  COMM\n")
        for row in data.rows:
            marker = "> " if row.active else "  "
            if data.kstackp:
                pointer = f"{row.kstackp:16x}" if row.kstackp else center("--", 16, right=True)
            else:
                pointer = f"{row.task:16x}"
            pct = f"{row.pct_mem:.1f}"
            if len(pct) == 3:
                pct = " " + pct
            pad = " " if len(row.state) > 3 else "  "
            comm = f"[{row.comm}]" if row.kernel_thread else row.comm
            out.write(f"{marker}{row.pid:7d} {row.ppid:7d} {row.cpu:3d}  {pointer} "
                      f"{row.state:>3s}{pad}{pct} {row.vsz_kb:8d} {row.rss_kb:8d}  {comm}\n")

    def _render_last_run(self, out: Any, data: PsData) -> None:
        for row in data.rows:
            if isinstance(row, str):  # -C: "CPU: n" block headings
                out.write(row)
                continue
            stamp, state, info = row
            out.write(f"{stamp} [{state}]  {task_header(info)}\n")

    _render_msecs = _render_last_run

    def _render_summary(self, out: Any, data: PsData) -> None:
        for state, count in data.rows:
            out.write(f"  {state}: {count}\n")

    def _render_times(self, out: Any, data: PsData) -> None:
        for row in data.rows:
            out.write(task_header(row["info"]) + "\n")
            out.write(f"    RUN TIME: {row['run_time']}\n")
            out.write(f"  START TIME: {row['start_time']}\n")
            out.write(f"       UTIME: {row['utime']}\n")
            out.write(f"       STIME: {row['stime']}\n\n")

    def _render_parents(self, out: Any, data: PsData) -> None:
        for chain in data.rows:
            for depth, info in enumerate(chain):
                out.write(" " * depth + task_header(info) + "\n")
            out.write("\n")

    def _render_children(self, out: Any, data: PsData) -> None:
        _render_groups(out, data.rows, "(no children)")

    def _render_threads(self, out: Any, data: PsData) -> None:
        _render_groups(out, data.rows, "(no threads)")

    def _render_args(self, out: Any, data: PsData) -> None:
        for info, result in data.rows:
            out.write(task_header(info) + "\n")
            out.write(result)

    def _render_rlimits(self, out: Any, data: PsData) -> None:
        width = max(len(n) for n in _RLIMIT_NAMES)
        for info, limits in data.rows:
            out.write(task_header(info) + "\n")
            if limits is None:
                continue
            out.write(f"  {'RLIMIT':>{width}s}   {center('CURRENT', 11, right=True)}   "
                      f"{center('MAXIMUM', 11, right=True)}\n")
            for i, (cur, maximum) in enumerate(limits):
                name = _RLIMIT_NAMES[i] if i < len(_RLIMIT_NAMES) else "(unknown)"
                out.write(f"  {name:>{width}s}   {_rlim(cur)}   ")
                out.write(("(unlimited)" if maximum == _RLIM_INFINITY
                           else center(str(maximum), 11)) + "\n")
            out.write("\n")

    def to_json(self, ctx: CommandContext, data: PsData) -> Any:
        if data.mode == "table":
            return [dataclasses.asdict(row) for row in data.rows]
        if data.mode == "summary":
            return dict(data.rows)
        return super().to_json(ctx, data.rows)


def _last_run_data(prog: drgn.Program, table: TaskTable, selected: list[TaskInfo], mode: str,
                   cpus: str | None, specified: bool) -> PsData:
    """ps -l / -m: tasks by last run, newest first (crash's sort_context_array_by_last_run)."""
    from pycrash.kernel.native_helpers import per_cpu

    stamps = {t.task: task_last_run(prog, t.task) for t in table}
    ordered = sorted(table, key=lambda t: -stamps[t.task])
    width = len(str(stamps[ordered[0].task])) if ordered else 1
    wanted = {t.task for t in selected}
    data = PsData(mode)

    def clock(cpu: int) -> int:
        try:
            return per_cpu(prog["runqueues"], cpu).clock.value_()
        except (KeyError, LookupError, drgn.FaultError):
            return 0

    def stamp(info: TaskInfo, max_days: int = 0) -> str:
        if mode == "last_run":
            return f"[{stamps[info.task]:>{width}d}]"
        delta = max(clock(info.cpu) - stamps[info.task], 0)
        text = translate_nanoseconds(delta)
        pad = max_days - text.index(" ")
        return f"[{' ' * pad}{text}]"

    if cpus and not specified:
        from pycrash.expr.numbers import cpus_of_spec

        for n, cpu in enumerate(cpus_of_spec(cpus, table.cpus, None)):
            data.rows.append(f"{chr(10) if n else ''}CPU: {cpu}\n")
            max_days = translate_nanoseconds(clock(cpu)).index(" ") if mode == "msecs" else 0
            for info in ordered:
                if info.cpu == cpu:
                    data.rows.append((stamp(info, max_days), table.state_name(info), info))
        return data
    for info in ordered:
        if info.task in wanted:
            max_days = 0
            if mode == "msecs" and specified:
                max_days = translate_nanoseconds(clock(info.cpu)).index(" ")
            data.rows.append((stamp(info, max_days), table.state_name(info), info))
    return data


def _rlim(value: int) -> str:
    return "(unlimited)" if value == _RLIM_INFINITY else center(str(value), 11)


def _has_last_run(prog: drgn.Program) -> bool:
    """crash needs task_struct.last_run/.timestamp or sched_info.last_arrival for -l/-m."""
    task_type = prog.type("struct task_struct")
    if task_type.has_member("last_run") or task_type.has_member("timestamp"):
        return True
    try:
        return prog.type("struct sched_info").has_member("last_arrival")
    except LookupError:
        return False


def _passes_filters(prog: drgn.Program, info: TaskInfo, args: Any, policy: int | None) -> bool:
    if args.user and info.is_kernel_thread:
        return False
    if args.kernel and not info.is_kernel_thread:
        return False
    if policy is not None:
        try:
            value = drgn.Object(prog, "struct task_struct *", info.task).policy.value_()
        except drgn.FaultError:
            return False
        if not (1 << value) & policy:
            return False
    return True


def _group_leaders(table: TaskTable, selected: list[TaskInfo], specified: bool) -> list[TaskInfo]:
    """-G: each thread group once, shown by its leader (a named thread names its leader)."""
    seen: set[int] = set()
    result = []
    for info in selected:
        leader = info
        if info.pid != info.tgid:
            if not specified:
                continue
            found = table.pid(info.tgid)
            if not found:
                continue
            leader = found[0]
        if leader.task in seen:
            continue
        seen.add(leader.task)
        result.append(leader)
    return result


def _thread_groups(table: TaskTable, selected: list[TaskInfo],
                   specified: bool) -> list[tuple[TaskInfo, list[TaskInfo]]]:
    rows = []
    idle_shown = False
    for info in selected:
        leader = info
        if info.pid != info.tgid:
            if not specified:
                continue
            found = table.pid(info.tgid)
            if not found:
                continue
            leader = found[0]
        if leader.pid == 0 and idle_shown:
            continue
        threads = [t for t in table if t.task != leader.task and t.tgid == leader.tgid]
        if any(t.pid == 0 for t in threads):
            idle_shown = True
        rows.append((leader, threads))
    return rows


def _parents(table: TaskTable, info: TaskInfo) -> list[TaskInfo]:
    chain = [info]
    seen = {info.task}
    current = info
    while current.parent != current.task and len(chain) < 10000:
        parent = table.get(current.parent)
        if parent is None or parent.task in seen:
            break
        chain.append(parent)
        seen.add(parent.task)
        current = parent
    return list(reversed(chain))


def _thread_sp(prog: drgn.Program, task: int) -> int:
    try:
        return drgn.Object(prog, "struct task_struct *", task).thread.sp.value_()
    except (AttributeError, LookupError, drgn.FaultError):
        return 0


def _convert_time(count: int, hz: int) -> str:
    """crash's convert_time(): jiffies as ``[N days, ]HH:MM:SS``."""
    total = count // hz
    days, total = divmod(total, 86400)
    hours, total = divmod(total, 3600)
    minutes, seconds = divmod(total, 60)
    prefix = f"{days} days, " if days else ""
    return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}"


def _times(session: Any, info: TaskInfo) -> dict[str, Any]:
    from pycrash.kernel import sysinfo

    prog = session.prog
    task = drgn.Object(prog, "struct task_struct *", info.task)
    hz = sysinfo.hz(session)
    start = task.start_time.value_()
    utime, stime = task.utime.value_(), task.stime.value_()
    current = sysinfo.uptime_jiffies(session)
    # start_time is in nanoseconds since 3.17 (crash's START_TIME_NSECS)
    started = (start // 1_000_000_000) * hz
    run = 0 if started > current else current - started
    return {"info": info, "run_time": _convert_time(run, hz), "start_time": start,
            "utime": utime, "stime": stime}


def _rlimits(prog: drgn.Program, info: TaskInfo) -> list[tuple[int, int]] | None:
    task = drgn.Object(prog, "struct task_struct *", info.task)
    try:
        rlim = task.signal.rlim
        return [(rlim[i].rlim_cur.value_(), rlim[i].rlim_max.value_()) for i in range(len(rlim))]
    except (AttributeError, LookupError, drgn.FaultError):
        return None


def _task_args(session: Any, prog: drgn.Program, info: TaskInfo) -> str:
    """ps -a: argv and environment from the task's user stack (often excluded from dumps)."""
    if not info.mm:
        return "ps: no user stack\n\n"
    mm = drgn.Object(prog, "struct mm_struct *", info.mm)
    try:
        arg_start, arg_end = mm.arg_start.value_(), mm.arg_end.value_()
        env_start, env_end = mm.env_start.value_(), mm.env_end.value_()
        pgd = mm.pgd.value_()
    except drgn.FaultError:
        return ""
    argv = _read_user(session, pgd, arg_start, arg_end)
    if isinstance(argv, int):
        return f"ps: cannot access user stack address: {argv:x}\n\n"
    # crash's show_task_args(): every NUL after a non-empty word becomes one space
    text = "ARG: "
    count = 0
    for byte in argv:
        if byte == 0:
            if count:
                text += " "
            count = 0
        else:
            text += chr(byte)
            count += 1
    env = _read_user(session, pgd, env_start, env_end)
    if isinstance(env, int):
        return text + f"ps: cannot access user stack address: {env:x}\n\n"
    # ...and in the environment a NUL ends a line, the next word indented under "ENV: "
    text += "\nENV: "
    count = total = 0
    for position, byte in enumerate(env):
        if byte == 0:
            if count:
                text += "\n"
            count = 0
        else:
            text += ("     " if not count and position else "") + chr(byte)
            count += 1
            total += 1
    return text + "\n" + ("" if total else "\n")


def _render_groups(out: Any, rows: Any, none: str) -> None:
    """``ps -c`` / ``ps -g``: each task's header, then its children or threads indented."""
    for head, members in rows:
        out.write(task_header(head) + "\n")
        for member in members:
            out.write("  " + task_header(member) + "\n")
        if not members:
            out.write(f"  {none}\n")
        out.write("\n")


def _read_user(session: Any, pgd: int, start: int, end: int) -> bytes | int:
    """User memory through the task's page tables; the failing address on error."""
    from pycrash.core.errors import FaultError

    dump = session.dump
    try:
        root = dump.translate(pgd).paddr
    except FaultError:
        return start
    try:
        return dump.read_user(start, end - start, root)
    except FaultError as err:
        return err.address  # the user address that failed


__all__ = ["Ps", "PsData", "PsRow", "resolve_number", "select_tasks", "task_header"]
