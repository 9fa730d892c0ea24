"""pycrash.dwarf: the named top-level types of an object file, and gdb's view of their
fields, against C sources compiled here (DWARF 4 and 5, relocatable, compressed sections)
and against the sample vmlinux and module.

Expected values are the C facts of the sources below (sizes by the x86-64 ABI), not numbers
the reader produced.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pycrash import testing
from pycrash.dwarf import DwarfError, NamedType, TypeTable, named_types

SOURCE = r"""
typedef unsigned char tiny_t;
typedef unsigned int word_t;
struct node { struct node *next; long value; };
struct holder { struct node embedded; int count; };
union choice { struct node *pointer; short half; };
struct arrays { word_t words[4]; tiny_t flexible[]; };
enum color { RED, GREEN };
struct opaque;
struct with_anon_union { union { struct node *hidden; int other; }; };
struct matrix { struct node cells[2][3]; };
struct qualified { const volatile struct node *cv; void *untyped; };
struct holder holder_v; union choice choice_v; struct arrays arrays_v; enum color color_v;
struct opaque *opaque_p; struct with_anon_union anon_v; struct matrix matrix_v;
struct qualified qualified_v; tiny_t tiny_v; word_t word_v;
typedef struct holder holder;
enum later;
holder holder_t_v; enum later *later_p;
"""


def _compile(tmp_path: Path, dwarf: int, compress: bool = False) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "types.c"
    src.write_text(SOURCE)
    obj = tmp_path / f"types-{dwarf}.o"
    subprocess.run([gcc, "-c", "-O0", f"-gdwarf-{dwarf}", "-fno-eliminate-unused-debug-types",
                    "-o", str(obj), str(src)], check=True)
    if compress:
        objcopy = shutil.which("objcopy")
        if objcopy is None:
            pytest.skip("no objcopy")
        packed = tmp_path / f"types-{dwarf}-z.o"
        subprocess.run([objcopy, "--compress-debug-sections=zlib", str(obj), str(packed)],
                       check=True)
        return packed
    return obj


def _by_name(types: list[NamedType]) -> dict[tuple[str, str], NamedType]:
    return {(t.kind, t.name): t for t in types}


@pytest.mark.parametrize(("dwarf", "compress"), [(4, False), (5, False), (5, True)])
def test_compiled_types(tmp_path: Path, dwarf: int, compress: bool) -> None:
    table = TypeTable(str(_compile(tmp_path, dwarf, compress)))
    found = _by_name(table.types)
    assert found[("struct", "node")].size == 16
    assert found[("struct", "holder")].size == 24
    assert found[("union", "choice")].size == 8
    assert found[("struct", "arrays")].size == 16
    assert found[("enum", "color")].size == 4
    assert found[("base", "int")].size == 4
    assert found[("base", "long int")].size == 8
    # a declaration without a size is no gdb symbol
    assert ("struct", "opaque") not in found
    # gdb learns a typedef's length only as the element type of a sized array
    assert found[("typedef", "word_t")].resolved
    assert not found[("typedef", "tiny_t")].resolved
    assert found[("typedef", "tiny_t")].size is None

    def members(kind: str, name: str) -> frozenset[str]:
        return table.member_type_names(found[(kind, name)])

    assert members("struct", "node") == {"node", "long int"}
    # an embedded struct's fields count, and so does its own name
    assert members("struct", "holder") == {"node", "long int", "int"}
    assert members("union", "choice") == {"node", "short int"}
    assert members("struct", "arrays") == {"word_t", "tiny_t"}
    # an anonymous union is not searched; a two-dimensional array has no element name
    assert members("struct", "with_anon_union") == frozenset()
    assert members("struct", "matrix") == frozenset()
    # qualifiers do not hide the target's name; a pointer without a type points to void
    assert members("struct", "qualified") == {"node", "void"}
    assert members("enum", "color") == frozenset()


def test_module_is_relocated() -> None:
    """pycrash_test.ko is relocatable: its names are .rela.debug_info entries."""
    found = _by_name(named_types(str(testing.module_path())))
    # struct pycrash_item as pycrash_test.c declares it (72 bytes: see tests/commands)
    assert found[("struct", "pycrash_item")].size == 72
    assert found[("struct", "list_head")].size == 16


def test_vmlinux_core_types() -> None:
    found = _by_name(named_types(str(testing.vmlinux_path())))
    assert found[("struct", "list_head")].size == 16
    assert found[("struct", "rb_root_cached")].size == 16
    assert found[("struct", "rb_node")].size == 24
    assert found[("base", "char")].size == 1


def test_errors_are_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notelf"
    text.write_bytes(b"hello")
    with pytest.raises(DwarfError) as err:
        named_types(str(text))
    assert "\n" not in str(err.value) and "not a little-endian ELF64 file" in str(err.value)
    stripped = tmp_path / "stripped.o"
    obj = _compile(tmp_path, 5)
    subprocess.run([shutil.which("objcopy") or "objcopy", "--strip-debug", str(obj),
                    str(stripped)], check=True)
    with pytest.raises(DwarfError, match=r"no \.debug_info section$"):
        named_types(str(stripped))
    # a .debug_info cut in the middle of a unit
    data = bytearray(obj.read_bytes())
    from pycrash.elfsections import section_headers

    with open(obj, "rb") as f:
        info = next(h for h in section_headers(f) if h.name == ".debug_info")
    data[info.offset:info.offset + 4] = (info.size * 4).to_bytes(4, "little")
    cut = tmp_path / "cut.o"
    cut.write_bytes(bytes(data))
    with pytest.raises(DwarfError) as err:
        named_types(str(cut))
    assert "\n" not in str(err.value) and "past the end of the section" in str(err.value)


@pytest.mark.parametrize("dwarf", [4, 5])
def test_type_names_are_what_a_command_can_name(tmp_path: Path, dwarf: int) -> None:
    names = TypeTable(str(_compile(tmp_path, dwarf))).type_names()
    assert names["node"] == ("struct",)
    assert names["holder"] == ("struct", "typedef")  # struct holder, and the typedef
    assert names["choice"] == ("union",)
    assert names["color"] == ("enum",)
    assert names["word_t"] == names["tiny_t"] == ("typedef",)
    # base types; a struct and an enum declared without their bodies (no definition)
    for absent in ("int", "long int", "opaque", "later"):
        assert absent not in names


def test_walk_in_steps_is_the_whole_walk(tmp_path: Path) -> None:
    """One step per unit (a relocatable object of one source file has one compile unit)."""
    path = str(_compile(tmp_path, 5))
    steps = TypeTable.in_steps(path)
    count = 0
    with pytest.raises(StopIteration) as done:
        while True:
            next(steps)
            count += 1
    assert count == 1
    table = done.value.value
    assert isinstance(table, TypeTable)
    assert table.types == TypeTable(path).types
