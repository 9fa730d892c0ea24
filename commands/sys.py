"""``sys``: system data, as crash 8.0.6 prints it (``kernel.c`` ``cmd_sys``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pycrash.api import Arg, Command, CommandContext, CommandError, register
from pycrash.kernel import printk, sysinfo, utsname
from pycrash.kernel.sysinfo import SysinfoError

# The labels crash right-aligns in 12 columns, in its order.
_LABELS = ("KERNEL", "DUMPFILE", "CPUS", "DATE", "UPTIME", "LOAD AVERAGE", "TASKS",
           "NODENAME", "RELEASE", "VERSION", "MACHINE", "MEMORY", "PANIC")


@dataclasses.dataclass
class SysData:
    """``sys`` output: the summary fields in crash's order, or one of the sub-reports."""

    kind: str  # "summary", "taint", "config", "dmi"
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    lines: list[str] = dataclasses.field(default_factory=list)


@register
class Sys(Command):
    name = "sys"
    summary = "system data"
    description = """\
  This command displays system-specific data.  If no arguments are entered,
  the same system data shown during pycrash invocation is shown.

    config            If the kernel was configured with CONFIG_IKCONFIG, then
                      dump the in-kernel configuration data.
    -t                Display kernel taint information.  If the "tainted_mask"
                      symbol exists, show its hexadecimal value and translate
                      each bit set to the symbolic letter of the taint type.
    -i                Dump the DMI string data if available in the kernel.
    -c [name|number]  Not supported by pycrash (crash prints each sys_call_table
                      entry with its source file and line).

  --json prints the summary fields as a dictionary.
"""
    arguments = (
        Arg("-c", dest="syscalls", action="store_true", help="system call table"),
        Arg("-t", dest="taint", action="store_true", help="kernel taint information"),
        Arg("-i", dest="dmi", action="store_true", help="DMI strings"),
        Arg("words", nargs="*", help="config"),
    )

    def run(self, ctx: CommandContext, args: Any) -> SysData:
        session = ctx.session
        try:
            if args.taint:
                return _taint(session)
            if args.dmi:
                return _dmi(session)
            if args.syscalls:
                raise CommandError("-c: the system call table is not supported by pycrash")
            if args.words:
                if any(word != "config" for word in args.words):
                    raise CommandError("usage: sys [-c [name|number]] [-t] [-i] config")
                lines = sysinfo.crash_config_lines(sysinfo.ikconfig_text(session))
                return SysData("config", lines=lines * len(args.words))
            return SysData("summary", fields=system_summary(session))
        except SysinfoError as exc:
            raise CommandError(str(exc)) from None

    def render(self, ctx: CommandContext, data: SysData) -> None:
        if data.kind != "summary":
            ctx.out.write("".join(f"{line}\n" for line in data.lines))
            return
        ctx.out.write(format_summary(data.fields))

    def to_json(self, ctx: CommandContext, data: SysData) -> Any:
        if data.kind == "summary":
            return data.fields
        if data.kind == "taint":
            return {"tainted_mask": data.fields["tainted_mask"],
                    "letters": data.fields["letters"]}
        if data.kind == "dmi":
            return dict(data.fields)
        return {"config": data.lines}


def _taint(session: Any) -> SysData:
    mask = sysinfo.tainted_mask(session)
    letters = sysinfo.taint_letters(session)
    return SysData("taint", fields={"tainted_mask": mask, "letters": letters},
                   lines=[f"TAINTED_MASK: {mask:x}  {letters}"])


def _dmi(session: Any) -> SysData:
    entries = sysinfo.dmi_strings(session)
    named = not entries or not entries[0][0].startswith("dmi_ident[")
    width = max((len(name) for name, _ in entries), default=0) if named else 0
    lines = [f"  {name:>{width}}: {value}" for name, value in entries if value is not None]
    return SysData("dmi", fields={name: value for name, value in entries if value is not None},
                   lines=lines)


