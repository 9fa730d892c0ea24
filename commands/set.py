"""set: show or change the current context, or a session variable (crash's ``set``).

``set`` alone shows the context (PID, COMMAND, TASK, CPU, STATE); ``set PID|TASK``,
``set -c CPU`` and ``set -p`` change it; ``set VARIABLE [VALUE]`` shows or changes one of the
session variables (scroll, radix, prompt, json, debug, zero_excluded).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register

if TYPE_CHECKING:
    from pycrash.session import Session


@dataclasses.dataclass
class ContextView:
    """What ``set`` prints about a task (crash's show_context())."""

    pid: int
    comm: str
    task: int
    tasks_with_pid: int
    thread_info: int | None
    cpu: int | None
    state: str
    mark: str  # "(PANIC)", "(SYSRQ)", "(ACTIVE)" or ""


def verbose_state(state: int, states: Any) -> str:
    """crash's task_state_string_verbose(): TASK_RUNNING, TASK_INTERRUPTIBLE|..., EXIT_ZOMBIE.

    ``states`` is a :class:`pycrash.kernel.tasks.TaskStates` (bit values of this kernel's
    task states; -1 where the kernel has no such state).
    """

    def valid(bit: int) -> bool:
        return bit >= 0

    if state == states.running:
        return "TASK_RUNNING"
    if valid(states.parked) and state == states.parked:
        return "TASK_PARKED"
    names = []
    if state & states.interruptible:
        names.append("TASK_INTERRUPTIBLE")
    if state & states.uninterruptible:
        names.append("TASK_UNINTERRUPTIBLE")
    if state & states.stopped:
        names.append("TASK_STOPPED")
    if valid(states.tracing_stopped) and state & states.tracing_stopped:
        names.append("TASK_TRACED")
    if valid(states.dead) and state & states.dead:
        both = bin(state & states.dead).count("1") > 1
        names.append("EXIT_DEAD|TASK_DEAD" if both else "EXIT_DEAD")
    if state & states.zombie:
        names.append("EXIT_ZOMBIE")
    for attr, label in (("waking", "TASK_WAKING"), ("wakekill", "TASK_WAKEKILL"),
                        ("noload", "TASK_NOLOAD"), ("new", "TASK_NEW")):
        bit = getattr(states, attr, -1)
        if valid(bit) and state & bit:
            names.append(label)
    return "|".join(names)


def _is_sysrq(session: Session) -> bool:
    """crash marks the panic task "(SYSRQ)" only when its own backtrace search found
    sysrq_handle_crash on the panic stack (x86_64.c); with NT_PRSTATUS registers, as in kdump
    dumps, it never searches, so a sysrq crash shows "(PANIC)" too."""
    return bool(getattr(session.panic, "sysrq", False))


def context_view(session: Session, task: int) -> ContextView:
    """The context display of the task at ``task``."""
    from pycrash.kernel.tasks import task_table

    table = task_table(session)
    info = table.get(task)
    if info is None:
        raise CommandError(f"invalid task address: {task:x}")
    mark = ""
    if info.active:
        try:
            panic_task = session.panic.task
        except Exception:  # noqa: BLE001 - no panic task found: plain "ACTIVE"
            panic_task = None
        if task == panic_task:
            mark = "(SYSRQ)" if _is_sysrq(session) else "(PANIC)"
        else:
            mark = "(ACTIVE)"
    # Since 4.9 (CONFIG_THREAD_INFO_IN_TASK) thread_info is the first member of task_struct,
    # so crash shows the task address again.
    try:
        session.prog.type("struct task_struct").member("thread_info")
        thread_info: int | None = task
    except LookupError:
        thread_info = int(getattr(info, "stack", 0)) or None
    return ContextView(
        pid=info.pid,
        comm=info.comm,
        task=info.task,
        tasks_with_pid=len(table.pid(info.pid)),
        thread_info=thread_info,
        cpu=info.cpu,
        state=verbose_state(info.state, table.states),
        mark=mark,
    )


def render_context(out: Any, view: ContextView, indent: int = 0) -> None:
    """crash's show_context(): indent 0 at run time, 5 in the startup summary."""
    pad = " " * indent
    out.write(f"{pad}    PID: {view.pid}\n")
    out.write(f'{pad}COMMAND: "{view.comm}"\n')
    task_line = f"{pad}   TASK: {view.task:x}  "
    if view.tasks_with_pid > 1:
        task_line += f"(1 of {view.tasks_with_pid})  "
    if view.thread_info is not None:
        task_line += f"[THREAD_INFO: {view.thread_info:x}]"
    out.write(task_line + "\n")
    out.write(f"{pad}    CPU: {view.cpu if view.cpu is not None else '-'}\n")
    # crash prints "%s " then the mark: a task without one keeps the trailing space.
    out.write(f"{pad}  STATE: {view.state} {view.mark}\n")


def _on_off(value: str) -> bool:
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise CommandError(f"invalid setting: {value} (on or off)")


def _show_variable(name: str, settings: Any) -> str:
    value = settings.get(name)
    if name == "scroll":
        return f"scroll: {'on' if value else 'off'} ({settings.get('pager') or 'none'})"
    if name == "radix":
        return f"output radix: {value} ({'hex' if value == 16 else 'decimal'})"
    if name == "prompt":
        return f'prompt: "{value}"'
    if isinstance(value, bool):
        return f"{name}: {'on' if value else 'off'}"
    return f"{name}: {value}"


def set_variable(settings: Any, name: str, value: str) -> None:
    """Change one session variable from its ``set`` spelling."""
    if name == "radix" or name in ("hex", "dec"):
        radix = {"hex": "16", "dec": "10"}.get(name, value)
        if radix not in ("10", "16"):
            raise CommandError(f"invalid radix: {value} (10 or 16)")
        settings["radix"] = int(radix)
    elif name == "prompt":
        settings["prompt"] = value
    elif name == "scroll":
        # As crash: without a pager (output not to a terminal) the setting cannot change.
        if value in ("less", "more"):
            settings["pager"] = "/usr/bin/less" if value == "less" else "/bin/more"
        elif settings.get("pager"):
            settings["scroll"] = _on_off(value)
    else:
        settings[name] = _on_off(value)


VARIABLES = ("scroll", "radix", "prompt", "json", "debug", "zero_excluded", "silent")


@register
class Set(Command):
    name = "set"
    summary = "set a process context or internal pycrash variable"
    synopsis = "[pid | taskp | -c cpu | -p] | [variable [setting]] | -v"
    description = """
    This command either sets a new context, or gets the current context for
    display.  The context can be set by the use of:

          pid  a process PID.
        taskp  a hexadecimal task_struct pointer.
       -c cpu  sets the context to the active task on a cpu.
           -p  sets the context to the panic task.
           -v  display the current state of internal variables.

    If no argument is entered, the current context is displayed.  The context
    consists of the PID, the task pointer, the CPU, and task state.

    This command may also be used to set internal variables.  If no value
    argument is entered, the current value of the variable is shown:

             scroll  on | off   controls output scrolling (less -E -X).
             scroll  less       /usr/bin/less as the output scrolling program.
             scroll  more       /bin/more as the output scrolling program.
              radix  10 | 16    sets output radix to 10 or 16.
             prompt  string     the prompt of the interactive shell.
               json  on | off   print commands that support it as JSON.
              debug  on | off   show tracebacks of unexpected errors.
      zero_excluded  on | off   read excluded pages as zeroes."""
    arguments = (
        Arg("-p", dest="panic", action="store_true"),
        Arg("-c", dest="cpu", type=int),
        Arg("-v", dest="variables", action="store_true"),
        Arg("words", nargs="*", complete=Complete.TASK),
    )
    needs_debuginfo = False

    def run(self, ctx: CommandContext, args: Any) -> Any:
        session = ctx.session
        settings = session.settings
        if args.variables:
            return {"variables": [_show_variable(name, settings) for name in VARIABLES]}
        words = args.words
        if words and words[0] in (*VARIABLES, "hex", "dec"):
            name = words[0]
            if len(words) > 1:
                set_variable(settings, name, " ".join(words[1:]))
            shown = "radix" if name in ("hex", "dec") else name
            return {"variables": [_show_variable(shown, settings)]}
        if len(words) > 1:
            raise CommandError(f"too many arguments: {' '.join(words)}")
        session.prog  # noqa: B018 - the context commands need the task table (DWARF)
        if args.panic:
            context = session.reset_context()
        elif args.cpu is not None:
            context = session.set_context(_active_task(session, args.cpu))
        elif words:
            context = session.set_context(_task_of(session, words[0]))
        else:
            context = session.context
        return context_view(session, context.task)

    def render(self, ctx: CommandContext, data: Any) -> None:
        if isinstance(data, ContextView):
            render_context(ctx.out, data)
            return
        for line in data["variables"]:
            ctx.out.write(line + "\n")


def _active_task(session: Session, cpu: int) -> int:
    from pycrash.kernel.tasks import task_table

    table = task_table(session)
    task = table.active.get(cpu)
    if task is None:
        raise CommandError(f"invalid cpu number: {cpu}")
    return task


def _task_of(session: Session, word: str) -> int:
    from pycrash.kernel.tasks import resolve_task, task_table

    found = resolve_task(task_table(session), word)
    if not found:
        raise CommandError(f"invalid task or pid value: {word}")
    return found[0].task
