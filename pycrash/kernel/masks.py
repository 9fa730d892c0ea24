"""CPU and node masks read within their own bounds.

drgn's ``for_each_possible_cpu`` & co. test ``nr_cpu_ids`` bits of the mask (and
``for_each_online_node`` ``nr_node_ids``), reading past the array when the counter is larger
than the mask: a damaged ``nr_cpu_ids`` (say 65536 in a 64-CPU kernel) then turns whatever
memory follows ``__cpu_possible_mask`` into thousands of CPUs.  The kernel guarantees
``nr_cpu_ids <= NR_CPUS`` (setup_nr_cpu_ids(): the last possible CPU + 1) and
``nr_node_ids <= MAX_NUMNODES``, and the mask's array is exactly NR_CPUS (MAX_NUMNODES) bits
(``struct cpumask { unsigned long bits[BITS_TO_LONGS(NR_CPUS)]; }``, ``nodemask_t`` alike).
So these helpers read only the array, and use the counter only when it is within it; an
out-of-range counter is reported once.
"""

from __future__ import annotations

import sys
from typing import Any

from drgn import sizeof

__all__ = [
    "cpus_in_mask", "mask_bits", "online_cpus", "online_nodes", "possible_cpus", "present_cpus",
]

_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print(f"pycrash: WARNING: {message}", file=sys.stderr)


def _counter(prog: Any, name: str, limit: int) -> int:
    """``nr_cpu_ids`` / ``nr_node_ids``, or ``limit`` (the mask's size) when it is absent,
    unreadable or larger than the mask."""
    try:
        value = int(prog[name])
    except Exception:  # noqa: BLE001 - absent (!SMP) or unreadable: the mask's own size
        return limit
    if not 0 < value <= limit:
        _warn_once(f"{name} is {value}, outside 1..{limit} (the mask's size): ignored")
        return limit
    return value


def mask_bits(bits: Any, limit: int | None = None) -> list[int]:
    """The set bits of a ``unsigned long bits[]`` array Object, below ``limit``."""
    raw = bits.prog_.read(bits.address_, sizeof(bits))
    size = len(raw) * 8 if limit is None else min(limit, len(raw) * 8)
    value = int.from_bytes(raw, "little")
    return [bit for bit in range(size) if value >> bit & 1]


def cpus_in_mask(prog: Any, mask_name: str) -> list[int]:
    """The CPUs of the ``struct cpumask`` variable ``mask_name``; [0] if there is none."""
    try:
        bits = prog[mask_name].bits
    except KeyError:  # !CONFIG_SMP
        return [0]
    return mask_bits(bits, _counter(prog, "nr_cpu_ids", 8 * sizeof(bits)))


def possible_cpus(prog: Any) -> list[int]:
    """``for_each_possible_cpu``, bounded by NR_CPUS."""
    return cpus_in_mask(prog, "__cpu_possible_mask")


def present_cpus(prog: Any) -> list[int]:
    return cpus_in_mask(prog, "__cpu_present_mask")


def online_cpus(prog: Any) -> list[int]:
    return cpus_in_mask(prog, "__cpu_online_mask")


def online_nodes(prog: Any) -> list[int]:
    """``for_each_online_node``: ``node_states[N_ONLINE]``, bounded by MAX_NUMNODES."""
    try:
        states = prog["node_states"]
    except KeyError:  # !CONFIG_NUMA: node 0 only
        return [0]
    bits = states[prog.constant("N_ONLINE").value_()].bits
    return mask_bits(bits, _counter(prog, "nr_node_ids", 8 * sizeof(bits)))
