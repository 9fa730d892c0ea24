"""crash's editing of gdb's text for ``struct``/``union``/``whatis``.

crash never lays out a structure itself: it lets gdb print the whole value or declaration and
then edits the text line by line (``symbols.c``).  These functions reproduce those edits on the
text :mod:`pycrash.format.value` and :mod:`pycrash.format.ctype` produce, quirks included:

* :func:`pick_member` (crash's ``parse_for_member``): the lines of one member of a printed
  struct, found by the text ``"  NAME "``; a scalar member keeps gdb's trailing comma;
* :func:`pick_member_path` (``parse_for_member_extended``): the same for ``a.b`` and ``a[2]``;
* :func:`offset_line` (``show_member_offset``): a declaration line prefixed by ``[offset]``,
  right-aligned in a column as wide as the printed size plus four.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

__all__ = ["OffsetState", "offset_line", "pick_member", "pick_member_path"]


def _lead(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def pick_member(lines: list[str], member: str) -> list[str]:
    """crash's parse_for_member(PARSE_FOR_DATA) over the lines (each ending in ``\\n``)."""
    look1 = f"  {member} "
    look2 = f"  {member}["
    out: list[str] = []
    indent = 0
    on = 0
    embed = 0
    i = 0
    n = len(lines)
    while True:
        array = False
        while i < n:
            buf = lines[i]
            i += 1
            lead = _lead(buf)
            if (embed and lead == embed) or ("}}" in buf and embed == lead - 2):
                embed = 0
            if not on and not embed and "= {" in buf and look1 not in buf:
                embed = lead
            if embed:
                continue
            if look1 in buf or look2 in buf:
                on += 1
                if "= {" in buf:
                    indent = lead
                if "[" in buf:
                    array = True
            if on:
                if (indent and on > 1 and lead == indent and "}" not in buf) or buf.startswith(
                    "}"
                ):
                    break
                if indent and on > 1 and indent == lead - 2 and "}}" in buf:
                    out.append(buf)
                    break
                if not indent:
                    out.append(buf.replace(", \n", "\n", 1))
                    break
                if "}" in buf and lead == indent:
                    out.append(buf.replace("}, \n", "}\n", 1))
                    break
                out.append(buf)
                on += 1
        if not array:
            return out
        on = 0


# -- parse_for_member_extended -----------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class _Node:
    parent: _Node | None = None
    name: str = ""
    value: str = ""
    array_root: bool = False
    inner: _Node | None = None
    next: _Node | None = None


def _right_brace(text: str) -> int:
    """crash's is_right_brace: 1 for ``}``, 2 for ``}}`` (optionally with a comma), else 0."""
    body = text.lstrip(" ")
    count = 0
    if body.startswith("}"):
        count = 2 if body.startswith("}}") else 1
        body = body[count:]
    if body.startswith(","):
        body = body[1:]
    return count if body == "" else 0


def _build_tree(lines: list[str]) -> _Node:
    root = _Node()
    current: _Node | None = root

    def inner() -> None:
        nonlocal current
        assert current is not None
        current.inner = _Node(parent=current)
        current = current.inner

    def next_() -> None:
        nonlocal current
        assert current is not None
        current.next = _Node(parent=current.parent)
        current = current.next

    inner()
    for raw in lines:
        buf = raw.rstrip()
        comma = buf.endswith(",")
        if comma:
            buf = buf[:-1]
        braces = _right_brace(buf)
        if braces:
            for _ in range(braces):
                if current is None:
                    break
                current = current.parent
            if current is not None and (current.parent is root or comma):
                next_()
            continue
        stripped = buf.lstrip(" ")
        eq = buf.find(" = ")
        element = buf[eq + 3 :] if eq >= 0 else stripped
        if current is not None and eq >= 0:
            current.name = buf[len(buf) - len(stripped) : eq]
        if current is None:
            continue
        if eq >= 0 and (not element.startswith("{") or buf.endswith("}")):
            current.value = element
            if comma:
                next_()
        elif element.startswith("{"):
            inner()
            if element[1:2] == "{":
                assert current.parent is not None
                current.parent.array_root = True
                inner()
        elif "}, {" in element:
            current = current.parent
            if current is not None:
                next_()
                inner()
        elif buf.startswith("struct "):
            head = buf[7:]
            current.name = head[: head.find(" {")] if " {" in head else head
            inner()
    return root


_INDEX = re.compile(r"\[(\d+)\]")


