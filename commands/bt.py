"""``bt``: kernel stack back traces, as crash 8.0.6 prints them (kernel.c ``cmd_bt``,
x86_64.c ``x86_64_low_budget_back_trace_cmd``).

The frames come from :func:`pycrash.kernel.stack.crash_backtrace`, which reproduces crash's
own stack walk (text return addresses found on the stack, frame sizes from ORC), so the
frame lines, exception-frame register blocks and ``--- <NMI exception stack> ---``
transitions come out as crash prints them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.expr.numbers import cpus_of_spec
from pycrash.kernel.stack import (
    Backtrace,
    ExceptionFrame,
    Frame,
    Note,
    StackSwitch,
    crash_backtrace,
    search_cpu_stacks,
    search_exception_frames,
    stack_overflow_report,
)
from pycrash.kernel.tasks import TaskInfo, TaskTable, task_table

_REGISTER_LINES = (
    ("RIP", "ip", "RSP", "sp", "RFLAGS", "flags"),
    ("RAX", "ax", "RBX", "bx", "RCX", "cx"),
    ("RDX", "dx", "RSI", "si", "RDI", "di"),
    ("RBP", "bp", " R8", "r8", " R9", "r9"),
    ("R10", "r10", "R11", "r11", "R12", "r12"),
    ("R13", "r13", "R14", "r14", "R15", "r15"),
)


@dataclasses.dataclass
class BtData:
    traces: list[Backtrace]
    messages: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    mode: str = "trace"  # "trace", "eframes" (-e), "stacks" (-E), "raw" (-r), "verify" (-v)
    extra: list[Any] = dataclasses.field(default_factory=list)  # per trace, for -e/-r


def task_header(info: TaskInfo | Backtrace) -> str:
    """crash's print_task_header()."""
    return (f"PID: {info.pid:<7d}  TASK: {info.task:<16x}  CPU: {info.cpu:<3d}  "
            f'COMMAND: "{info.comm}"')


