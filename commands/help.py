"""help: the command table, and a man-like page per command (crash's help layout).

``help`` prints every command name in five columns of 15 characters, filled column by column,
then the version lines, as crash's ``display_help_screen()``.  ``help NAME`` prints NAME,
SYNOPSIS and DESCRIPTION built from the command's declaration (its ``summary``, ``synopsis`` or
``arguments``, and ``description``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pycrash import __version__, api
from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register

COLUMNS = 5
SECTION_HEADER = re.compile(r"^[A-Z][A-Z ]*[A-Z]$")
COLUMN_WIDTH = 15

INPUT_HELP = """\
Commands are read one line at a time: a command word, then its arguments.

  cmd args ; cmd args     several commands on one line (in -c and in scripts).
  cmd args | shell cmd    the output of cmd goes to a shell pipeline (only the
                          text after '|' is given to the shell).
  cmd args > file         write the output to file; '>>' appends to it.
  !shell cmd              run a shell command; '!' alone starts a shell.
  WORD ...                a word that is not a command but names a structure
                          type runs "struct WORD ..."; one that names a kernel
                          symbol runs "p WORD ...".
  # text                  a comment.

At the prompt, Tab completes command names, options, symbols, type names and
struct.member paths; Ctrl-R searches the history; Ctrl-C stops the running
command; Ctrl-D or "q" leaves.  Commands in ~/.pycrashrc and ./.pycrashrc run
at start; "pycrash -i FILE" runs FILE then stays at the prompt."""

OUTPUT_HELP = """\
Output longer than the screen goes through "less -E -X" when it is written to a
terminal and "set scroll on" (the default); "set scroll off" or "pycrash -s"
turns that off, and piped or redirected output is never paged.

  set radix 10|16     the default radix of commands that print numbers.
  set json on|off     print every command that supports it as JSON ("--json").
  set debug on|off    show Python tracebacks of unexpected errors ("--debug")."""

SPECIAL_PAGES = {"input": INPUT_HELP, "output": OUTPUT_HELP}


@dataclasses.dataclass
class HelpPage:
    """The help of one command."""

    name: str
    summary: str
    synopsis: str
    description: str
    options: list[tuple[str, str]]
    aliases: list[str]
    origin: str


@dataclasses.dataclass
class HelpTable:
    """The list of all commands."""

    names: list[str]
    version: str
    drgn_version: str


def _metavar(arg: Arg) -> str:
    kwargs = arg.kwargs
    if "metavar" in kwargs:
        return str(kwargs["metavar"])
    if "dest" in kwargs:
        return str(kwargs["dest"])
    return arg.names[-1].lstrip("-").replace("-", "_")


def _takes_value(arg: Arg) -> bool:
    action = arg.kwargs.get("action", "store")
    return action in ("store", "append", "extend") and arg.kwargs.get("nargs") != 0


def synopsis_of(cls: type[Command]) -> str:
    """The arguments part of SYNOPSIS: ``[-x] [-c cpu] [address] ...``."""
    if cls.synopsis:
        return cls.synopsis
    parts = []
    for arg in cls.arguments:
        if arg.is_option:
            text = arg.names[0]
            if _takes_value(arg):
                text += f" {_metavar(arg)}"
            parts.append(f"[{text}]")
            continue
        name = _metavar(arg)
        nargs = arg.kwargs.get("nargs")
        if nargs == "?":
            parts.append(f"[{name}]")
        elif nargs == "*":
            parts.append(f"[{name}] ...")
        elif nargs == "+":
            parts.append(f"{name} ...")
        else:
            parts.append(name)
    return " ".join(parts)


def _dedent(text: str) -> str:
    """Remove the common indentation of the body lines (section headers do not count)."""
    lines = text.strip("\n").splitlines()
    body = [ln for ln in lines if ln.strip() and not SECTION_HEADER.match(ln.strip())]
    indent = min((len(ln) - len(ln.lstrip()) for ln in body), default=0)
    out = []
    for line in lines:
        if SECTION_HEADER.match(line.strip()):
            out.append(line.strip())
        else:
            out.append(line[indent:].rstrip())
    return "\n".join(out)


def help_page(cls: type[Command], origin: str) -> HelpPage:
    options = []
    for arg in cls.arguments:
        text = arg.kwargs.get("help")
        if not text:
            continue
        label = ", ".join(arg.names)
        if arg.is_option and _takes_value(arg):
            label += f" {_metavar(arg)}"
        options.append((label, str(text)))
    description = _dedent(cls.description)
    return HelpPage(
        name=cls.name,
        summary=cls.summary,
        synopsis=synopsis_of(cls),
        description=description,
        options=options,
        aliases=list(cls.aliases),
        origin=origin,
    )


@dataclasses.dataclass
class CpuRegisters:
    """The registers a CPU's NT_PRSTATUS note saved (``help -r``)."""

    cpu: int
    registers: dict[str, int]


