"""taskcount: count the dump's tasks by state (an example pycrash plugin)."""

from collections import Counter

from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_state_to_char

from pycrash.api import Arg, Command, register

PF_KTHREAD = 0x00200000  # include/linux/sched.h: "I am a kernel thread"


@register
class TaskCount(Command):
    name = "taskcount"
    summary = "count the tasks, by state"
    description = "Count the tasks of the dump (idle tasks excluded), by one-letter state."
    arguments = (Arg("-k", dest="kthreads", action="store_true", help="kernel threads only"),)

    def run(self, ctx, args):
        counts = Counter()
        for task in ctx.progress(for_each_task(ctx.session.prog), "tasks"):
            if not args.kthreads or task.flags & PF_KTHREAD:
                counts[task_state_to_char(task)] += 1
        return dict(sorted(counts.items()))

    def render(self, ctx, data):
        ctx.out.write("STATE  TASKS\n")
        for state, count in data.items():
            ctx.out.write(f"{state:>5}  {count:5}\n")
        ctx.out.write(f"total  {sum(data.values()):5}\n")
