"""``runq``: the per-CPU run queues, as crash 8.0.6 prints them (task.c ``cmd_runq``,
``dump_CFS_runqueues``, ``dump_on_rq_timestamp``, ``dump_on_rq_lag``,
``dump_on_rq_milliseconds``, ``dump_on_rq_tasks``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import drgn

from pycrash.api import Arg, Command, CommandContext, CommandError, register
from pycrash.format.columns import translate_nanoseconds
from pycrash.kernel.sched import (
    QueuedTask,
    RunQueue,
    SchedError,
    read_runqueue,
    rq_clock,
    tasks_on_rq,
)
from pycrash.kernel.tasks import TaskInfo, TaskTable, task_last_run, task_table


@dataclasses.dataclass
class CpuStamp:
    """``runq -t`` / ``-m`` / ``-T``: one CPU's rq clock and its active task's last run."""

    cpu: int
    rq_clock: int
    pid: int | None
    task: int
    comm: str
    last_run: int | None


@dataclasses.dataclass
class RunqData:
    mode: str  # "queues", "timestamps", "lag", "msecs", "on_rq"
    cpus: int
    queues: list[RunQueue] = dataclasses.field(default_factory=list)
    stamps: list[CpuStamp] = dataclasses.field(default_factory=list)
    on_rq: list[tuple[int, list[QueuedTask]]] = dataclasses.field(default_factory=list)
    tasks: dict[int, TaskInfo] = dataclasses.field(default_factory=dict)


def _task_line(info: TaskInfo | None, task: int) -> str:
    """crash's ``PID: %-5ld  TASK: %lx  COMMAND: "%s"``."""
    if info is None:
        return f"{task:x}"
    return f'PID: {info.pid:<5d}  TASK: {info.task:x}  COMMAND: "{info.comm}"'


