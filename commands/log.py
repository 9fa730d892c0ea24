"""``log``: dump the kernel message buffer, as crash 8.0.6 does (``kernel.c`` ``cmd_log``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pycrash.api import Arg, Command, CommandContext, CommandError, register
from pycrash.kernel import printk, sysinfo


@dataclasses.dataclass
class LogData:
    """What ``log`` shows: the records plus the settings that shape their prefix."""

    records: list[printk.PrintkRecord]
    show_time: bool = True
    boot_time: int | None = None  # -T: epoch seconds of boot, as crash computes it
    caller_width: int | None = None  # -c: the %*s width of the caller column
    show_level: bool = False
    show_dict: bool = False
    # -a / -s: lines printed as they are (audit records, printk_safe buffers, the pre-3.5
    # character ring)
    extra_text: str = ""
    plain: bool = False  # Linux < 3.5: only extra_text is shown


@register
class Log(Command):
    name = "log"
    summary = "dump system message buffer"
    description = """\
  This command dumps the kernel log_buf contents in chronological order.  The
  command supports the older log_buf formats, which may or may not contain a
  timestamp inserted prior to each message, as well as the newer variable-length
  record format, where the timestamp is contained in each log entry's header.

    -T  Display the message text with human readable timestamp.
        (Be aware that the timestamp could be inaccurate!)
    -t  Display the message text without the timestamp; only applicable to the
        variable-length record format.
    -d  Display the dictionary of key/value pair properties that are optionally
        appended to a message by the kernel's dev_printk() function; only
        applicable to the variable-length record format.
    -m  Display the message log level in brackets preceding each message.  For
        the variable-length record format, the level will be displayed in
        hexadecimal.
    -a  Dump the audit logs remaining in kernel audit buffers that have not
        been copied out to the user-space audit daemon.
    -s  Dump the printk logs remaining in kernel safe per-CPU buffers that
        have not been flushed out to log_buf.
    -c  Display the caller id field that identifies either the thread id or
        the CPU id (if in CPU context) that called printk(), if available.
        Generally available on Linux 5.1 to 5.9 kernels configured with
        CONFIG_PRINTK_CALLER or Linux 5.10 and later kernels.

  pycrash reads the log with no vmlinux at all, from the offsets the kernel
  exports in VMCOREINFO.  --json prints the records (seq, ts_nsec, level,
  facility, caller, text, dict).
"""
    arguments = (
        Arg("-T", dest="ctime", action="store_true", help="human readable timestamps"),
        Arg("-t", dest="text_only", action="store_true", help="no timestamps"),
        Arg("-d", dest="dict", action="store_true", help="show dev_printk dictionaries"),
        Arg("-m", dest="level", action="store_true", help="show the log level"),
        Arg("-a", dest="audit", action="store_true", help="dump the audit backlog"),
        Arg("-s", dest="safe", action="store_true", help="dump printk_safe per-CPU buffers"),
        Arg("-c", dest="caller", action="store_true", help="show the caller id"),
    )
    needs_debuginfo = False

    def run(self, ctx: CommandContext, args: Any) -> LogData:
        session = ctx.session
        if args.audit:
            return LogData(records=[], extra_text=_audit_text(session))
        if args.safe:
            return LogData(records=[], extra_text=_safe_text(session, args, header=True))
        try:
            if printk.printk_layout(session) == "plain":
                return _plain(session, args)
            records = printk.get_printk_records(session)
        except printk.PrintkError as exc:
            raise CommandError(str(exc)) from None
        data = LogData(
            records=records,
            show_time=not args.text_only,
            show_level=args.level,
            show_dict=args.dict,
        )
        if args.ctime and not args.text_only:
            data.boot_time = _boot_time(session)
        if args.caller:
            data.caller_width = _caller_width(session, records)
        data.extra_text = _safe_text(session, args, header=False)
        return data

    def render(self, ctx: CommandContext, data: LogData) -> None:
        ctime = None
        if data.boot_time is not None:
            boot = data.boot_time
            ctime = lambda seconds: sysinfo.ctime_tz(boot + seconds)  # noqa: E731
        write = ctx.out.write
        for record in [] if data.plain else data.records:
            write(printk.crash_log_line(
                record,
                show_time=data.show_time,
                ctime=ctime,
                caller_width=data.caller_width,
                show_level=data.show_level,
                show_dict=data.show_dict,
            ))
        if data.extra_text:
            write(data.extra_text)

    def to_json(self, ctx: CommandContext, data: LogData) -> Any:
        return [
            {
                "seq": record.seq,
                "ts_nsec": record.ts_nsec,
                "level": record.level,
                "facility": record.facility,
                "caller": record.caller,
                "text": record.text.decode("utf-8", "backslashreplace"),
                "dict": record.dict,
            }
            for record in data.records
        ]


def _plain(session: Any, args: Any) -> LogData:
    """Linux < 3.5: the character ring, printed as it is (crash's options checked first)."""
    for flag, given in (("T", args.ctime), ("d", args.dict), ("t", args.text_only)):
        if given:
            raise CommandError(
                f"-{flag} option not supported or applicable on this architecture or kernel")
    text = printk.plain_log_text(session, show_level=args.level)
    records = [] if not text else printk.get_printk_records(session)
    return LogData(records=records, extra_text=text, plain=True)


def _boot_time(session: Any) -> int:
    """crash's ``kt->boot_date``: the dump's date minus the uptime in whole seconds."""
    try:
        return sysinfo.boot_time(session)
    except CommandError:
        raise
    except Exception as exc:  # noqa: BLE001 - SysinfoError, or a drgn read/lookup failure
        raise CommandError(f"-T: cannot compute the boot time: {exc}") from None


def _caller_width(session: Any, records: list[printk.PrintkRecord]) -> int:
    """The caller column width: from ``pid_max`` on 5.10+, 8 (PID_CHARS_DEFAULT) before."""
    if printk.printk_layout(session) != "lockless":
        return 8
    pid_max = sysinfo.pid_max(session)
    if pid_max is None:
        return 8
    if pid_max <= 99999:
        return 6
    if pid_max <= 999999:
        return 7
    return 8


def _audit_text(session: Any) -> str:
    """The audit backlog (``-a``): crash's ``dump_audit()``."""
    try:
        lines = printk.audit_backlog(session)
    except CommandError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged skb queue
        raise CommandError(f"cannot read the audit queues: {exc}") from None
    if lines is None:
        raise CommandError("-a option not supported or applicable on this architecture or kernel")
    if not lines:
        raise CommandError("kernel audit log is empty")
    return "".join(f"{line}\n" for line in lines)


def _safe_text(session: Any, args: Any, *, header: bool) -> str:
    """printk_safe per-CPU buffers (Linux 4.11 - 5.14); empty on other kernels."""
    try:
        return printk.printk_safe_text(
            session, header=header, text_only=args.text_only, show_level=args.level
        )
    except CommandError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged per-CPU buffer
        if header:
            raise CommandError(f"cannot read the printk_safe buffers: {exc}") from None
        return ""
