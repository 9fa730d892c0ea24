"""crash's one-line ``readmem()`` error messages for pycrash's core faults.

crash names the address space and the read that failed, e.g.
``seek error: kernel virtual address: ffffffffff000000  type: "64-bit KVADDR"``.
"""

from __future__ import annotations

from pycrash.core.errors import ExcludedPageError, FaultError, NotMappedError

__all__ = ["readmem_error"]

_SPACES = {"KVADDR": "kernel virtual", "UVADDR": "user virtual", "PHYSADDR": "physical"}


def readmem_error(err: BaseException, address: int, memtype: str, readtype: str, *,
                  exact: bool = False) -> str:
    """The message crash prints when reading ``address`` (a ``memtype`` address: KVADDR,
    UVADDR or PHYSADDR) for ``readtype`` failed with the core fault ``err``.

    The fault's own address is shown unless ``exact`` (e.g. a user address read through its
    physical page: crash names the user address)."""
    cause: BaseException | None = err
    if not isinstance(cause, FaultError):
        cause = err.__cause__ or err.__context__
    where = None if exact else getattr(err, "address", None)
    if not isinstance(where, int):
        where = address
    space = _SPACES.get(memtype, "kernel virtual")
    if isinstance(cause, NotMappedError):
        kind = "user" if memtype == "UVADDR" else "kernel"
        return f'invalid {kind} virtual address: {where:x}  type: "{readtype}"'
    if isinstance(cause, ExcludedPageError):
        return f'page excluded: {space} address: {where:x}  type: "{readtype}"'
    return f'seek error: {space} address: {where:x}  type: "{readtype}"'