@register
class Bt(Command):
    name = "bt"
    summary = "backtrace"
    description = """\
  Display a kernel stack backtrace.  If no arguments are given, the stack
  trace of the current context will be displayed.

       -a  displays the stack traces of the active task on each CPU.
       -p  display the stack trace of the panic task only.
   -c cpu  display the stack trace of the active task on one or more CPUs,
           which can be specified using the format "3", "1,8,9", "1-23",
           or "1,8,9-14".
       -g  displays the stack traces of all threads in the thread group of
           the target task; the thread group leader will be displayed first.
       -t  display all text symbols found from the last known stack location
           to the top of the stack.
       -T  display all text symbols found from just above the task_struct or
           thread_info to the top of the stack.
       -l  show file and line number of each stack trace text location.
       -f  display all stack data contained in a frame.
       -F  similar to -f, except that the stack data is displayed symbolically
           when appropriate.
   -R ref  display stack trace only if there is a reference to this symbol
           or text address.
       -s  display the symbol name plus its offset.
       -x  when displaying a symbol offset with the -s option, override the
           default output format with hexadecimal format.
       -d  when displaying a symbol offset with the -s option, override the
           default output format with decimal format.
      pid  displays the stack trace(s) of this pid.
    taskp  displays the stack trace the the task referenced by this hexadecimal
           task_struct pointer.

  Frames are printed as crash prints them: " #N [stack address] function at
  text address", where the stack address holds the return address.  --json
  prints the frames, exception frames and stack transitions of each task.
"""
    arguments = (
        Arg("-a", dest="all_cpus", action="store_true", help="active task on each CPU"),
        Arg("-c", dest="cpus", metavar="cpu", help="active tasks on these CPUs"),
        Arg("-p", dest="panic", action="store_true", help="the panic task"),
        Arg("-g", dest="group", action="store_true", help="all threads of the thread group"),
        Arg("-f", dest="full", action="store_true", help="all stack data of each frame"),
        Arg("-F", dest="full_sym", action="count", default=0, help="-f, symbolically"),
        Arg("-l", dest="lines", action="store_true", help="file and line numbers"),
        Arg("-t", dest="text", action="store_true", help="text symbols from the stack pointer"),
        Arg("-T", dest="text_all", action="store_true", help="all text symbols on the stack"),
        Arg("-e", dest="eframes", action="store_true", help="search for exception frames"),
        Arg("-E", dest="eframes_all", action="store_true", help="search IRQ/exception stacks"),
        Arg("-r", dest="raw", action="store_true", help="raw stack data"),
        Arg("-s", dest="offsets", action="store_true", help="symbol name plus offset"),
        Arg("-x", dest="hex", action="store_true", help="hexadecimal offsets"),
        Arg("-d", dest="dec", action="store_true", help="decimal offsets"),
        Arg("-R", dest="ref", metavar="ref", help="only traces referencing this"),
        Arg("-v", dest="verify", action="store_true", help="check stacks for overflow"),
        Arg("tasks", nargs="*", metavar="pid | task", complete=Complete.TASK),
    )

    def run(self, ctx: CommandContext, args: Any) -> BtData:
        if args.hex and args.dec:
            raise CommandError("-d and -x are mutually exclusive")
        session = ctx.session
        table = task_table(session.prog)
        if args.verify:
            return BtData([], mode="verify", extra=stack_overflow_report(session))
        if args.eframes_all:
            cpus = cpus_of_spec(args.cpus, table.cpus, None) if args.cpus else None
            return BtData([], mode="stacks", extra=search_cpu_stacks(session, cpus))
        messages: list[tuple[int, str]] = []
        targets = self._targets(ctx, args, table, messages)
        if args.eframes or args.raw:
            data = BtData([], messages, mode="eframes" if args.eframes else "raw")
            for info in targets:
                data.traces.append(Backtrace(info.task, info.pid, info.cpu, info.comm, []))
                if args.eframes:
                    data.extra.append(search_exception_frames(session, info.task)
                                      if info.stack else None)
                else:
                    data.extra.append(_raw_stack(session, info))
            return data
        full = args.full or bool(args.full_sym)
        traces = []
        for info in ctx.progress(targets, "bt", len(targets)):
            traces.append(crash_backtrace(session, info.task, full=full, text_symbols=args.text,
                                          text_all=args.text_all))
        if args.ref:
            traces = [t for t in traces if _stackless(t) or _references(t, args.ref, session)]
        return BtData(traces, messages)

    @staticmethod
    def _targets(ctx: CommandContext, args: Any, table: TaskTable,
                 messages: list[tuple[int, str]]) -> list[TaskInfo]:
        session = ctx.session
        if args.cpus:
            if args.group:
                raise CommandError("-c option cannot be used with the -g option")
            found = []
            for cpu in cpus_of_spec(args.cpus, table.cpus, None):
                task = table.active.get(cpu)
                info = table.get(task) if task else None
                if info is None:
                    raise CommandError(f"cannot determine active task on cpu {cpu}")
                found.append(info)
            return found
        if args.all_cpus:
            if args.group:
                raise CommandError("-a option cannot be used with the -g option")
            return [table.get(table.active[c]) for c in sorted(table.active)
                    if table.get(table.active[c]) is not None]
        if not args.tasks:
            if args.panic and session.panic.cpu is None:
                raise CommandError("no panic task found!")
            task = session.panic.task if args.panic else session.context.task
            info = table.get(task)
            if info is None:
                raise CommandError("no panic task found!" if args.panic else
                                   "no current context")
            return _with_group(table, info) if args.group else [info]
        from pycrash.commands.ps import resolve_number

        found = []
        for word in args.tasks:
            resolved = resolve_number(table, word) if _is_number(word) else None
            if resolved is None:
                messages.append((len(found), f"bt: invalid task or pid value: {word}"))
                continue
            kind, value = resolved
            infos = table.pid(value) if kind == "pid" else [table.get(value)]
            for info in infos:
                if info is None:
                    continue
                found.extend(_with_group(table, info) if args.group and info.pid else [info])
        return found

    def render(self, ctx: CommandContext, data: BtData) -> None:
        args = ctx.args
        out = ctx.out
        session = ctx.session
        radix = 16 if args.hex else 10
        if data.mode == "verify":
            out.write("".join(line + "\n" for line in data.extra))
            return
        if data.mode == "stacks":
            _render_stack_search(out, data.extra)
            return
        first = True
        message_at = dict(data.messages)
        for index, trace in enumerate(data.traces):
            if index in message_at:
                out.write(("" if first else "\n") + message_at.pop(index) + "\n")
                first = False
            if args.ref:
                render_referencing(out, trace, args, session)
                continue
            out.write(("" if first else "\n") + task_header(trace) + "\n")
            first = False
            if data.mode == "eframes":
                if data.extra[index] is None:
                    out.write("(no stack)\n")
                for frame in data.extra[index] or ():
                    _render_searched_frame(out, frame)
                continue
            if data.mode == "raw":
                out.write(data.extra[index])
                continue
            self._render_trace(out, trace, args, radix, session)
        for text in message_at.values():
            out.write(("" if first else "\n") + text + "\n")
            first = False

    @staticmethod
    def _render_trace(out: Any, trace: Backtrace, args: Any, radix: int, session: Any) -> None:
        text_mode = args.text or args.text_all
        for entry in trace.entries:
            if isinstance(entry, Frame):
                name = entry.name
                if args.offsets and entry.offset:
                    name += f"+0x{entry.offset:x}" if radix == 16 else f"+{entry.offset}"
                module = f" [{entry.module}]" if entry.module else ""
                if entry.words:
                    _render_words(out, entry.words, session if args.full_sym else None,
                                  args.full_sym)
                if text_mode:
                    out.write(f"  [{entry.slot:16x}] {name} at {entry.text:x}{module}\n")
                    continue
                level = f" #{entry.level}" if entry.level < 10 else f"#{entry.level}"
                out.write(f"{level} [{entry.slot:8x}] {name} at {entry.text:x}{module}\n")
                if args.lines:
                    line = _source_line(session, entry.text)
                    if line:
                        out.write(f"    {line}\n")
            elif isinstance(entry, ExceptionFrame):
                # crash prints the exception RIP offset in gdb's output radix, not bt -x/-d
                _render_exception_frame(out, entry, _gdb_radix(session),
                                        session if args.lines else None)
            elif isinstance(entry, StackSwitch):
                out.write(f"--- <{entry.label}> ---\n")
            elif isinstance(entry, Note):
                out.write(entry.text + "\n")
        if trace.error:
            out.write(f"bt: {trace.error}\n")

    def to_json(self, ctx: CommandContext, data: BtData) -> Any:
        result = []
        for trace in data.traces:
            entries = []
            for entry in trace.entries:
                kind = {Frame: "frame", ExceptionFrame: "exception", StackSwitch: "switch",
                        Note: "note"}[type(entry)]
                entries.append({"kind": kind, **dataclasses.asdict(entry)})
            result.append({"pid": trace.pid, "task": trace.task, "cpu": trace.cpu,
                           "comm": trace.comm, "entries": entries, "error": trace.error})
        return result


