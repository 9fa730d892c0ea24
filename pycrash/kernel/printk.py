"""
printk log buffer
-----------------

Reads the kernel log (what ``dmesg`` shows) from a dump, in either layout the kernel has used:

* the lockless ring buffer (Linux 5.10+, ``kernel/printk/printk_ringbuffer.c``): the pointer
  ``prb`` leads to a ``struct printk_ringbuffer`` whose descriptor ring (``descs`` + ``infos``
  arrays) indexes a text data ring;
* the structured variable-length records of Linux 3.5 - 5.9 (``struct printk_log``, named
  ``struct log`` before 3.11) packed back to back in ``log_buf`` from ``log_first_idx`` to
  ``log_next_idx``;
* before 3.5, a plain character ring ``log_buf[log_buf_len]`` written up to ``log_end``, with
  ``<N>`` level prefixes in the text (:func:`plain_log_text`).

Which one is decided by what the dump exports (``SYMBOL(prb)`` versus
``SYMBOL(log_first_idx)``), in :func:`printk_layout` only.  Every offset and size comes from
VMCOREINFO (the kernel exports all of them for dump tools, ``log_buf_vmcoreinfo_setup()`` in
``kernel/printk/printk.c``), falling back to the vmlinux DWARF only when a key is missing, so
the log of a dump can be read without any debuginfo.  All bytes are read through
``session.dump`` with kernel virtual addresses.

The walk reproduces crash 8.0.6 (``printk.c`` ``dump_lockless_record_log`` and ``kernel.c``
``dump_variable_length_record_log``), including what it does with data-less and truncated
records, so that ``log`` prints exactly what crash prints.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Iterator
from typing import Any

from pycrash.core.errors import PycrashError
from pycrash.elfsections import find_section

__all__ = (
    "PrintkError",
    "PrintkRecord",
    "audit_backlog",
    "crash_log_line",
    "crash_log_text",
    "crash_panic_message",
    "get_printk_records",
    "printk_layout",
    "plain_log_text",
    "printk_safe_text",
)


class PrintkError(PycrashError):
    """The log buffer cannot be found or read (one line, crash's wording where it has one)."""


@dataclasses.dataclass(frozen=True)
class PrintkRecord:
    """One record of the kernel log."""

    #: Sequence number (``printk_info.seq``); for the 3.5-5.9 layout, counted from
    #: ``log_first_seq``.
    seq: int
    #: Timestamp in nanoseconds since boot (``local_clock()`` at printk time).
    ts_nsec: int
    #: Syslog level 0 (KERN_EMERG) - 7 (KERN_DEBUG).
    level: int
    #: Syslog facility: 0 kernel, 1 user (``/dev/kmsg`` writes).
    facility: int
    #: Internal record flags (``LOG_NEWLINE`` 2, ``LOG_CONT`` 8).
    flags: int
    #: Raw ``caller_id``: bit 31 set means a CPU number, else a thread id; None when the
    #: kernel does not record it (3.5-5.9 without ``CONFIG_PRINTK_CALLER``).
    caller_id: int | None
    #: The message bytes (no trailing newline; may contain embedded newlines).
    text: bytes
    #: Dictionary entries as stored, ``KEY=value`` each (``SUBSYSTEM=``/``DEVICE=`` from
    #: ``dev_printk_info`` on 5.10+, the NUL-separated dict on 3.5-5.9).
    dict_entries: tuple[bytes, ...] = ()
    #: True when the record has no data block (crash prints just an empty line for it).
    dataless: bool = False
    #: 3.5-5.9 only: the record's ``dict_len`` (crash's ``-d`` tests it with a bitwise AND).
    dict_len: int | None = None
    #: 3.5-5.9 only: the level crash 8.0.6's ``log -m`` shows, when it differs in how it is
    #: read: crash takes the byte holding the ``level:3`` bit-field and keeps its low three
    #: bits (``LOG_LEVEL()``), which on 3.11+ are the low bits of ``flags``.
    crash_level: int | None = None

    @property
    def caller(self) -> str | None:
        """``T<pid>`` or ``C<cpu>`` as printk's ``PRINTK_CALLER`` shows it."""
        if self.caller_id is None:
            return None
        kind = "C" if self.caller_id & 0x80000000 else "T"
        return f"{kind}{self.caller_id & 0x7FFFFFFF}"

    @property
    def dict(self) -> dict[str, str]:
        """The dictionary entries as a mapping."""
        result: dict[str, str] = {}
        for entry in self.dict_entries:
            key, _, value = entry.decode("utf-8", "backslashreplace").partition("=")
            if key:
                result[key] = value
        return result


# -- layout -------------------------------------------------------------------------------


class _Layout:
    """Offsets and sizes of the printk structures, from VMCOREINFO first, then DWARF.

    ``get("OFFSET", "printk_info.seq")`` is VMCOREINFO's ``OFFSET(printk_info.seq)``; when a
    key is missing and the session has debuginfo, the same figure is taken from the types.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.vmcoreinfo = session.dump.vmcoreinfo

    def symbol(self, name: str) -> int | None:
        value = self.vmcoreinfo.symbol(name)
        if value is None and _has_debuginfo(self.session):
            value = self.session.symbol_address(name)
        return value

    def offset(self, member: str) -> int:
        value = self.vmcoreinfo.offset(member)
        if value is None:
            value = self._from_types("OFFSET", member)
        return value

    def size(self, name: str) -> int:
        value = self.vmcoreinfo.size(name)
        if value is None:
            value = self._from_types("SIZE", name)
        return value

    def optional_offset(self, member: str) -> int | None:
        try:
            return self.offset(member)
        except PrintkError:
            return None

    def _from_types(self, kind: str, name: str) -> int:
        if not _has_debuginfo(self.session):
            raise PrintkError(f"VMCOREINFO has no {kind}({name}) and there is no vmlinux")
        import drgn

        prog = self.session.prog
        try:
            if kind == "SIZE":
                return drgn.sizeof(prog.type(_struct_name(name)))
            struct_name, _, member = name.partition(".")
            return drgn.offsetof(prog.type(_struct_name(struct_name)), member)
        except (LookupError, ValueError) as exc:
            raise PrintkError(f"log buf data structure(s) have changed: {exc}") from None


def _struct_name(name: str) -> str:
    # VMCOREINFO names structs bare; atomic_long_t is a typedef.
    return name if name.endswith("_t") else f"struct {name}"


def _has_debuginfo(session: Any) -> bool:
    return bool(getattr(session, "has_debuginfo", False))


def printk_layout(session: Any) -> str:
    """Which log buffer the dump has: ``"lockless"`` (5.10+), ``"structured"`` (3.5-5.9).

    Decided by the symbols the kernel exports, as crash does: ``prb`` exists only with the
    lockless ring buffer, ``log_first_idx``/``log_next_idx`` only with ``struct printk_log``.
    """
    layout = _Layout(session)
    if layout.symbol("prb") is not None:
        return "lockless"
    if layout.symbol("log_first_idx") is not None and layout.symbol("log_next_idx") is not None:
        return "structured"
    if layout.symbol("log_buf") is not None and layout.symbol("log_end") is not None:
        return "plain"
    raise PrintkError("cannot find the printk log buffer (no prb, no log_first_idx)")


def get_printk_records(session: Any) -> list[PrintkRecord]:
    """All records of the kernel log, oldest first, as crash walks them.

    Records the walk skips (reserved or reused descriptors) are absent; data-less records
    are present with ``dataless=True``.
    """
    kind = printk_layout(session)
    layout = _Layout(session)
    if kind == "lockless":
        return list(_lockless_records(session, layout))
    if kind == "plain":
        # no records before 3.5: one text-only record per line of the character ring
        return [PrintkRecord(seq=seq, ts_nsec=0, level=0, facility=0, flags=0, caller_id=None,
                             text=line.encode("latin-1"))
                for seq, line in enumerate(plain_log_text(session).splitlines())]
    return list(_structured_records(session, layout))


def plain_log_text(session: Any, *, show_level: bool = False) -> str:
    """The pre-3.5 character ring as crash prints it (``kernel.c`` ``dump_log``).

    Oldest text first (from ``log_end`` when the ring has wrapped), NUL bytes dropped,
    non-ASCII bytes as ``.``, and the ``<N>`` level prefix at the start of each line removed
    unless ``show_level``; ends with a newline.
    """
    layout = _Layout(session)
    log_buf_pointer = layout.symbol("log_buf")
    log_end_address = layout.symbol("log_end")
    length_address = layout.symbol("log_buf_len")
    if log_buf_pointer is None or log_end_address is None or length_address is None:
        raise PrintkError("cannot determine length of log_buf")
    log_buf = _u64(_read(session, log_buf_pointer, 8, "log_buf"), 0)
    length = _u32(_read(session, length_address, 4, "log_buf_len"), 0)
    # log_end is an unsigned int since 2.6.25 (an unsigned long before)
    log_end = _u32(_read(session, log_end_address, 4, "log_end"), 0)
    buf = _read(session, log_buf, length, "log_buf contents")
    index = 0 if log_end < length else log_end & (length - 1)
    in_level = log_end < length and index == 0 and buf[:1] == b"<"
    order = buf[index:] + buf[:index]
    out: list[str] = []
    last = 0
    for byte in order:
        if in_level and not show_level:
            if byte in b"<01234567":
                continue
            in_level = False
            if byte == 0x3E:  # '>' closes the prefix
                continue
        if byte:
            out.append(chr(byte) if byte < 0x80 else ".")
            in_level = byte == 0x0A
            last = byte
    if last != 0x0A:
        out.append("\n")
    return "".join(out)


def _read(session: Any, address: int, size: int, what: str) -> bytes:
    try:
        return session.dump.read(address, size)
    except PycrashError as exc:
        raise PrintkError(f"cannot read {what}: {exc}") from None


def _u64(data: bytes, offset: int) -> int:
    return struct.unpack_from("<Q", data, offset)[0]


def _u32(data: bytes, offset: int) -> int:
    return struct.unpack_from("<I", data, offset)[0]


def _u16(data: bytes, offset: int) -> int:
    return struct.unpack_from("<H", data, offset)[0]


def _cstring(data: bytes) -> bytes:
    return data.split(b"\0", 1)[0]


# -- lockless ring buffer (5.10+) ---------------------------------------------------------

# prb_desc.state_var: the top two bits of an unsigned long are the state, the rest the id
# (DESC_FLAGS_SHIFT, kernel/printk/printk_ringbuffer.h).
_DESC_FLAGS_SHIFT = 62
_DESC_ID_MASK = (1 << _DESC_FLAGS_SHIFT) - 1
_DESC_COMMITTED = 1
_DESC_FINALIZED = 2
_ULONG_SIZE = 8


def _lockless_records(session: Any, layout: _Layout) -> Iterator[PrintkRecord]:
    prb_pointer = layout.symbol("prb")
    assert prb_pointer is not None
    atomic_counter = layout.offset("atomic_long_t.counter")
    # prb points at printk_rb_static or at the buffer setup_log_buf() allocated for a
    # log_buf_len= boot option.
    prb_address = _u64(_read(session, prb_pointer, 8, "prb"), 0)
    prb = _read(session, prb_address, layout.size("printk_ringbuffer"),
                "printk_ringbuffer contents")

    desc_ring = layout.offset("printk_ringbuffer.desc_ring")
    count = 1 << _u32(prb, desc_ring + layout.offset("prb_desc_ring.count_bits"))
    desc_size = layout.size("prb_desc")
    info_size = layout.size("printk_info")
    descs = _read(session, _u64(prb, desc_ring + layout.offset("prb_desc_ring.descs")),
                  desc_size * count, "prb_desc_ring contents")
    infos = _read(session, _u64(prb, desc_ring + layout.offset("prb_desc_ring.infos")),
                  info_size * count, "prb_info_ring contents")

    text_ring = layout.offset("printk_ringbuffer.text_data_ring")
    text_size = 1 << _u32(prb, text_ring + layout.offset("prb_data_ring.size_bits"))
    text_data = _read(session, _u64(prb, text_ring + layout.offset("prb_data_ring.data")),
                      text_size, "prb_text_data_ring contents")

    head_id = _u64(prb, desc_ring + layout.offset("prb_desc_ring.head_id") + atomic_counter)
    tail_id = _u64(prb, desc_ring + layout.offset("prb_desc_ring.tail_id") + atomic_counter)

    state_var = layout.offset("prb_desc.state_var") + atomic_counter
    blk_lpos = layout.offset("prb_desc.text_blk_lpos")
    lpos_begin = blk_lpos + layout.offset("prb_data_blk_lpos.begin")
    lpos_next = blk_lpos + layout.offset("prb_data_blk_lpos.next")
    info_seq = layout.offset("printk_info.seq")
    info_ts = layout.offset("printk_info.ts_nsec")
    info_text_len = layout.offset("printk_info.text_len")
    info_caller = layout.offset("printk_info.caller_id")
    dev_info = layout.offset("printk_info.dev_info")
    subsystem = dev_info + layout.offset("dev_printk_info.subsystem")
    device = dev_info + layout.offset("dev_printk_info.device")
    subsystem_len = layout.vmcoreinfo.length("printk_info_subsystem") or (device - subsystem)
    device_len = layout.vmcoreinfo.length("printk_info_device") or (info_size - device)
    # struct printk_info: u16 text_len; u8 facility; u8 flags:5, level:3 (not exported in
    # VMCOREINFO: they follow text_len in every lockless kernel).
    info_facility = info_text_len + 2
    info_flags_level = info_text_len + 3

    def record(desc_id: int) -> PrintkRecord | None:
        index = desc_id % count
        desc = index * desc_size
        state_value = _u64(descs, desc + state_var)
        if state_value & _DESC_ID_MASK != desc_id:
            return None  # desc_miss: the slot was reused
        if state_value >> _DESC_FLAGS_SHIFT not in (_DESC_COMMITTED, _DESC_FINALIZED):
            return None
        info = index * info_size
        flags_level = infos[info + info_flags_level]
        entries = tuple(
            entry
            for entry in (
                b"SUBSYSTEM=" + _cstring(infos[info + subsystem: info + subsystem + subsystem_len]),
                b"DEVICE=" + _cstring(infos[info + device: info + device + device_len]),
            )
            if not entry.endswith(b"=")
        )
        common = dict(
            seq=_u64(infos, info + info_seq),
            ts_nsec=_u64(infos, info + info_ts),
            level=flags_level >> 5,
            facility=infos[info + info_facility],
            flags=flags_level & 0x1F,
            caller_id=_u32(infos, info + info_caller),
            dict_entries=entries,
        )
        # crash compares the positions modulo the ring size: equal means no data block
        # (FAILED_LPOS / NO_LPOS are 1 and 3 in both begin and next).
        begin = _u64(descs, desc + lpos_begin) % text_size
        next_ = _u64(descs, desc + lpos_next) % text_size
        if begin == next_:
            return PrintkRecord(text=b"", dataless=True, **common)
        if begin > next_:
            begin = 0  # the block wrapped: it was written at the start of the ring
        begin += _ULONG_SIZE  # each data block starts with its descriptor id
        text_len = _u16(infos, info + info_text_len)
        if next_ - begin < text_len:
            text_len = max(next_ - begin, 0)  # truncated record
        return PrintkRecord(text=text_data[begin: begin + text_len], **common)

    # A sane ring holds at most ``count`` descriptors from tail to head; garbage ids would
    # make the walk run for up to 2**62 steps.
    if (head_id - tail_id) & _DESC_ID_MASK >= count:
        raise PrintkError(f"corrupt printk descriptor ring: tail_id {tail_id:#x}, "
                          f"head_id {head_id:#x}, {count} descriptors")
    desc_id = tail_id
    while True:
        rec = record(desc_id)
        if rec is not None:
            yield rec
        if desc_id == head_id:
            break
        desc_id = (desc_id + 1) & _DESC_ID_MASK


# -- structured records (3.5 - 5.9) -------------------------------------------------------


def _structured_records(session: Any, layout: _Layout) -> Iterator[PrintkRecord]:
    def symbol_u32(name: str) -> int:
        address = layout.symbol(name)
        if address is None:
            raise PrintkError(f"cannot find {name}")
        return _u32(_read(session, address, 4, name), 0)

    # 3.11 renamed struct log to struct printk_log (commit 62e32ac3505a).
    struct_name = "printk_log" if layout.vmcoreinfo.size("printk_log") is not None else "log"
    if struct_name == "log" and _has_debuginfo(session):
        try:
            session.prog.type("struct printk_log")
            struct_name = "printk_log"
        except LookupError:
            pass
    header_size = layout.size(struct_name)
    ts_off = layout.offset(f"{struct_name}.ts_nsec")
    len_off = layout.offset(f"{struct_name}.len")
    text_len_off = layout.offset(f"{struct_name}.text_len")
    dict_len_off = layout.offset(f"{struct_name}.dict_len")
    caller_off = layout.optional_offset(f"{struct_name}.caller_id")
    level_of = _structured_level_reader(session, struct_name, dict_len_off)

    log_buf_pointer = layout.symbol("log_buf")
    if log_buf_pointer is None:
        raise PrintkError("cannot find log_buf")
    log_buf = _u64(_read(session, log_buf_pointer, 8, "log_buf"), 0)
    log_buf_len = symbol_u32("log_buf_len")
    first_idx = symbol_u32("log_first_idx")
    next_idx = symbol_u32("log_next_idx")
    first_seq_address = layout.symbol("log_first_seq")
    seq = _u64(_read(session, first_seq_address, 8, "log_first_seq"), 0) \
        if first_seq_address is not None else 0
    buf = _read(session, log_buf, log_buf_len, "log_buf contents")

    def record_at(idx: int) -> int:
        # A record with len == 0 marks the end of the buffer: the next record is at 0.
        return 0 if _u16(buf, idx + len_off) == 0 else idx

    seen: set[int] = set()
    idx = first_idx
    while idx != next_idx:
        if idx + header_size > log_buf_len:
            raise PrintkError("invalid log_buf entry encountered")
        at = record_at(idx)
        if at in seen:
            raise PrintkError("duplicate log_buf message pointer")
        seen.add(at)
        text_len = _u16(buf, at + text_len_off)
        dict_len = _u16(buf, at + dict_len_off)
        text_start = at + header_size
        raw_dict = buf[text_start + text_len: text_start + text_len + dict_len]
        level, facility, flags, crash_level = level_of(buf, at)
        yield PrintkRecord(
            seq=seq,
            ts_nsec=_u64(buf, at + ts_off),
            level=level,
            facility=facility,
            flags=flags,
            caller_id=_u32(buf, at + caller_off) if caller_off is not None else None,
            text=buf[text_start: text_start + text_len],
            dict_entries=tuple(raw_dict.split(b"\0")) if dict_len else (),
            dict_len=dict_len,
            crash_level=crash_level,
        )
        seq += 1
        length = _u16(buf, idx + len_off)
        idx = _u16(buf, len_off) if length == 0 else idx + length
        if idx >= log_buf_len:
            if first_idx > next_idx:
                idx = 0
            else:
                raise PrintkError("invalid log_buf entry encountered")


def _structured_level_reader(
    session: Any, struct_name: str, dict_len_off: int
) -> Callable[[bytes, int], tuple[int, int, int, int]]:
    """(level, facility, flags, crash's -m level) of a structured record.

    3.11+: ``u8 facility; u8 flags:5; u8 level:3`` right after ``dict_len``; 3.5-3.10:
    ``u16 level`` holding facility, flags and level (``LOG_LEVEL()`` = low 3 bits).
    """
    u16_level = False
    if _has_debuginfo(session):
        try:
            member = session.prog.type(f"struct {struct_name}").member("level")
            u16_level = member.bit_field_size is None and member.type.size == 2
        except LookupError:
            pass
    facility_off = dict_len_off + 2
    if u16_level:
        def read_u16(buf: bytes, at: int) -> tuple[int, int, int, int]:
            value = _u16(buf, at + facility_off)
            return value & 7, value >> 8, (value >> 3) & 0x1F, value & 7

        return read_u16

    def read_bitfield(buf: bytes, at: int) -> tuple[int, int, int, int]:
        flags_level = buf[at + facility_off + 1]
        # crash: UCHAR(record + OFFSET(log_level)) & 7, the offset of a bit-field being the
        # byte that holds it (gdb bitpos / 8)
        return flags_level >> 5, buf[at + facility_off], flags_level & 0x1F, flags_level & 7

    return read_bitfield


# -- crash's text rendering -----------------------------------------------------------------


def _printable(byte: int) -> bool:
    """C ``isprint() || isspace()`` in the C locale (bytes >= 0x80 are neither)."""
    return 0x20 <= byte <= 0x7E or 0x09 <= byte <= 0x0D


# Byte maps for the text (isprint || isspace kept, "\n" kept for the indentation) and for
# dictionary entries (isprint only); everything else becomes ".".
_TEXT_BYTES = bytes(b if _printable(b) else 0x2E for b in range(256))
_DICT_BYTES = bytes(b if 0x20 <= b <= 0x7E else 0x2E for b in range(256))


def crash_log_line(
    record: PrintkRecord,
    *,
    show_time: bool = True,
    ctime: Callable[[int], str] | None = None,
    caller_width: int | None = None,
    show_level: bool = False,
    show_dict: bool = False,
) -> str:
    """One record as crash 8.0.6's ``log`` prints it, with its final newline.

    ``show_time=False`` is ``-t``; ``ctime`` (seconds since boot -> date text) is ``-T``;
    ``caller_width`` (the ``%*s`` width crash derives from ``pid_max``) is ``-c``;
    ``show_level`` is ``-m``; ``show_dict`` is ``-d``.  Embedded newlines continue on a new
    line indented by the prefix width; other non-printable bytes become ``.``.
    """
    if record.dataless:
        return "\n"  # crash skips records without a data block before any prefix
    prefix = ""
    if show_time:
        seconds, nanos = divmod(record.ts_nsec, 1_000_000_000)
        if ctime is not None:
            prefix = f"[{ctime(seconds)}] "
        else:
            prefix = f"[{seconds:5d}.{nanos // 1000:06d}] "
    if caller_width is not None and record.caller is not None:
        prefix += f"[{record.caller:>{caller_width}}] "
    if show_level:
        level = record.level if record.crash_level is None else record.crash_level
        prefix += f"<{level:x}>"
    indent = "\n" + " " * len(prefix)
    parts = [prefix, record.text.translate(_TEXT_BYTES).decode("ascii").replace("\n", indent)]
    # crash 8.0.6 prints a 3.5-5.9 dict only when ``dict_len & SHOW_LOG_DICT`` (2) is
    # non-zero (kernel.c dump_log_entry); reproduced so the output stays identical.
    if show_dict and (record.dict_len is None or record.dict_len & 2):
        for entry in record.dict_entries:
            parts.append(indent + entry.translate(_DICT_BYTES).decode("ascii"))
    parts.append("\n")
    return "".join(parts)


def crash_log_text(records: list[PrintkRecord]) -> str:
    """The log as ``dump_log(SHOW_LOG_TEXT)`` writes it: what crash searches for messages."""
    return "".join(crash_log_line(record, show_time=False) for record in records)


# crash 8.0.6 task.c panic_msg[]: searched in this order, each over the whole log.
_PANIC_MESSAGES = (
    "SysRq : Crash",
    "SysRq : Trigger a crash",
    "SysRq : Netdump",
    "Kernel panic: ",
    "Kernel panic - ",
    "Kernel BUG at",
    "kernel BUG at",
    "Unable to handle kernel paging request",
    "Unable to handle kernel NULL pointer dereference",
    "BUG: unable to handle kernel ",
    "general protection fault: ",
    "double fault: ",
    "divide error: ",
    "stack segment: ",
    "[Hardware Error]: ",
    "Bad mode in ",
    "Oops: ",
)

# crash 8.0.6 task.c panic_keywords[]: the fallback, first line containing any of them.
_PANIC_KEYWORDS = (
    "Unable to handle kernel",
    "BUG: unable to handle kernel",
    "Kernel BUG at",
    "kernel BUG at",
    "Bad mode in",
    "Oops",
    "Kernel panic",
)


def crash_panic_message(records: list[PrintkRecord]) -> str:
    """The panic message as crash's ``get_panicmsg()`` finds it in the log ("" if none).

    crash scans the text-only log for each of its known panic strings in turn (so a
    "Kernel panic - " line wins over an earlier "Oops: " line), then falls back to the first
    line holding a panic keyword.  The line is returned without its newline.
    """
    lines = crash_log_text(records).splitlines()
    for message in _PANIC_MESSAGES:
        for line in lines:
            if message in line:
                return line
    for line in lines:
        if any(keyword in line for keyword in _PANIC_KEYWORDS):
            return line
    return ""


# -- side buffers: printk_safe (4.11-5.14) and the audit backlog ---------------------------


def printk_safe_text(
    session: Any, *, header: bool, text_only: bool = False, show_level: bool = False
) -> str:
    """The per-CPU ``printk_safe_seq_buf`` buffers as crash prints them ("" if none).

    These NMI/safe-context buffers (``nmi_print_seq``, ``safe_print_seq``) existed from
    4.11 to 5.14 (removed by commit 93d102f094be "printk: remove safe buffers", v5.15).
    ``header`` is ``log -s`` (per-CPU headers); without it, ``log`` appends any pending
    text after the main log.  Needs the vmlinux types; without them nothing is shown.
    """
    if not _has_debuginfo(session):
        return ""
    names = ("nmi_print_seq", "safe_print_seq")
    if not getattr(session, "prog_loaded", True) and not _vmlinux_mentions(session, names):
        return ""  # neither name is anywhere in the vmlinux: no need to load its DWARF
    prog = session.prog
    try:
        seq_buf_type = prog.type("struct printk_safe_seq_buf")
    except LookupError:
        return ""
    from pycrash.kernel.masks import possible_cpus
    from pycrash.kernel.native_helpers import per_cpu

    buffer_size = seq_buf_type.member("buffer").type.size
    out: list[str] = []
    for name in ("nmi_print_seq", "safe_print_seq"):
        try:
            variable = prog[name]
        except KeyError:
            continue
        if header:
            out.append(f"PRINTK_SAFE_SEQ_BUF: {name}\n")
        for cpu in possible_cpus(prog):  # bounded by NR_CPUS
            seq_buf = per_cpu(variable, cpu)
            length = int(seq_buf.len.counter)
            if header:
                lost = int(seq_buf.message_lost.counter)
                out.append(f"CPU: {cpu}  ADDR: {seq_buf.address_:x} LEN: {length}  "
                           f"MESSAGE_LOST: {lost}\n")
            if length <= 0:
                if header:
                    out.append("  (empty)\n\n")
                continue
            data = prog.read(seq_buf.buffer.address_, buffer_size)[: min(length, buffer_size)]
            out.append(_safe_buffer_text(data, name, header, text_only, show_level))
    return "".join(out)


def _vmlinux_mentions(session: Any, names: tuple[str, ...]) -> bool:
    """Whether any of ``names`` may be a string of the vmlinux's symbol string table.

    Absence from ``.strtab`` proves the kernel has no such symbol; reading that one section
    costs far less than loading the DWARF or building the symbol table.  True when the
    file cannot be parsed (the caller then looks properly).
    """
    path = getattr(session, "vmlinux_path", None)
    if path is None:
        return False
    try:
        strtab = find_section(str(path), ".strtab")
    except (OSError, ValueError, struct.error):
        return True
    if strtab is None:
        return True
    # The linker merges string tails ("schedule" may be the end of "__schedule"), so only
    # the terminating NUL can be required; a longer name ending the same way merely sends
    # the caller down the slow path.
    return any(strtab.find(name.encode() + b"\0") >= 0 for name in names)


def _safe_buffer_text(
    data: bytes, name: str, header: bool, text_only: bool, show_level: bool
) -> str:
    # crash kernel.c __dump_printk_safe_seq_buf: SOH (0x01) + level char start a message.
    indent = 2 if header else (0 if text_only else len(name) + 3)
    if show_level:
        indent += 3
    out: list[str] = []
    start_of_line = True
    i = 0
    while i < len(data):
        byte = data[i]
        at_start, start_of_line = start_of_line, False
        if byte == 0x01:
            i += 1
            if not at_start:
                out.append("\n")
            if header:
                out.append("  ")
            elif not text_only:
                out.append(f"[{name}] ")
            if show_level and i < len(data) and chr(data[i]) in "01234567c":
                out.append(f"<{chr(data[i])}>")
            i += 1
            continue
        if at_start:
            out.append(" " * indent)
        if _printable(byte):
            out.append(chr(byte))
            if byte == 0x0A:
                start_of_line = True
        else:
            out.append(".")
        i += 1
    if not start_of_line:
        out.append("\n")
    if header:
        out.append("\n")
    return "".join(out)


def audit_backlog(session: Any) -> list[str] | None:
    """Audit records not yet read by auditd, ``type=N text`` each; None: no audit queues.

    Linux < 4.11 keeps them in ``audit_skb_hold_queue``/``audit_skb_queue``; later
    kernels in ``audit_hold_queue``/``audit_retry_queue``/``audit_queue`` (crash's
    ``dump_audit()`` order).  Each ``sk_buff`` holds a netlink message.
    """
    if not _has_debuginfo(session):
        return None
    prog = session.prog

    def exists(name: str) -> bool:
        try:
            prog[name]
        except KeyError:
            return False
        return True

    if exists("audit_skb_queue"):
        names = ("audit_skb_hold_queue", "audit_skb_queue")
    elif exists("audit_queue"):
        names = ("audit_hold_queue", "audit_retry_queue", "audit_queue")
    else:
        return None
    import drgn

    nlmsghdr_size = (drgn.sizeof(prog.type("struct nlmsghdr")) + 3) & ~3
    lines: list[str] = []
    for name in names:
        if not exists(name):
            continue
        queue = prog[name]
        if not int(queue.qlen):
            continue
        # struct sk_buff_head and struct sk_buff both start with next, prev: the queue is
        # a circular list through its head, walked bounded and loop-checked.
        from pycrash.kernel.lists import list_walk, warn_stderr

        for address in list_walk(prog, queue.address_, on_stop=warn_stderr):
            skb = drgn.Object(prog, "struct sk_buff *", address)
            data = skb.data
            nlmsg_type = int(drgn.Object(prog, "struct nlmsghdr *", data.value_()).nlmsg_type)
            text_len = int(skb.len) - nlmsghdr_size
            text = prog.read(data.value_() + nlmsghdr_size, max(text_len, 0))
            text = text.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
            lines.append(f"type={nlmsg_type} {text}")
    return lines