def _find(node: _Node | None, path: str) -> _Node | None:
    if not path or node is None:
        return node
    dot = path.find(".")
    head_end = len(path) if dot < 0 else dot
    bracket = path.find("[", 0, head_end)
    name_end = head_end if bracket < 0 else bracket
    name = path[:name_end]
    first = node
    s: _Node | None = node
    while s is not None:
        if s.name and s.name == name:
            if s.array_root and bracket < 0 and dot >= 0:
                return None
            if bracket >= 0:
                match = _INDEX.match(path, bracket)
                if not s.array_root or match is None:
                    return None
                index = int(match.group(1))
                s = s.inner
                while s is not None and index:
                    s = s.next
                    index -= 1
                if index or s is None:
                    return None
            if dot < 0:
                return s
            return _find(s.inner, path[dot + 1 :])
        s = s.next
    # Not found by name: look inside anonymous structs and unions.
    s = first
    while s is not None:
        if not s.name:
            found = _find(s.inner, path)
            if found is not None:
                return found
        s = s.next
    return None


def _dump(node: _Node | None, label: str | None, level: int, is_array: bool,
          out: list[str]) -> None:
    if node is None:
        return

    def put(m: int, text: str) -> None:
        out.append(" " * (2 + 2 * (m * int(is_array) + level)) + text)

    p: _Node | None = node
    while True:
        assert p is not None
        if p.inner is not None:
            opener = "{{" if p.inner.array_root else "{"
            if p.name:
                put(1, f"{label or p.name} = {opener}\n")
            else:
                if label:
                    put(1, f"{label} = ")
                put(1, f"{opener}\n")
            _dump(p.inner, None, int(is_array) + level + 1, p.inner.array_root, out)
            closer = "}}" if p.inner.array_root else "}"
            comma = "," if p.next is not None and not p.next.array_root else ""
            put(1, f"{closer}{comma}\n")
        else:
            put(1, f"{label or p.name} = {p.value}{',' if p.next is not None else ''}\n"
                if p.next is not None else f"{label or p.name} = {p.value}\n")
        if not level:
            break
        p = p.next
        if p is not None and p.array_root:
            put(0, "}, {\n")
        if p is None:
            break


def pick_member_path(lines: list[str], path: str) -> list[str] | None:
    """crash's parse_for_member_extended: the lines of ``a.b.c`` / ``a[1].b``; None if absent."""
    root = _build_tree(lines)
    item = root.inner
    while item is not None:
        found = _find(item.inner, path)
        if found is not None:
            out: list[str] = []
            _dump(found, path, 0, False, out)
            return out
        item = item.next
    return None


# -- show_member_offset ------------------------------------------------------------------------


@dataclasses.dataclass
class OffsetState:
    """What crash's show_member_offset carries from line to line."""

    size_text: str  # the struct's size as it will be printed ("6464" or "0x1940")
    hex: bool = False
    vaddr: int | None = None  # with an address: show member addresses instead of offsets
    member: str | None = None  # only show this member
    in_union: bool = False
    in_struct: bool = False


_REPLACE = str.maketrans({c: " " for c in "*[];()"})


def _target(line: str) -> str | None:
    words = line.split()
    if not words:
        return None
    target = None
    if ":" in line:
        for i, word in enumerate(words):
            if i and word == ":":
                target = words[i - 1]
                break
    else:
        found = False
        if "(*" in line:
            for word in words:
                for prefix in ("(*", "*(*", "**(*"):
                    if word.startswith(prefix):
                        rest = word[len(prefix) :]
                        if ")" in rest:
                            target = rest[: rest.find(")")]
                            found = True
                        break
                if found:
                    break
        if not found:
            target = words[-1]
            if ";" not in target:
                target = None
    if target is None:
        return None
    cleaned = target.translate(_REPLACE).strip()
    return cleaned.split(" ")[0] if cleaned else ""


def offset_line(line: str, state: OffsetState, offset_of: Callable[[str], int | None]
                ) -> str | None:
    """One declaration line with crash's ``[offset]`` column; None when crash omits it."""
    if not line.startswith("    "):
        return f"rejecting: {line}"
    if line.startswith("    union {"):
        state.in_union = True
    if line.startswith("    struct {"):
        state.in_struct = True
    end_of_block = line.startswith("    } ")
    width = len(state.size_text) + 4
    target = _target(line)
    offset = offset_of(target) if target else None
    if offset is None:
        if end_of_block:
            state.in_union = state.in_struct = False
        if state.member:
            return None
        return " " * (len(state.size_text) + 1) + line
    if state.member and state.member != target:
        if end_of_block:
            state.in_union = state.in_struct = False
        return None
    text = ""
    if end_of_block and state.member:
        text += " " * (width + 1)
        if state.in_union and not state.in_struct:
            text += "union {\n"
        elif state.in_struct and not state.in_union:
            text += "struct {\n"
        state.in_union = state.in_struct = False
    if state.vaddr is not None:
        column = f"  [{offset + state.vaddr:x}]"
    else:
        column = f"  [0x{offset:x}]" if state.hex else f"  [{offset}]"
    return text + column.rjust(width) + line[3:]
