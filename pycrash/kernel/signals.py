"""A task's signal-handling state, as crash's ``sig`` shows it (task.c dump_signal_data).

Kernel layout (include/linux/sched/signal.h, include/linux/signal_types.h, every kernel since
2.6.x):

* ``task_struct.sighand`` -> ``struct sighand_struct { ... struct k_sigaction action[_NSIG]; }``:
  the dispositions, shared by a thread group; ``k_sigaction.sa`` is a ``struct sigaction``
  (``sa_handler``, ``sa_flags``, ``sa_mask``);
* ``task_struct.signal`` -> ``struct signal_struct``: ``nr_threads`` and ``shared_pending``
  (a ``struct sigpending { struct list_head list; sigset_t signal; }``);
* ``task_struct.pending``: the task's own pending signals, ``task_struct.blocked`` its mask;
* ``struct sigqueue { struct list_head list; ... kernel_siginfo_t info; }``: one queued signal.
* ``thread_info.flags`` bit ``TIF_SIGPENDING`` says a signal is pending.

On a 64-bit kernel ``_NSIG`` is 64 and a ``sigset_t`` is one ``unsigned long``.
"""

from __future__ import annotations

import dataclasses

import drgn

from pycrash.kernel.lists import list_walk

__all__ = [
    "NSIG",
    "SigAction",
    "SigQueued",
    "TaskSignals",
    "sa_flags_names",
    "signal_list",
    "signal_names",
    "sigset_names",
    "task_signals",
]

# include/uapi/asm-generic/signal.h: _NSIG (64 on every Linux architecture).
NSIG = 64
# include/uapi/asm-generic/signal-defs.h + x86's SA_RESTORER, in crash's print order.
_SA_FLAGS = (
    (0x00000001, "SA_NOCLDSTOP"),
    (0x04000000, "SA_RESTORER"),
    (0x00000002, "SA_NOCLDWAIT"),
    (0x00000004, "SA_SIGINFO"),
    (0x08000000, "SA_ONSTACK"),
    (0x10000000, "SA_RESTART"),
    (0x40000000, "SA_NODEFER"),
    (0x80000000, "SA_RESETHAND"),
)
# arch/x86/include/asm/thread_info.h: TIF_SIGPENDING, "signal pending".
TIF_SIGPENDING = 2
# include/uapi/asm-generic/signal.h: SIGRTMIN; the real-time signals run up to _NSIG.
SIGRTMIN = 32
_NAMES = (
    None, "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
    "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
    "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
    "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
)
_ALTNAMES = {6: "SIGIOT", 17: "SIGCLD", 29: "SIGPOLL", 31: "SIGUNUSED"}
# A bound on a pending queue: RLIMIT_SIGPENDING is far below it on any real system.
_QUEUE_LIMIT = 1 << 16


@dataclasses.dataclass(frozen=True)
class SigAction:
    """One ``k_sigaction`` of the thread group's ``sighand_struct``."""

    signal: int
    address: int  # the k_sigaction's kernel address
    handler: int  # sa_handler: 0 SIG_DFL, 1 SIG_IGN, -1 SIG_ERR, else a user address
    mask: int  # sa_mask
    flags: int  # sa_flags


@dataclasses.dataclass(frozen=True)
class SigQueued:
    """One queued ``struct sigqueue``: its signal and the address of its siginfo."""

    signal: int
    info: int


@dataclasses.dataclass
class TaskSignals:
    task: int
    signal_struct: int
    nr_threads: int | None
    actions: list[SigAction]
    sigpending: bool
    blocked: int
    private_signal: int
    private_queue: list[SigQueued]
    shared_signal: int | None  # None: no signal_struct.shared_pending (before 2.6)
    shared_queue: list[SigQueued]


def signal_names(number: int) -> str:
    """A signal's name as crash writes it: ``SIGHUP``, ``SIGRTMIN+3``, ``SIGRTMAX-2``...

    The real-time signals above SIGRTMIN are split as glibc names them: the lower half counts
    up from SIGRTMIN, the upper half down from SIGRTMAX.
    """
    if number == SIGRTMIN:
        return "SIGRTMIN"
    if number == NSIG:
        return "SIGRTMAX"
    if number > SIGRTMIN:
        span = NSIG - SIGRTMIN - 1
        upper = span // 2
        lower = span - upper
        offset = number - SIGRTMIN
        return f"SIGRTMIN+{offset}" if offset <= lower else f"SIGRTMAX-{NSIG - number}"
    return _NAMES[number] or ""


