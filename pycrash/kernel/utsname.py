"""
utsname
-------

The kernel's identity strings (``uname -a``): ``init_uts_ns.name``, a ``struct new_utsname``
of six ``char[65]`` fields.  VMCOREINFO exports ``SYMBOL(init_uts_ns)`` and
``OFFSET(uts_namespace.name)``, so this needs no vmlinux.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ("UtsName", "init_utsname")

# struct new_utsname (include/uapi/linux/utsname.h): six char[__NEW_UTS_LEN + 1] arrays.
_NEW_UTS_FIELD = 65
_FIELDS = ("sysname", "nodename", "release", "version", "machine", "domainname")


@dataclasses.dataclass(frozen=True)
class UtsName:
    """``struct new_utsname`` decoded (each field up to its first NUL)."""

    sysname: str
    nodename: str
    release: str
    version: str
    machine: str
    domainname: str


def init_utsname(session: Any) -> UtsName:
    """The initial UTS namespace's names (what crash shows as NODENAME, RELEASE, ...)."""
    vmcoreinfo = session.dump.vmcoreinfo
    base = vmcoreinfo.symbol("init_uts_ns")
    name_offset = vmcoreinfo.offset("uts_namespace.name")
    if base is None and getattr(session, "has_debuginfo", False):
        base = session.symbol_address("init_uts_ns")
    if base is None:
        raise LookupError("cannot find init_uts_ns")
    if name_offset is None:
        if getattr(session, "has_debuginfo", False):
            import drgn

            name_offset = drgn.offsetof(session.prog.type("struct uts_namespace"), "name")
        else:
            raise LookupError("VMCOREINFO has no OFFSET(uts_namespace.name)")
    raw = session.dump.read(base + name_offset, _NEW_UTS_FIELD * len(_FIELDS))
    values = [
        raw[i * _NEW_UTS_FIELD: (i + 1) * _NEW_UTS_FIELD].split(b"\0", 1)[0]
        .decode("utf-8", "replace")
        for i in range(len(_FIELDS))
    ]
    return UtsName(*values)