def _is_number(word: str) -> bool:
    text = word[2:] if word.lower().startswith("0x") else word
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def _with_group(table: TaskTable, info: TaskInfo) -> list[TaskInfo]:
    """-g: the thread group leader first, then the other threads in table order."""
    leaders = table.pid(info.tgid)
    leader = leaders[0] if leaders else info
    return [leader] + [t for t in table if t.tgid == info.tgid and t.pid != info.tgid]


def _source_line(session: Any, address: int) -> str:
    """crash's get_line_number(): vmlinux lines, module lines once ``mod -s`` loaded them."""
    from pycrash.kernel.symbols import source_line, symbol_table

    try:
        module = symbol_table(session).module_of(address)
        if module is None:
            return source_line(session, address)
        if not module.object_file:
            return ""
        base = module.section_bases.get(".text", module.module.base)
        return source_line(session, address, module.object_file, base)
    except Exception:  # noqa: BLE001 - no line information is not an error
        return ""


def _render_words(out: Any, words: list[tuple[int, int]], session: Any | None,
                  slab_level: int = 0) -> None:
    """crash's x86_64_display_full_frame(): two words a line, ``    addr: w w``."""
    lines = []
    for i, (address, value) in enumerate(words):
        text = f"{value:016x}"
        if session is not None:
            text = _symbolic_word(session, value, slab_level) or text
        if i % 2 == 0:
            lines.append(f"    {address:x}: {text} ")
        else:
            lines[-1] += f"{text} "
    out.write("\n".join(lines) + "\n")


def _symbolic_word(session: Any, value: int, slab_level: int) -> str | None:
    """crash's format_stack_entry() for -F: a symbol, else ``[slab cache]``, else None."""
    prog = session.prog
    try:
        prog.read(value, 1)  # crash shows names only for accessible addresses
    except Exception:  # noqa: BLE001 - unreadable: a plain number
        return None
    symbol = _symbol_string(session, value)
    if symbol:
        return f"{symbol:<16s}"
    try:
        from drgn.helpers.linux.slab import find_containing_slab_cache

        cache = find_containing_slab_cache(prog, value)
        if not cache:
            return None
        name = cache.name.string_().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - not a slab address
        return None
    text = f"[{value:x}:{name}]" if slab_level > 1 else f"[{name}]"
    return f"{text:<16s}"


