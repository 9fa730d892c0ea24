"""``p``: print the value of a C expression, as crash's gdb does (``$N = value``).

crash passes the expression to gdb's ``print``; when the whole expression is one symbol name,
crash prefixes gdb's line with that name (``jiffies = $1 = 4294894759``), and a per-CPU symbol
prints its per-CPU addresses, or with ``:cpuspec`` each CPU's instance
(``per_cpu(runqueues, 1) = $1 = {...``).  ``p/x`` style formats (``p/x``, ``p/d``...) and
``-x``/``-d`` (output radix) are both supported.  The ``$N`` counter lives in the session.
"""

from __future__ import annotations

import argparse

import drgn
from drgn import Object, TypeKind

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.expr.evaluate import EvalError, evaluate_text
from pycrash.expr.evaluate import variable as lookup_variable
from pycrash.expr.numbers import cpus_of_spec
from pycrash.format import value_printer
from pycrash.format.ctype import type_name
from pycrash.format.faults import readmem_error

__all__ = ["format_print", "history_lookup", "next_history_number", "reset_value_history"]

_SCALAR_KINDS = (TypeKind.INT, TypeKind.BOOL, TypeKind.ENUM, TypeKind.POINTER, TypeKind.FLOAT)


def value_history(session: object) -> list[Object | None]:
    """gdb's value history of a session: ``$1`` is element 0 (None for values not kept)."""
    history = getattr(session, "value_history", None)
    if history is None:
        history = []
        session.value_history = history  # type: ignore[attr-defined]
    # Session.value_history_count is the session's $N counter (reset_user_state() zeroes it).
    count = getattr(session, "value_history_count", len(history))
    if count < len(history):
        del history[count:]
    while len(history) < count:
        history.append(None)
    return history


def next_history_number(session: object, value: Object | None = None) -> int:
    """Record a printed value and return its number (gdb's ``$N``)."""
    history = value_history(session)
    history.append(value)
    session.value_history_count = len(history)  # type: ignore[attr-defined]
    return len(history)


def reset_value_history(session: object) -> None:
    """Forget the history (a fresh crash process starts at ``$1``)."""
    session.value_history = []  # type: ignore[attr-defined]
    session.value_history_count = 0  # type: ignore[attr-defined]


def history_lookup(session: object, name: str) -> Object:
    """``$``, ``$N``, ``$$``, ``$$N`` as gdb resolves them."""
    history = value_history(session)
    body = name[1:]
    if body.startswith("$"):
        back = int(body[1:] or "1")
        index = len(history) - back
    elif body == "":
        index = len(history)
    else:
        if not body.isdigit():
            raise EvalError(f"History has not yet reached {name}.")
        index = int(body)
    if index <= 0 or index > len(history) or history[index - 1] is None:
        if not history and body == "":
            raise EvalError("History is empty.")
        raise EvalError(f"History has not yet reached ${index}.")
    value = history[index - 1]
    assert value is not None
    return value


def _strip(type_: drgn.Type) -> drgn.Type:
    while type_.kind == TypeKind.TYPEDEF:
        type_ = type_.type
    return type_


def format_print(ctx: CommandContext, value: Object, fmt: str | None, radix: int | None,
                 *, user: bool = False) -> str:
    """gdb's print_formatted/value_print of a top-level value (no ``$N = ``).

    With ``user`` a value in memory is read from the current context's user address space
    (crash's ``p -u``)."""
    printer = value_printer(ctx.session, fmt=fmt, radix=radix)
    type_ = value.type_
    real = _strip(type_)
    if real.kind == TypeKind.FUNCTION:
        address = value.address_
        return printer.format(type_, b"", address)
    if user and value.address_ is not None:
        from pycrash.commands.rd import UserReadError, read_user

        try:
            data = read_user(ctx, value.address_, drgn.sizeof(type_), "gdb_readmem_callback")
        except UserReadError as err:
            ctx.out.write(f"p: {err}\n")
            raise CommandError(f"gdb request failed: p {value.address_:#x}") from None
    else:
        data = value.to_bytes_()
    if fmt and real.kind in _SCALAR_KINDS:
        # gdb: "User specified format, so don't perpetrate C-isms" (no type, no <symbol>).
        return printer.format(type_, data, value.address_)
    text = printer.format(type_, data, value.address_)
    if real.kind == TypeKind.POINTER:
        target = type_.type if type_.kind == TypeKind.POINTER else None
        is_char_pointer = (
            target is not None and target.kind == TypeKind.INT and target.name == "char"
        )
        if not is_char_pointer:
            text = f"({type_name(type_)}) {text}"
    return text


