"""Interrupt descriptors, as crash's ``irq`` reads them (kernel.c ``get_irq_desc_addr``,
``generic_dump_irq``, ``generic_show_interrupts``, ``display_bh_4``).

Where the ``struct irq_desc`` of IRQ ``n`` lives (kernel/irq/irqdesc.c):

* ``irq_desc[NR_IRQS]``, a static array, without CONFIG_SPARSE_IRQ;
* ``irq_desc_tree``, a radix tree indexed by IRQ number, with CONFIG_SPARSE_IRQ until 6.4
  (an XArray since 4.20);
* ``sparse_irqs``, a maple tree, since 6.5 (commit 721255b9826b, "genirq: Use a maple tree
  for interrupt descriptor management").

``nr_irqs`` bounds the IRQ numbers.  Each descriptor has ``irq_data.chip`` (its
``struct irq_chip``, whose ``name`` is "IO-APIC", "PCI-MSI"...), ``name`` (the flow handler:
"edge", "fasteoi"), ``action`` (a NULL-terminated ``irqaction.next`` chain, one per
``request_irq()``, each with its ``name``) and ``kstat_irqs``, a per-CPU ``unsigned int``
counter (since 6.10 a ``struct irqstat`` whose first member ``cnt`` is that counter).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import drgn

from pycrash.kernel.native_helpers import per_cpu_ptr

__all__ = ["IrqDesc", "IrqError", "idt_handlers", "irq_descs", "nr_irqs", "softirq_actions"]

# Bound on an irqaction chain: a shared IRQ has a handful of actions, never thousands.
MAX_ACTIONS = 1024


class IrqError(Exception):
    """The dump lacks the interrupt descriptors (one line, crash's wording)."""


@dataclasses.dataclass
class IrqDesc:
    irq: int
    address: int  # struct irq_desc
    actions: list[tuple[int, str | None]]  # (struct irqaction, its name)
    chip: str | None  # irq_data.chip->name
    flow: str | None  # irq_desc.name
    counts: dict[int, int]  # cpu -> kstat_irqs
    affinity: list[int] | None = None  # the CPUs of its affinity mask (irq -a)


def nr_irqs(prog: drgn.Program) -> int:
    """crash's machdep->nr_irqs on x86_64: the length of ``irq_desc[]``, else ``nr_irqs``,
    else NR_IRQS (224 at least)."""
    try:
        array = prog["irq_desc"]
        if array.type_.length:
            return array.type_.length
    except KeyError:
        pass
    try:
        return prog["nr_irqs"].value_()
    except KeyError:
        return 224


def _string(prog: drgn.Program, address: int) -> str | None:
    if not address:
        return None
    try:
        return drgn.Object(prog, "char *", address).string_().decode("utf-8", "replace")
    except drgn.FaultError:
        return None


def _desc_addresses(prog: drgn.Program) -> Iterator[int]:
    """Every allocated ``struct irq_desc`` address."""
    try:
        array = prog["irq_desc"]
    except KeyError:
        array = None
    if array is not None:
        base = array.address_of_().value_()
        size = prog.type("struct irq_desc").size
        for i in range(array.type_.length or 0):
            yield base + i * size
        return
    try:
        tree = prog["irq_desc_tree"]
    except KeyError:
        tree = None
    if tree is not None:
        if tree.type_.has_member("xa_head"):
            from pycrash.kernel.xarray import xarray_entries

            yield from xarray_entries(tree)
        else:  # a radix tree before 4.20
            from drgn.helpers.linux.radixtree import radix_tree_for_each

            for _, entry in radix_tree_for_each(tree.address_of_()):
                yield entry.value_()
        return
    try:
        maple = prog["sparse_irqs"]
    except KeyError:
        raise IrqError("neither irq_desc, _irq_desc, irq_desc_ptrs, irq_desc_tree or "
                       "sparse_irqs symbols exist") from None
    from drgn.helpers.linux.mapletree import mt_for_each

    for _, _, entry in mt_for_each(maple.address_of_()):
        yield entry.value_()


def _actions(prog: drgn.Program, first: int) -> list[tuple[int, str | None]]:
    """The ``irqaction.next`` chain from ``first``: NULL-terminated, and not at offset 0 of
    its structure, so walked here with its own bound and loop check."""
    action_type = prog.type("struct irqaction")
    next_offset = drgn.offsetof(action_type, "next")
    name_offset = drgn.offsetof(action_type, "name")
    actions: list[tuple[int, str | None]] = []
    seen: set[int] = set()
    action = first
    while action and action not in seen and len(actions) < MAX_ACTIONS:
        seen.add(action)
        try:
            name = _string(prog, prog.read_u64(action + name_offset))
            actions.append((action, name))
            action = prog.read_u64(action + next_offset)
        except drgn.FaultError:
            break
    return actions


def _affinity(desc: drgn.Object, ncpus: int) -> list[int] | None:
    """The CPUs in the descriptor's affinity mask, below ``ncpus``:
    ``irq_common_data.affinity`` since 4.8, ``irq_data.affinity`` before, a
    ``cpumask_var_t`` (a pointer with CONFIG_CPUMASK_OFFSTACK, else a one-element array)."""
    from pycrash.kernel.masks import mask_bits

    for holder in ("irq_common_data", "irq_data"):
        if desc.type_.type.has_member(holder) and \
                getattr(desc, holder).type_.has_member("affinity"):
            mask = getattr(desc, holder).affinity
            break
    else:
        return None
    if mask.type_.unaliased_kind() in (drgn.TypeKind.POINTER, drgn.TypeKind.ARRAY):
        mask = mask[0]
    return mask_bits(mask.bits, ncpus)


def irq_descs(prog: drgn.Program, cpus: list[int], ncpus: int = 0) -> dict[int, IrqDesc]:
    """IRQ number -> its descriptor, with the counts of ``cpus`` (and, when ``ncpus`` is
    given, its affinity among the first ``ncpus`` CPUs)."""
    result: dict[int, IrqDesc] = {}
    for address in _desc_addresses(prog):
        desc = drgn.Object(prog, "struct irq_desc *", address)
        try:
            irq = desc.irq_data.irq.value_()
            chip = desc.irq_data.chip.value_()
            counts: dict[int, int] = {}
            if desc.kstat_irqs.value_():
                for cpu in cpus:
                    counts[cpu] = prog.read_u32(per_cpu_ptr(desc.kstat_irqs, cpu).value_())
            result[irq] = IrqDesc(
                irq=irq, address=address, actions=_actions(prog, desc.action.value_()),
                chip=_string(prog, prog.read_u64(chip + drgn.offsetof(
                    prog.type("struct irq_chip"), "name"))) if chip else None,
                flow=_string(prog, desc.name.value_()) if desc.type_.type.has_member("name")
                else None,
                counts=counts,
                affinity=_affinity(desc, ncpus) if ncpus else None,
            )
        except drgn.FaultError:
            continue
    return result


def softirq_actions(prog: drgn.Program) -> list[tuple[int, int]]:
    """(index, action function) of each set entry of ``softirq_vec[NR_SOFTIRQS]``."""
    try:
        vec = prog["softirq_vec"]
    except KeyError:
        raise IrqError("bottom-half option not supported") from None
    return [(i, vec[i].action.value_()) for i in range(vec.type_.length or 0)
            if vec[i].action.value_()]


def idt_handlers(prog: drgn.Program) -> list[int]:
    """The handler address of each of the 256 x86-64 IDT gates in ``idt_table``.

    A 16-byte ``struct gate_struct`` (arch/x86/include/asm/desc_defs.h) splits the address
    into ``offset_low`` (bits 0-15, bytes 0-1), ``offset_middle`` (bits 16-31, bytes 6-7)
    and ``offset_high`` (bits 32-63, bytes 8-11)."""
    try:
        size = prog.type("struct gate_struct").size
        table = prog.symbol("idt_table").address
    except LookupError:
        raise IrqError("-d option not supported or applicable on this architecture or "
                       "kernel") from None
    raw = prog.read(table, size * 256)
    handlers = []
    for i in range(256):
        low = int.from_bytes(raw[i * size:i * size + 8], "little")
        high = int.from_bytes(raw[i * size + 8:i * size + 16], "little")
        handlers.append((high << 32 & 0xFFFFFFFF00000000) | (low & 0xFFFF)
                        | (low >> 32 & 0xFFFF0000))
    return handlers
