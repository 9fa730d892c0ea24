"""Tiny synthetic kernels for the printk walkers: a sparse memory, a VMCOREINFO, nothing else.

The sample dumps all run a 6.1 kernel (lockless ring buffer); these build the 3.5-5.9
``struct printk_log`` layout and ring-buffer corner cases (wrapped, data-less, reused and
truncated records) byte by byte, with the offsets the kernel exports for them.
"""

from __future__ import annotations

import struct

from pycrash.core.errors import NotMappedError
from pycrash.core.vmcoreinfo import VmcoreInfo


class FakeDump:
    """Kernel-virtual reads from a few byte regions; anything else is not mapped."""

    page_size = 4096

    def __init__(self, vmcoreinfo_text: str, regions: dict[int, bytes]) -> None:
        self.vmcoreinfo = VmcoreInfo(vmcoreinfo_text)
        self.regions = regions

    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        for start, data in self.regions.items():
            if start <= address and address + size <= start + len(data):
                return data[address - start: address - start + size]
        raise NotMappedError(address, "not mapped")


class FakeSession:
    """The part of a Session the printk helpers use, without any debuginfo."""

    has_debuginfo = False
    vmlinux_path = None

    def __init__(self, dump: FakeDump) -> None:
        self.dump = dump
        self.vmcoreinfo = dump.vmcoreinfo

    def symbol_address(self, name: str) -> int | None:
        return self.vmcoreinfo.symbol(name)

    @property
    def prog(self):  # pragma: no cover - the walkers must never get here
        raise AssertionError("printk touched session.prog")


# -- 3.11-5.9: struct printk_log records in log_buf -----------------------------------------

LOG_BUF = 0xFFFF888000100000
LOG_BUF_PTR = 0xFFFFFFFF82000000
LOG_BUF_LEN = LOG_BUF_PTR + 8
LOG_FIRST_IDX = LOG_BUF_PTR + 16
LOG_NEXT_IDX = LOG_BUF_PTR + 20

STRUCTURED_VMCOREINFO = f"""OSRELEASE=5.4.0
PAGESIZE=4096
SYMBOL(log_buf)={LOG_BUF_PTR:x}
SYMBOL(log_buf_len)={LOG_BUF_LEN:x}
SYMBOL(log_first_idx)={LOG_FIRST_IDX:x}
SYMBOL(clear_idx)={LOG_BUF_PTR + 28:x}
SYMBOL(log_next_idx)={LOG_NEXT_IDX:x}
SIZE(printk_log)=16
OFFSET(printk_log.ts_nsec)=0
OFFSET(printk_log.len)=8
OFFSET(printk_log.text_len)=10
OFFSET(printk_log.dict_len)=12
"""


def printk_log_record(ts_nsec: int, text: bytes, dict_: bytes = b"", level: int = 6,
                      facility: int = 0, flags: int = 2, pad_to: int | None = None) -> bytes:
    """One ``struct printk_log`` + text + dict, padded to 8 bytes like log_store()."""
    body = text + dict_
    length = pad_to if pad_to is not None else (16 + len(body) + 7) & ~7
    header = struct.pack("<QHHHBB", ts_nsec, length, len(text), len(dict_), facility,
                         flags | level << 5)
    record = header + body
    return record + bytes(length - len(record))


def structured_session() -> FakeSession:
    """A 192-byte log_buf that wrapped: first_idx 128, an end marker at 152, next_idx 120.

    Records in log order: "first" (at 128), "second\\nline" with a 27-byte dict (at 0),
    "x\\x01y" with a 32-byte dict (at 64).
    """
    buf = bytearray(192)
    first = printk_log_record(1_500_000_000, b"first", level=6)
    second = printk_log_record(2_000_000_000, b"second\nline",
                               b"SUBSYSTEM=usb\0DEVICE=c189:1", level=4, pad_to=64)
    third = printk_log_record(12_345_678_901, b"x\x01y",
                              b"SUBSYSTEM=pci\0DEVICE=+pci:0:01.0", level=3)
    assert len(first) == 24 and len(second) == 64
    buf[128:152] = first
    # 152..192 stays zero: a record with len == 0 tells readers to wrap to index 0.
    buf[0:64] = second
    buf[64:64 + len(third)] = third
    next_idx = 64 + len(third)
    assert next_idx == 120
    # log_buf (pointer), log_buf_len, (pad), log_first_idx, log_next_idx
    variables = struct.pack("<QIIII", LOG_BUF, len(buf), 0, 128, next_idx)
    regions = {LOG_BUF: bytes(buf), LOG_BUF_PTR: variables + bytes(8)}
    return FakeSession(FakeDump(STRUCTURED_VMCOREINFO, regions))


# -- 5.10+: the lockless ring buffer ----------------------------------------------------------

PRB_PTR = 0xFFFFFFFF83000000
PRB = 0xFFFFFFFF83000100
DESCS = 0xFFFF888000200000
INFOS = 0xFFFF888000300000
TEXT = 0xFFFF888000400000