# crash's diskdump_display_regs()/display_regs_from_elf_notes() layout for x86_64.
REGISTER_ROWS = (
    (("RIP", "rip", 16), ("RSP", "rsp", 16), ("RFLAGS", "eflags", 8)),
    (("RAX", "rax", 16), ("RBX", "rbx", 16), ("RCX", "rcx", 16)),
    (("RDX", "rdx", 16), ("RSI", "rsi", 16), ("RDI", "rdi", 16)),
    (("RBP", "rbp", 16), (" R8", "r8", 16), (" R9", "r9", 16)),
    (("R10", "r10", 16), ("R11", "r11", 16), ("R12", "r12", 16)),
    (("R13", "r13", 16), ("R14", "r14", 16), ("R15", "r15", 16)),
    (("CS", "cs", 4), ("SS", "ss", 4)),
)


def render_registers(out: Any, cpus: list[CpuRegisters]) -> None:
    """``help -r``: each CPU's saved registers, as crash prints them for kdump and ELF dumps."""
    for index, cpu in enumerate(cpus):
        out.write(f"{'' if index == 0 else chr(10)}CPU {cpu.cpu}:\n")
        for row in REGISTER_ROWS:
            cells = [
                f"{label}: {cpu.registers.get(key, 0) & ((1 << (4 * width)) - 1):0{width}x}"
                for label, key, width in row
            ]
            out.write("    " + "  ".join(cells) + "\n")


def render_table(out: Any, table: HelpTable) -> None:
    """crash's display_help_screen(): five columns, filled top to bottom."""
    names = table.names
    rows = (len(names) + COLUMNS - 1) // COLUMNS
    out.write("\n")
    for row in range(rows):
        cells = names[row::rows] if rows else []
        out.write("".join(f"{name:<{COLUMN_WIDTH}}" for name in cells) + "\n")
    out.write(f"\npycrash version: {table.version:<6}   drgn version: {table.drgn_version}\n")
    out.write('For help on any command above, enter "help <command>".\n')
    out.write('For help on input options, enter "help input".\n')
    out.write('For help on output options, enter "help output".\n\n')


def render_page(out: Any, page: HelpPage) -> None:
    """crash's cmd_usage() layout: NAME, SYNOPSIS, DESCRIPTION."""
    out.write(f"\nNAME\n  {page.name} - {page.summary}\n")
    # crash's help data holds " " for a command without arguments: "  exit  ".
    out.write(f"\nSYNOPSIS\n  {page.name} {page.synopsis or ' '}\n")
    out.write("\nDESCRIPTION\n")
    body = page.description.splitlines()
    if page.options:
        if body:
            body.append("")
        width = max(len(label) for label, _ in page.options)
        for label, text in page.options:
            body.append(f"  {label:>{width}}  {text}")
    if page.origin != "builtin":
        body += ["", f"Loaded from {page.origin}."]
    for line in body:
        # Section headers inside the description (NOTE, EXAMPLES) start at column 0.
        if not line or SECTION_HEADER.match(line):
            out.write(f"{line}\n")
        else:
            out.write(f"  {line}\n")
    out.write("\n")


@register
class Help(Command):
    name = "help"
    summary = "get help"
    synopsis = "[command | input | output]"
    description = """
    When entered with no argument, a list of all currently available commands is
    listed.  If a name of a command is entered, a man-like page for the command is
    displayed; "help input" and "help output" describe the command line
    conventions (pipes, redirection, shell escapes, the pager)."""
    arguments = (
        Arg("-r", dest="registers", action="store_true",
            help="dump registers from dumpfile header"),
        Arg("command", nargs="*", complete=Complete.COMMAND),
    )
    needs_debuginfo = False

    def run(self, ctx: CommandContext, args: Any) -> Any:
        registry = ctx.registry if ctx.registry is not None else api.registry
        if args.registers:
            return [CpuRegisters(cpu.cpu, dict(cpu.registers)) for cpu in ctx.session.dump.cpus]
        if not args.command:
            import drgn

            # "p/x", "p/d"...: gdb-format forms of "p", listed once under "p" as crash does.
            names = [cls.name for cls in registry.commands() if "/" not in cls.name]
            return HelpTable(sorted(names), __version__, drgn.__version__)
        pages: list[HelpPage | str] = []
        for word in args.command:
            if word in SPECIAL_PAGES:
                pages.append(SPECIAL_PAGES[word])
                continue
            cls = registry.get(word)
            if cls is None:
                raise CommandError(f'No help data for "{word}" is available.')
            pages.append(help_page(cls, registry.origin(word) or "builtin"))
        return pages

    def render(self, ctx: CommandContext, data: Any) -> None:
        if isinstance(data, HelpTable):
            render_table(ctx.out, data)
            return
        if data and isinstance(data[0], CpuRegisters):
            render_registers(ctx.out, data)
            return
        for page in data:
            if isinstance(page, str):
                ctx.out.write(f"\n{page}\n\n")
            else:
                render_page(ctx.out, page)
