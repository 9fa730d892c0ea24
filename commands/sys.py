"""``sys``: system data, as crash 8.0.6 prints it (``kernel.c`` ``cmd_sys``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pycrash.api import Arg, Command, CommandContext, CommandError, register
from pycrash.kernel import printk, sysinfo, utsname
from pycrash.kernel.sysinfo import SysinfoError


@dataclasses.dataclass
class SysData:
    """``sys`` output: the summary fields in crash's order, or one of the sub-reports."""

    kind: str  # "summary", "taint", "config", "dmi", "syscalls"
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
    -c [name|number]  If no name or number argument is entered, dump all
                      sys_call_table entries.  If a name string is entered,
                      search the table for all entries containing the string.
                      If a number is entered, the table entry associated with
                      that number is displayed.  If the current output radix
                      has been set to 16, the system call numbers will be
                      displayed in hexadecimal.

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
                return _syscalls(session, args.words)
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
        if data.kind == "syscalls":
            return data.fields["entries"]
        return {"config": data.lines}


_SYSCALL_HEADER = "NUM  SYSTEM CALL                FILE AND LINE NUMBER"


def _syscalls(session: Any, specs: list[str]) -> SysData:
    """``sys -c [name|number]...``: crash's table, filtered the way crash filters it."""
    hex_radix = _radix(session) == 16
    numbers = [_spec_number(spec) for spec in specs]

    def wanted(number: int, name: str | None) -> bool:
        if not specs:
            return True
        return any(n == number if n is not None else (name is not None and spec in name)
                   for spec, n in zip(specs, numbers, strict=True))

    entries = sysinfo.syscall_table(session, wanted)
    rows = []
    for entry in entries:
        number = f"{entry.number:3x}" if hex_radix else f"{entry.number:3d}"
        if entry.name is None:
            rows.append(f"{number}  invalid sys_call_table entry: {entry.address:x} ")
        else:
            rows.append(f"{number}  {entry.name:<26} {entry.location}")
    data = SysData("syscalls", fields={"entries": [dataclasses.asdict(e) for e in entries]})
    if not specs:
        data.lines = [_SYSCALL_HEADER, *rows]
        return data
    for index, spec in enumerate(specs):
        header_printed = index > 0
        wanted = _spec_number(spec)
        if wanted is not None:
            wanted_text = f"{wanted:x}" if hex_radix else f"{wanted}"
        for row in rows:
            words = row.split()
            if len(words) < 2:
                continue
            if wanted is not None:
                matched = words[0] == wanted_text
            else:
                matched = spec in words[1]
            if matched:
                if not header_printed:
                    data.lines.append(_SYSCALL_HEADER)
                    header_printed = True
                data.lines.append(row)
                if wanted is not None:
                    break
    return data


def _spec_number(spec: str) -> int | None:
    """crash's IS_A_NUMBER: decimal, or hexadecimal with 0x."""
    try:
        return int(spec, 16) if spec.lower().startswith("0x") else int(spec, 10)
    except ValueError:
        return None


def _radix(session: Any) -> int:
    try:
        return int(session.settings["radix"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return 10


def _taint(session: Any) -> SysData:
    """``sys -t`` (crash's ``show_kernel_taints(VERBOSE)``)."""
    old_tainted = sysinfo.old_tainted(session)
    if old_tainted is not None:  # before 2.6.28: "int tainted", shown in hex only
        return SysData("taint", fields={"tainted_mask": old_tainted, "letters": ""},
                       lines=[f"TAINTED: {old_tainted:x}"])
    if not sysinfo.has_taint_flags(session):
        raise CommandError("-t option not supported or applicable on this architecture or kernel")
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
        "tainted": (sysinfo.old_tainted(session) or sysinfo.tainted_mask(session)) != 0,
        "livepatch": "K" in letters or _kpatch_loaded(session),
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


def _kpatch_loaded(session: Any) -> bool:
    """crash's ``is_livepatch()`` also looks for a module named "kpatch" (pre-4.0 kpatch)."""
    try:
        from pycrash.kernel.modules import loaded_modules

        return any(module.name == "kpatch" for module in loaded_modules(session))
    except Exception:  # noqa: BLE001 - an unreadable module list only loses the marker
        return False


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
