"""Exceptions raised by the memory-access core.

Every failed read raises a :class:`FaultError` subclass that carries the address that
could not be read and a one-line reason; a file that cannot be understood raises
:class:`DumpFormatError`. Nothing in the core prints.
"""

from __future__ import annotations

__all__ = [
    "PycrashError",
    "DumpFormatError",
    "FaultError",
    "NotMappedError",
    "ExcludedPageError",
    "MissingPageError",
    "BeyondDumpError",
    "CorruptPageError",
    "FileOffsetError",
]


class PycrashError(Exception):
    """Base class of every error pycrash raises on purpose."""


class DumpFormatError(PycrashError):
    """A dump file is unreadable, truncated in its metadata, or garbled.

    Attributes:
        path: the file (or a description of it).
        offset: file offset where the problem was found, or None.
        reason: one-line description.
    """

    def __init__(self, path: object, offset: int | None, reason: str) -> None:
        self.path = str(path)
        self.offset = offset
        self.reason = reason
        where = f" at offset {offset:#x}" if offset is not None else ""
        super().__init__(f"{self.path}: {reason}{where}")


class FaultError(PycrashError):
    """A read that cannot be satisfied.

    Attributes:
        address: the (virtual or physical) address that failed.
        reason: one-line description of why.
        physical: True if ``address`` is a physical address.
    """

    kind = "fault"

    def __init__(self, address: int, reason: str, *, physical: bool = False) -> None:
        self.address = address
        self.reason = reason
        self.physical = physical
        space = "physical" if physical else "kernel virtual"
        super().__init__(f"{reason}: {space} address {address:#x}")

    def moved(self, address: int) -> FaultError:
        """Return a copy of this fault for another address in the same page (faults
        found per page report the first byte the caller actually asked for)."""
        if address == self.address:
            return self
        err = FaultError.__new__(type(self))
        err.__dict__.update(self.__dict__)
        FaultError.__init__(err, address, self.reason, physical=self.physical)
        return err

    def at_virtual(self, vaddr: int) -> FaultError:
        """Return a copy of a physical fault re-addressed to the virtual address that was
        being read (the physical address is kept in the reason)."""
        reason = f"{self.reason} (physical address {self.address:#x})"
        err = FaultError.__new__(type(self))
        err.__dict__.update(self.__dict__)
        FaultError.__init__(err, vaddr, reason, physical=False)
        err.paddr = self.address  # type: ignore[attr-defined]
        return err


class NotMappedError(FaultError):
    """A virtual address has no translation.

    Attributes:
        level: the page-table level whose entry was not present ("PML5", "PGD", "PUD",
            "PMD", "PTE"), or None when the address is outside every mapping (for example
            non-canonical).
    """

    kind = "not-mapped"

    def __init__(self, address: int, reason: str = "", *, level: str | None = None,
                 entries: list | None = None) -> None:
        self.level = level
        #: the page-table entries visited before the walk stopped (TableEntry list)
        self.entries = entries or []
        if not reason:
            reason = f"not mapped ({level} entry not present)" if level else "not mapped"
        super().__init__(address, reason, physical=False)


class ExcludedPageError(FaultError):
    """The page was filtered out of the dump by makedumpfile (``-d`` dump level)."""

    kind = "excluded"


class MissingPageError(FaultError):
    """The page belongs to the dump but its data was never written (incomplete or
    truncated dump)."""

    kind = "missing"


class BeyondDumpError(FaultError):
    """The physical address is not described by the dump at all: past the end of the
    dumped memory, or in a hole between memory ranges."""

    kind = "beyond"


class CorruptPageError(FaultError):
    """A stored page could not be decoded (bad compressed data or size).

    Attributes:
        offset: file offset of the stored page data.
    """

    kind = "corrupt"

    def __init__(self, address: int, reason: str, *, offset: int, physical: bool = True) -> None:
        self.offset = offset
        super().__init__(address, f"{reason} (page data at file offset {offset:#x})",
                         physical=physical)


class FileOffsetError(PycrashError):
    """A read of the dump file itself (a file offset, not memory) that runs past its end.

    Attributes:
        path: the file read.
        offset: the file offset the read started at.
        size: the number of bytes asked for.
        file_size: the size of the file.
    """

    def __init__(self, path: str, offset: int, size: int, file_size: int) -> None:
        self.path = path
        self.offset = offset
        self.size = size
        self.file_size = file_size
        super().__init__(f"{path}: {size} bytes at file offset {offset:#x} run past its end "
                         f"({file_size} bytes)")