def system_summary(session: Any) -> dict[str, Any]:
    """The summary's fields, as values (the text form is :func:`format_summary`'s job)."""
    dump = session.dump
    uts = utsname.init_utsname(session)
    cpus, online = sysinfo.cpu_counts(session)
    ticks = sysinfo.hz(session)
    jiffies = sysinfo.uptime_jiffies(session)
    letters = sysinfo.taint_letters(session)
    records = printk.get_printk_records(session)
    date = sysinfo.xtime_seconds(session)
    return {
        # crash prints the vmlinux name as it was given on the command line
        "kernel": str(getattr(session, "vmlinux_origin", None)
                      or getattr(session, "vmlinux_path", "") or ""),
        "tainted": sysinfo.tainted_mask(session) != 0,
        "livepatch": "K" in letters,
        "dumpfiles": [str(path) for path in dump.paths],
        "dump_format": dump.format,
        "dumpfile_flags": _dumpfile_flags(dump),
        "cpus": cpus,
        "offline_cpus": cpus - online,
        "date": date,
        "date_text": sysinfo.ctime_tz(date),
        "uptime_seconds": jiffies // ticks,
        "uptime": sysinfo.format_uptime(jiffies, ticks),
        "load_average": sysinfo.load_average(session),
        "tasks": sysinfo.task_count(session),
        "nodename": uts.nodename,
        "release": uts.release,
        "version": uts.version,
        "machine": uts.machine,
        "mhz": sysinfo.processor_mhz(session),
        "memory": sysinfo.memory_size_text(session),
        "panic": printk.crash_panic_message(records),
    }


def _dumpfile_flags(dump: Any) -> list[str]:
    """crash's ``[PARTIAL DUMP]``/``[INCOMPLETE]``/``[EXCLUDED VMEMMAP]`` markers.

    A kdump-compressed file is "partial" when makedumpfile's dump level is above 0.
    """
    flags = []
    if dump.format == "kdump":
        if (dump.dump_level or 0) > 0:
            flags.append("PARTIAL DUMP")
        if dump.incomplete:
            flags.append("INCOMPLETE")
        header = getattr(getattr(dump, "layer", None), "header", None)
        if header is not None and getattr(header, "status", 0) & 0x10:
            flags.append("EXCLUDED VMEMMAP")
    elif dump.incomplete:
        flags.append("INCOMPLETE")
    return flags


def format_summary(fields: dict[str, Any]) -> str:
    """The summary exactly as crash's ``display_sys_stats()`` lays it out."""
    kernel = fields["kernel"]
    if fields["livepatch"]:
        kernel += "  [LIVEPATCH]"
    if fields["tainted"]:
        kernel += "  [TAINTED]"
    paths = fields["dumpfiles"]
    flags = fields["dumpfile_flags"]
    if len(paths) > 1:
        # split dumps: one file a line, each with its markers, under "DUMPFILES:"
        suffix = "".join(f" [{flag}]" for flag in flags)
        dumpfile_label = "   DUMPFILES: "
        dumpfile = ("\n" + " " * 14).join(f"{path}{suffix}" for path in paths)
    else:
        dumpfile_label = "    DUMPFILE: "
        dumpfile = paths[0] if paths else ""
        if flags and fields["dump_format"] == "kdump":
            dumpfile += " " + "".join(f" [{flag}]" for flag in flags)
        elif flags:
            dumpfile += "  [INCOMPLETE]"
    cpus = f"{fields['cpus']}"
    if fields["offline_cpus"]:
        cpus += f" [OFFLINE: {fields['offline_cpus']}]"
    mhz = f"({fields['mhz']} Mhz)" if fields["mhz"] else "(unknown Mhz)"
    panic = fields["panic"]
    check = " (check log for details)" if "Oops: " in panic else ""
    lines = [
        f"      KERNEL: {kernel}",
        f"{dumpfile_label}{dumpfile}",
        f"        CPUS: {cpus}",
        f"        DATE: {fields['date_text']}",
        f"      UPTIME: {fields['uptime']}",
        f"LOAD AVERAGE: {fields['load_average']}",
        f"       TASKS: {fields['tasks']}",
        f"    NODENAME: {fields['nodename']}",
        f"     RELEASE: {fields['release']}",
        f"     VERSION: {fields['version']}",
        f"     MACHINE: {fields['machine']}  {mhz}",
        f"      MEMORY: {fields['memory']}",
        f'       PANIC: "{panic}"{check}',
    ]
    return "".join(f"{line}\n" for line in lines)
