"""drgn's C-implemented Linux helpers, imported without the ``drgn.helpers.linux`` package.

Importing any ``drgn.helpers.linux.X`` runs that package's ``__init__``, which imports every
helper module (about 0.1 s, a fifth of a ``pycrash -c ps`` run).  The helpers here are the
very functions those modules re-export from libdrgn (``drgn/helpers/linux/percpu.py`` and
``sched.py`` in drgn 0.3.0), taken from ``_drgn`` directly; with a drgn that no longer has
them there, the public modules are used instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drgn import IntegerLike, Object, Program

try:
    from _drgn import _linux_helper_idle_task as _idle_task
    from _drgn import _linux_helper_per_cpu_ptr as per_cpu_ptr
    from _drgn import _linux_helper_task_cpu as task_cpu
except ImportError:  # pragma: no cover - another drgn layout
    from drgn.helpers.linux.percpu import per_cpu_ptr
    from drgn.helpers.linux.sched import idle_task as _idle_task
    from drgn.helpers.linux.sched import task_cpu

__all__ = ["idle_task", "per_cpu", "per_cpu_ptr", "task_cpu"]


def per_cpu(var: Object, cpu: IntegerLike) -> Object:
    """The per-CPU variable ``var`` (a ``type __percpu``, not a pointer) of CPU ``cpu``:
    the kernel's ``per_cpu(var, cpu)``, ``*(&var + __per_cpu_offset[cpu])``."""
    return per_cpu_ptr(var.address_of_(), cpu)[0]


def idle_task(prog: Program, cpu: IntegerLike) -> Object:
    """``struct task_struct *`` of CPU ``cpu``'s idle thread (PID 0, "swapper/N")."""
    return _idle_task(prog, cpu)