def signal_list() -> list[str]:
    """crash's ``sig -l``: every signal number with its name (and alternative name)."""
    lines = []
    for number in range(1, NSIG + 1):
        if number >= SIGRTMIN:
            lines.append(f"[{number}] {signal_names(number)}")
        elif _NAMES[number]:
            alt = f"/{_ALTNAMES[number]}" if number in _ALTNAMES else ""
            lines.append(f"{'' if number >= 10 else ' '}[{number}] {_NAMES[number]}{alt}")
    return lines


def sigset_names(sigset: int) -> list[str]:
    """The names of the signals set in a sigset (bit 0 is signal 1)."""
    return [signal_names(n) for n in range(1, NSIG + 1) if sigset >> (n - 1) & 1]


def sa_flags_names(flags: int) -> list[str]:
    """The SA_* names of ``sa_flags``, in crash's order."""
    return [name for bit, name in _SA_FLAGS if flags & bit]


def _sigset(value: drgn.Object) -> int:
    """A ``sigset_t`` as one integer: word i holds signals 64*i+1 ... (one word on 64-bit)."""
    words = value.sig
    result = 0
    for i in range(len(words)):
        result |= words[i].value_() << (64 * i)
    return result


def _queue(prog: drgn.Program, head: int) -> list[SigQueued]:
    """The ``struct sigqueue`` entries of the ``list_head`` at ``head``."""
    sigqueue = prog.type("struct sigqueue")
    list_off = drgn.offsetof(sigqueue, "list")
    info_off = drgn.offsetof(sigqueue, "info")
    out = []
    for node in list_walk(prog, head, limit=_QUEUE_LIMIT):
        entry = drgn.Object(prog, sigqueue, address=node - list_off)
        out.append(SigQueued(int(entry.info.si_signo), node - list_off + info_off))
    return out


def task_signals(prog: drgn.Program, task: int) -> TaskSignals:
    """The signal state of the task_struct at ``task``; faults propagate as drgn.FaultError."""
    task_obj = drgn.Object(prog, "struct task_struct", address=task).read_()
    signal_struct = task_obj.signal.value_()
    nr_threads = None
    shared_signal = None
    shared_queue: list[SigQueued] = []
    if signal_struct:
        signal = task_obj.signal[0].read_()
        # signal_struct.count was the thread count until 2.6.35 (then nr_threads).
        for member in ("count", "nr_threads"):
            if signal.type_.has_member(member):
                counter = signal.member_(member)
                if counter.type_.kind == drgn.TypeKind.INT:
                    nr_threads = counter.value_()
                    break
        if signal.type_.has_member("shared_pending"):
            shared_signal = _sigset(signal.shared_pending.signal)
            shared_queue = _queue(prog, signal_struct + drgn.offsetof(
                signal.type_, "shared_pending") + drgn.offsetof(
                prog.type("struct sigpending"), "list"))

    actions = []
    sighand = task_obj.sighand.value_()
    if sighand:
        hand = task_obj.sighand[0].read_()
        action_off = drgn.offsetof(hand.type_, "action")
        size = drgn.sizeof(hand.action[0])
        for number in range(1, NSIG + 1):
            sa = hand.action[number - 1].sa
            actions.append(SigAction(
                signal=number,
                address=sighand + action_off + (number - 1) * size,
                handler=sa.sa_handler.value_(),
                mask=_sigset(sa.sa_mask),
                flags=sa.sa_flags.value_(),
            ))

    ti_flags = task_obj.thread_info.flags.value_() if task_obj.type_.has_member(
        "thread_info") else 0
    pending_list = task + drgn.offsetof(task_obj.type_, "pending") + drgn.offsetof(
        prog.type("struct sigpending"), "list")
    return TaskSignals(
        task=task,
        signal_struct=signal_struct,
        nr_threads=nr_threads,
        actions=actions,
        sigpending=bool(ti_flags >> TIF_SIGPENDING & 1),
        blocked=_sigset(task_obj.blocked),
        private_signal=_sigset(task_obj.pending.signal),
        private_queue=_queue(prog, pending_list),
        shared_signal=shared_signal,
        shared_queue=shared_queue,
    )