def _lookup_symbol(ctx: CommandContext, name: str) -> drgn.Symbol | None:
    try:
        return ctx.session.prog.symbol(name)
    except (LookupError, ValueError):
        return None


def _percpu_range(ctx: CommandContext) -> tuple[int, int] | None:
    prog = ctx.session.prog
    try:
        return prog.symbol("__per_cpu_start").address, prog.symbol("__per_cpu_end").address
    except LookupError:
        return None


class _Print(Command):
    name = "p"
    fmt: str | None = None
    summary = "print the value of an expression"
    synopsis = "[-x|-d][-u] [expression | symbol[:cpuspec]]"
    description = (
        "Passes its arguments to gdb's print command for evaluation and display.\n"
        "  -x  hexadecimal output     -d  decimal output     -u  user virtual address\n"
        "A per-CPU symbol shows its per-CPU addresses, or with :cpuspec the values."
    )
    json = False
    highlight = "c"  # C text: the shell colours it on a terminal
    keep_quotes = True  # gdb parses 'A' and "abc" itself
    arguments = (
        Arg("-x", dest="hex", action="store_true", help="hexadecimal output"),
        Arg("-d", dest="dec", action="store_true", help="decimal output"),
        Arg("-u", dest="user", action="store_true", help="user virtual address"),
        Arg("expression", nargs=argparse.REMAINDER, complete=Complete.EXPRESSION),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[str]:
        if args.hex and args.dec:
            raise CommandError("-d and -x are mutually exclusive")
        words = list(args.expression)
        if not words:
            raise CommandError("usage: p [-x|-d][-u] expression")
        radix = 16 if args.hex else 10 if args.dec else None
        if words[0].startswith("/") and len(words) > 1:
            # gdb's "p /x EXPR" spelling: crash hands it to gdb as typed (no leader)
            return _formatted(words[0][1:])._print(ctx, " ".join(words[1:]), radix, None)
        first = words[0]
        cpuspec = None
        if ":" in first:
            first, cpuspec = first.rsplit(":", 1)
        if self.fmt is not None:
            # "p/x ..." is not a crash command: crash hands the whole line to gdb.
            return self._print(ctx, " ".join(words), radix, None)
        sym = _lookup_symbol(ctx, first)
        out: list[str] = []
        if sym is not None and len(words) == 1:
            percpu = _percpu_range(ctx)
            if percpu and percpu[0] <= sym.address < percpu[1]:
                return self._per_cpu(ctx, sym, cpuspec, radix)
        if cpuspec is not None:
            if sym is not None:
                out.append(f"WARNING: {sym.name} is not percpu; cpuspec ignored.\n")
                words[0] = first
        leader = sym.name if sym is not None and len(words) == 1 else None
        expression = " ".join(words)
        out.extend(self._print(ctx, expression, radix, leader, user=args.user))
        return out

    def render(self, ctx: CommandContext, data: list[str]) -> None:
        ctx.out.write("".join(data))

    # -- printing ----------------------------------------------------------------------------

    def _print(self, ctx: CommandContext, expression: str, radix: int | None,
               leader: str | None, value: Object | None = None, *,
               user: bool = False) -> list[str]:
        prog = ctx.session.prog
        command = f"p {expression}" if self.fmt is None else f"p/{self.fmt} {expression}"
        try:
            if value is None:
                value = evaluate_text(prog, expression, lambda name: self._name(ctx, name))
            text = format_print(ctx, value, self.fmt, radix, user=user)
        except EvalError:
            # crash shows only its own line; gdb's reason does not reach its output.
            raise CommandError(f"gdb request failed: {command}") from None
        except (drgn.FaultError, drgn.ObjectAbsentError) as err:
            address = getattr(err, "address", 0) or 0
            message = readmem_error(err, address, "KVADDR", "gdb_readmem_callback")
            ctx.out.write(f"p: {message}\n")
            raise CommandError(f"gdb request failed: {command}") from None
        line = f"${next_history_number(ctx.session, _kept(value))} = {text}\n"
        if leader is None:
            return [line]
        return _with_leader(leader, line)

    @staticmethod
    def _name(ctx: CommandContext, name: str) -> Object:
        if name.startswith("$"):
            return history_lookup(ctx.session, name)
        return lookup_variable(ctx.session.prog, name)

    def _per_cpu(self, ctx: CommandContext, sym: drgn.Symbol, cpuspec: str | None,
                 radix: int | None) -> list[str]:
        prog = ctx.session.prog
        offsets = prog["__per_cpu_offset"]
        ncpus = len(ctx.session.dump.cpus) or 1
        try:
            variable = lookup_variable(prog, sym.name)
        except EvalError:
            variable = None
        out: list[str] = []
        if cpuspec is None:
            out.append("PER-CPU DATA TYPE:\n  ")
            if variable is None:
                out.append(f"[undetermined type] {sym.name};\n")
            else:
                out.append(variable_declaration(variable.type_, sym.name) + "\n")
            out.append("PER-CPU ADDRESSES:\n")
            for cpu in range(ncpus):
                address = (sym.address + int(offsets[cpu])) & (1 << 64) - 1
                out.append(f"  [{cpu}]: {address:x}\n")
            return out
        current = ctx.session.context.cpu
        for cpu in cpus_of_spec(cpuspec, ncpus, current):
            address = (sym.address + int(offsets[cpu])) & (1 << 64) - 1
            if variable is not None:
                value = Object(prog, variable.type_, address=address)
                leader = f"per_cpu({sym.name}, {cpu})"
            else:
                value = Object(prog, "void *", address)
                leader = f"&per_cpu({sym.name}, {cpu})"
            out.extend(self._print(ctx, f"*{sym.name}", radix, leader, value))
        return out


def _kept(value: Object) -> Object | None:
    """The value as gdb keeps it in its history: read now, not re-read later."""
    try:
        return value.read_()
    except Exception:  # noqa: BLE001 - functions and unreadable values are not kept
        return None


def _with_leader(leader: str, line: str) -> list[str]:
    """crash's process_gdb_output: ``NAME = $N = ...``; a ``{`` that does not end the first
    line is moved to a line of its own."""
    lines = line.splitlines(keepends=True)
    first = lines[0]
    brace = first.find("{")
    if brace >= 0 and not first[brace:].startswith("{\n"):
        lines[0] = first[:brace] + "\n {" + first[brace + 1 :]
    return [f"{leader} = "] + lines


def variable_declaration(type_: drgn.Type, name: str) -> str:
    """crash's whatis_variable: ``TYPE NAME;`` built from gdb's ``whatis`` type text."""
    text = type_name(type_)
    if "[" in text:
        i = text.index("[")
        return f"{text[:i]}{name}{text[i:]};"
    if "(" in text:
        if text.count("(") == 1:
            i = text.index("(")
        else:
            i = text.index(")")
        return f"{text[:i]}{name}{text[i:]};"
    return f"{text}{'' if text.endswith('*') else ' '}{name};"


@register
class Print(_Print):
    name = "p"
    aliases = ("print",)


_FORMATS = ("x", "d", "u", "o", "t", "c", "a", "z")


def _format_command(letter: str) -> type[_Print]:
    return type(f"PrintFormat_{letter}", (_Print,), {
        "name": f"p/{letter}",
        "fmt": letter,
        "summary": f"print with gdb's /{letter} format",
        "__module__": __name__,
    })


_FORMAT_COMMANDS = {letter: register(_format_command(letter)) for letter in _FORMATS}


def _formatted(letter: str) -> _Print:
    cls = _FORMAT_COMMANDS.get(letter)
    if cls is None:
        raise CommandError(f"Undefined output format \"{letter}\".")
    return cls()
