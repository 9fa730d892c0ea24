"""The named types declared at the top level of each DWARF compilation unit of an ELF file.

drgn 0.3.0 finds a type by name but cannot list them, and walking every DIE of a vmlinux in
Python (pyelftools) takes minutes.  The types crash's ``whatis -r``/``-m`` lists are gdb's
``LOC_TYPEDEF`` symbols of each CU's global and static blocks: the struct, union and enum tags,
typedefs and base types declared directly under ``DW_TAG_compile_unit``.  So this reader visits
only those top-level DIEs and jumps over everything below them with ``DW_AT_sibling`` (which gcc
writes on every DIE that has children and a next sibling), parsing children only when it is
absent.  Each abbreviation is compiled once into fixed attribute offsets when its forms all have
a fixed size, so most DIEs cost one table lookup.

Abbreviations are shared between the units whose tables repeat them byte for byte.  On the
sample 6.1 vmlinux (41 MB of .debug_info in 1,000 units) the walk takes about 2 s of CPU, the
member names of every struct and union (:meth:`TypeTable.member_type_names`) 1 s more
(``bench/type_index.py``).  The same walk lists the type names the shell completes
(:meth:`TypeTable.type_names`); :meth:`TypeTable.in_steps` does it one unit at a time so that a
background thread can give way to a running command.

DWARF 2 to 5 compile and type units are read, 32- and 64-bit, from a vmlinux or a relocatable
``.ko`` (its ``.rela.debug_info`` applied), with compressed sections decompressed by
:mod:`pycrash.elfsections`.  Only the ELF file is read here, never a dump.

Modules: ``encoding`` (DWARF numbers, LEB128, form sizes), ``abbrev`` (compiled abbreviation
tables), ``reader`` (the walk over units), ``typetable`` (:class:`TypeTable`: the types and the
names of their fields' types).
"""

from __future__ import annotations

from pycrash.dwarf.encoding import KINDS
from pycrash.dwarf.reader import DwarfError
from pycrash.dwarf.typetable import NAME_KINDS, NamedType, TypeTable, named_types

__all__ = ["KINDS", "NAME_KINDS", "DwarfError", "NamedType", "TypeTable", "named_types"]