@register
class Runq(Command):
    name = "runq"
    summary = "run queue"
    synopsis = "[-t] [-T] [-m] [-g] [-d] [-c cpu(s)]"
    description = """\
  With no argument, this command displays the tasks on the run queues
  of each cpu.

     -t  Display the timestamp information of each cpu's runqueue, which is the
         rq.clock, rq.most_recent_timestamp or rq.timestamp_last_tick value,
         whichever applies; following each cpu timestamp is the last_run or
         timestamp value of the active task on that cpu, whichever applies,
         along with the task identification.
     -T  Display the time lag of each CPU relative to the most recent runqueue
         timestamp.
     -m  Display the amount of time that the active task on each cpu has been
         running, expressed in a format consisting of days, hours, minutes,
         seconds and milliseconds.
     -g  Display tasks hierarchically by task_group (pycrash: refused, as by crash
         on kernels without group scheduling; not yet shown on kernels with it).
     -d  Display the tasks whose task_struct.on_rq is set, by the cpu they last
         ran on, whichever queue they are on.
 -c cpu  restrict the output to the run queue data of one or more CPUs,
         which can be specified using the format "3", "1,8,9", "1-23",
         or "1,8,9-14".

  --json prints the queues (or the timestamps) as records.
"""
    arguments = (
        Arg("-t", dest="timestamps", action="store_true", help="runqueue timestamps"),
        Arg("-T", dest="lag", action="store_true", help="time lag of each cpu"),
        Arg("-m", dest="msecs", action="store_true", help="time the active task has run"),
        Arg("-g", dest="groups", action="store_true", help="by task group"),
        Arg("-d", dest="debug", action="store_true", help="tasks with on_rq set"),
        Arg("-c", dest="cpus", metavar="cpu(s)", action="append", help="cpus to show"),
    )

    def run(self, ctx: CommandContext, args: Any) -> RunqData:
        if args.cpus and len(args.cpus) > 1:
            raise CommandError("only one -c option allowed")
        prog = ctx.session.prog
        table = task_table(prog)
        cpus = list(range(table.cpus))
        if args.cpus:
            from pycrash.expr.numbers import cpus_of_spec

            cpus = cpus_of_spec(args.cpus[0], table.cpus, None)
        try:
            if args.timestamps:
                return self._stamps(prog, table, cpus, "timestamps")
            if args.lag:
                return self._stamps(prog, table, list(range(table.cpus)), "lag")
            if args.msecs:
                return self._stamps(prog, table, cpus, "msecs")
            if args.debug:
                return self._on_rq(prog, table, cpus)
            if args.groups:
                raise CommandError(_groups_refusal(prog))
            return self._queues(ctx, prog, table, cpus)
        except SchedError as err:
            raise CommandError(str(err)) from None
        except drgn.FaultError as err:
            raise CommandError(f"cannot read the run queues: {err}") from None

    @staticmethod
    def _queues(ctx: CommandContext, prog: drgn.Program, table: TaskTable,
                cpus: list[int]) -> RunqData:
        data = RunqData("queues", table.cpus, tasks=table.by_task)
        known = table.by_task.__contains__
        for cpu in ctx.progress(cpus, "runq", len(cpus)):
            data.queues.append(read_runqueue(prog, cpu, known))
        return data

    @staticmethod
    def _stamps(prog: drgn.Program, table: TaskTable, cpus: list[int], mode: str) -> RunqData:
        data = RunqData(mode, table.cpus)
        for cpu in cpus:
            task = table.active.get(cpu, 0)
            info = table.get(task)
            data.stamps.append(CpuStamp(
                cpu=cpu, rq_clock=rq_clock(prog, cpu), pid=info.pid if info else None,
                task=task, comm=info.comm if info else "",
                last_run=task_last_run(prog, info.task) if info else None,
            ))
        return data

    @staticmethod
    def _on_rq(prog: drgn.Program, table: TaskTable, cpus: list[int]) -> RunqData:
        data = RunqData("on_rq", table.cpus, tasks=table.by_task)
        queued = set(tasks_on_rq(prog, [t.task for t in table]))
        for cpu in cpus:
            rows = [QueuedTask(drgn.Object(prog, "struct task_struct *", t.task).prio.value_(),
                               t.task)
                    for t in table if t.task in queued and t.cpu == cpu]
            data.on_rq.append((cpu, rows))
        return data

    def render(self, ctx: CommandContext, data: RunqData) -> None:
        if data.mode == "queues":
            self._render_queues(ctx, data)
            return
        getattr(self, f"_render_{data.mode}")(ctx.out, data)

    @staticmethod
    def _render_queues(ctx: CommandContext, data: RunqData) -> None:
        out = ctx.out
        for n, rq in enumerate(data.queues):
            out.write(f"{chr(10) if n else ''}CPU {rq.cpu} RUNQUEUE: {rq.address:x}\n")
            out.write(f"  CURRENT: {_task_line(data.tasks.get(rq.curr), rq.curr)}\n")
            out.write(f"  RT PRIO_ARRAY: {rq.rt_array:x}\n")
            _queued(out, data, rq.rt_tasks)
            out.write(f"  CFS RB_ROOT: {rq.cfs_root:x}\n")
            _queued(out, data, rq.cfs_tasks)
            if rq.duplicate is not None:
                out.write(f"runq: WARNING: duplicate CFS runqueue node: task {rq.duplicate:x}\n")
            for stop in rq.stops:
                out.flush()
                ctx.warn(stop)

    @staticmethod
    def _render_timestamps(out: Any, data: RunqData) -> None:
        for s in data.stamps:
            text = f"{s.rq_clock}"
            out.write(f"{' ' if s.cpu < 10 else ''}CPU {s.cpu}: {text}\n")
            if s.pid is None:
                out.write("\n")
                continue
            indent = (8 if s.cpu < 10 else 8 if s.cpu < 100 else 9) if s.cpu < 1000 else 0
            stamp = f"{s.last_run or 0:0{len(text)}d}"
            out.write(f"{' ' * indent}{stamp}  PID: {s.pid:<5d}  TASK: {s.task:x}  "
                      f'COMMAND: "{s.comm}"\n')

    @staticmethod
    def _render_lag(out: Any, data: RunqData) -> None:
        ordered = sorted(data.stamps, key=lambda s: -s.rq_clock)
        newest = ordered[0].rq_clock if ordered else 0
        for s in ordered:
            pad = 2 + _log10(data.cpus) - _log10(s.cpu)
            out.write(f"{' ' * pad}CPU {s.cpu}: {(newest - s.rq_clock) / 1e9:.2f} secs\n")

    @staticmethod
    def _render_msecs(out: Any, data: RunqData) -> None:
        cpus = data.cpus
        max_indent = 1 if cpus < 10 else 2 if cpus < 100 else 3 if cpus < 1000 else 4
        max_days = translate_nanoseconds(data.stamps[0].rq_clock).index(" ") if data.stamps else 0
        for s in data.stamps:
            indent = max_indent - (0 if s.cpu < 10 else 1 if s.cpu < 100 else
                                   2 if s.cpu < 1000 else 4)
            if s.pid is None:
                out.write(f"{' ' * indent}CPU {s.cpu}: [unknown]\n")
                continue
            text = translate_nanoseconds(max(s.rq_clock - (s.last_run or 0), 0))
            pad = max_days - text.index(" ")
            out.write(f"{' ' * indent}CPU {s.cpu}: [{' ' * pad}{text}]  PID: {s.pid:<5d}  "
                      f'TASK: {s.task:x}  COMMAND: "{s.comm}"\n')

    @staticmethod
    def _render_on_rq(out: Any, data: RunqData) -> None:
        for cpu, rows in data.on_rq:
            out.write(f"{chr(10) if cpu else ''}CPU {cpu}\n")
            _queued(out, data, rows)

    def to_json(self, ctx: CommandContext, data: RunqData) -> Any:
        def task(t: int) -> dict[str, Any]:
            info = data.tasks.get(t)
            return {"task": t, "pid": info.pid if info else None,
                    "comm": info.comm if info else None}

        def queued(rows: list[QueuedTask]) -> list[dict[str, Any]]:
            return [{"prio": q.prio, **task(q.task)} for q in rows]

        if data.mode == "queues":
            return [{"cpu": rq.cpu, "runqueue": rq.address, "current": task(rq.curr),
                     "rt_prio_array": rq.rt_array, "rt": queued(rq.rt_tasks),
                     "cfs_rb_root": rq.cfs_root, "cfs": queued(rq.cfs_tasks),
                     "warnings": rq.stops} for rq in data.queues]
        if data.mode == "on_rq":
            return [{"cpu": cpu, "tasks": queued(rows)} for cpu, rows in data.on_rq]
        return [dataclasses.asdict(s) for s in data.stamps]


def _queued(out: Any, data: RunqData, rows: list[QueuedTask]) -> None:
    """crash's ``INDENT(5); [%3d] PID: ...`` lines, or ``[no tasks queued]``."""
    if not rows:
        out.write("     [no tasks queued]\n")
    for q in rows:
        out.write(f"     [{q.prio:3d}] {_task_line(data.tasks.get(q.task), q.task)}\n")


def _log10(value: int) -> int:
    """crash's __log10ul(): the number of decimal digits (1 for 0)."""
    return len(str(value))


def _groups_refusal(prog: drgn.Program) -> str:
    """Why ``-g`` does not run: crash's words when the kernel has no task groups to show
    (``task_group.cfs_rq`` needs CONFIG_FAIR_GROUP_SCHED, ``.rt_rq`` CONFIG_RT_GROUP_SCHED),
    else pycrash's own limit."""
    try:
        group = prog.type("struct task_group")
        grouped = group.has_member("parent") and (group.has_member("cfs_rq")
                                                  or group.has_member("rt_rq"))
    except LookupError:
        grouped = False
    if not grouped:
        return "-g option not supported or applicable on this architecture or kernel"
    return "-g option (tasks by task group) is not supported by pycrash"