LOCKLESS_VMCOREINFO = f"""OSRELEASE=6.1.0
PAGESIZE=4096
SYMBOL(prb)={PRB_PTR:x}
SIZE(printk_ringbuffer)=88
OFFSET(printk_ringbuffer.desc_ring)=0
OFFSET(printk_ringbuffer.text_data_ring)=48
OFFSET(printk_ringbuffer.fail)=80
SIZE(prb_desc_ring)=48
OFFSET(prb_desc_ring.count_bits)=0
OFFSET(prb_desc_ring.descs)=8
OFFSET(prb_desc_ring.infos)=16
OFFSET(prb_desc_ring.head_id)=24
OFFSET(prb_desc_ring.tail_id)=32
SIZE(prb_desc)=24
OFFSET(prb_desc.state_var)=0
OFFSET(prb_desc.text_blk_lpos)=8
SIZE(prb_data_blk_lpos)=16
OFFSET(prb_data_blk_lpos.begin)=0
OFFSET(prb_data_blk_lpos.next)=8
SIZE(printk_info)=88
OFFSET(printk_info.seq)=0
OFFSET(printk_info.ts_nsec)=8
OFFSET(printk_info.text_len)=16
OFFSET(printk_info.caller_id)=20
OFFSET(printk_info.dev_info)=24
SIZE(dev_printk_info)=64
OFFSET(dev_printk_info.subsystem)=0
LENGTH(printk_info_subsystem)=16
OFFSET(dev_printk_info.device)=16
LENGTH(printk_info_device)=48
SIZE(prb_data_ring)=32
OFFSET(prb_data_ring.size_bits)=0
OFFSET(prb_data_ring.data)=8
OFFSET(prb_data_ring.head_lpos)=16
OFFSET(prb_data_ring.tail_lpos)=24
SIZE(atomic_long_t)=8
OFFSET(atomic_long_t.counter)=0
"""


def _desc(state: int, desc_id: int, begin: int, next_: int) -> bytes:
    return struct.pack("<QQQ", state << 62 | desc_id, begin, next_)


def _info(seq: int, ts_nsec: int, text_len: int, level: int, caller_id: int,
          subsystem: bytes = b"", device: bytes = b"") -> bytes:
    head = struct.pack("<QQHBBI", seq, ts_nsec, text_len, 0, 0 | level << 5, caller_id)
    return head + subsystem.ljust(16, b"\0") + device.ljust(48, b"\0")


def lockless_session() -> FakeSession:
    """Four descriptors (ids 4-7), a 64-byte text ring.

    id 4: finalized "hello" with SUBSYSTEM/DEVICE; id 5: committed, no data block
    (FAILED_LPOS); id 6: reusable (skipped); id 7: finalized, wrapped to the ring start,
    text_len 20 but only 16 bytes in its block (truncated).
    """
    descs = (
        _desc(2, 4, 64 + 24, 64 + 40)
        + _desc(1, 5, 1, 1)
        + _desc(3, 6, 64 + 40, 64 + 48)
        + _desc(2, 7, 64 + 40, 128 + 24)
    )
    infos = (
        _info(100, 1_000_000_000, 5, 6, 1, b"pci", b"+pci:0000:00:02.0")
        + _info(101, 2_000_000_000, 0, 6, 1)
        + _info(102, 2_500_000_000, 3, 6, 1)
        + _info(103, 3_000_000_000, 20, 0, 0x80000001)
    )
    text = bytearray(64)
    text[0:24] = struct.pack("<Q", 7) + b"0123456789abcdef"
    text[24:40] = struct.pack("<Q", 4) + b"hello" + bytes(3)
    prb = bytearray(88)
    struct.pack_into("<IxxxxQQQQ", prb, 0, 2, DESCS, INFOS, 7, 4)  # count_bits, ..., head, tail
    struct.pack_into("<IxxxxQ", prb, 48, 6, TEXT)  # size_bits, data
    regions = {
        PRB_PTR: struct.pack("<Q", PRB),
        PRB: bytes(prb),
        DESCS: descs,
        INFOS: infos,
        TEXT: bytes(text),
    }
    return FakeSession(FakeDump(LOCKLESS_VMCOREINFO, regions))


# -- before 3.5: a plain character ring --------------------------------------------------------

PLAIN_BUF = 0xFFFF888000500000
PLAIN_VARS = 0xFFFFFFFF84000000

PLAIN_VMCOREINFO = f"""OSRELEASE=2.6.32
PAGESIZE=4096
SYMBOL(log_buf)={PLAIN_VARS:x}
SYMBOL(log_end)={PLAIN_VARS + 8:x}
SYMBOL(log_buf_len)={PLAIN_VARS + 12:x}
"""

PLAIN_STREAM = b"<6>hello\n<4>world\n<6>third line\n<5>x\n"


def plain_session() -> FakeSession:
    """A 32-byte ring that wrapped: ``PLAIN_STREAM`` (37 bytes) written from index 0."""
    size = 32
    buf = bytearray(size)
    for position, byte in enumerate(PLAIN_STREAM):
        buf[position % size] = byte
    variables = struct.pack("<QII", PLAIN_BUF, len(PLAIN_STREAM), size)
    return FakeSession(FakeDump(PLAIN_VMCOREINFO, {PLAIN_BUF: bytes(buf),
                                                   PLAIN_VARS: variables}))