def _render_exception_frame(out: Any, frame: ExceptionFrame, radix: int,
                            session: Any | None) -> None:
    regs = frame.registers
    if frame.rip_name is not None and (frame.kernel_mode or frame.rip_name == "user space"):
        name = frame.rip_name
        if frame.rip_offset:
            name += f"+0x{frame.rip_offset:x}" if radix == 16 else f"+{frame.rip_offset}"
        out.write(f"    [exception RIP: {name}]\n")
    for a, ka, b, kb, c, kc in _REGISTER_LINES:
        last = f"{regs[kc]:08x}" if kc == "flags" else f"{regs[kc]:016x}"
        out.write(f"    {a}: {regs[ka]:016x}  {b}: {regs[kb]:016x}  {c}: {last}\n")
    if frame.from_notes:
        out.write(f"    CS: {regs['cs'] & 0xFFFF:04x}  SS: {regs['ss'] & 0xFFFF:04x}\n")
    else:
        out.write(f"    ORIG_RAX: {regs['orig_ax']:016x}  CS: {regs['cs']:04x}  "
                  f"SS: {regs['ss']:04x}\n")
    if session is not None and frame.kernel_mode and frame.rip_name:
        line = _source_line(session, regs["ip"])
        if line:
            out.write(f"    {line}\n")


def _render_searched_frame(out: Any, frame: ExceptionFrame) -> None:
    """bt -e/-E: crash's EFRAME_SEARCH block, a blank line and the frame's address first."""
    mode = "KERNEL" if frame.kernel_mode else "USER"
    out.write(f"\n  {mode}-MODE EXCEPTION FRAME AT: {frame.address:x}\n")
    _render_exception_frame(out, frame, 10, None)


def _render_stack_search(out: Any, searches: list[Any]) -> None:
    for search in searches:
        out.write(f"CPU {search.cpu} {search.label} STACK:\n")
        if search.error:
            out.write(f"bt: {search.error}\n")
            return
        for frame in search.frames:
            _render_searched_frame(out, frame)
        out.write("\n" if search.frames else "(none found)\n\n")


def _raw_stack(session: Any, info: TaskInfo) -> str:
    """bt -r: crash's raw_stack_dump(), ``rd -s`` of the whole kernel stack."""
    from pycrash.kernel.stack.machine import Machine

    machine = Machine.of(session)
    stack = machine.read_stack(info.stack, machine.thread_size) if info.stack else None
    if stack is None:
        return f'bt: invalid kernel virtual address: {info.stack:x}  type: "64-bit KVADDR"\n'
    lines = []
    for i in range(0, len(stack.words), 2):
        cells = []
        for value in stack.words[i:i + 2]:
            symbol = _symbol_string(session, value)
            cells.append(f"{symbol:<16s} " if symbol else f"{value:016x} ")
        lines.append(f"{stack.base + 8 * i:16x}:  " + "".join(cells))
    return "\n".join(lines) + "\n"


def _symbol_string(session: Any, value: int) -> str | None:
    """crash's value_to_symstr() with the default radix, for a value in symbol range."""
    from pycrash.kernel.symbols import symbol_table

    try:
        return symbol_table(session).symstr(value)
    except Exception:  # noqa: BLE001
        return None


def _stackless(trace: Backtrace) -> bool:
    return len(trace.entries) == 1 and isinstance(trace.entries[0], Note) and \
        trace.entries[0].text == "(no stack)"


def render_referencing(out: Any, trace: Backtrace, args: Any, session: Any) -> None:
    """bt -R: a referencing trace with its header and a blank line after it; a task
    without a stack still says "(no stack)" (crash checks that before the reference)."""
    if _stackless(trace):
        out.write("(no stack)\n")
        return
    out.write(task_header(trace) + "\n")
    Bt._render_trace(out, trace, args, 16 if args.hex else 10, session)
    out.write("\n")


def _references(trace: Backtrace, ref: str, session: Any) -> bool:
    """bt -R: the trace mentions this symbol name or text address."""
    try:
        value = int(ref, 16)
    except ValueError:
        value = None
    for entry in trace.entries:
        if isinstance(entry, Frame) and (entry.name == ref or entry.text == value):
            return True
        if isinstance(entry, ExceptionFrame) and (entry.rip_name == ref or
                                                  value in entry.registers.values()):
            return True
    return False


def _gdb_radix(session: Any) -> int:
    """crash's *gdb_output_radix: the session's ``set radix`` (10 unless changed)."""
    try:
        return 16 if int(session.settings.get("radix", 10)) == 16 else 10
    except (AttributeError, TypeError, ValueError):
        return 10
