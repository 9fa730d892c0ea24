"""struct / union / *: checked against the sysrq manifest's ground truth, the test module's
source and crash 8.0.6's layout rules (its recorded output where the recording exists)."""

from __future__ import annotations

import re

import pytest

from pycrash import testing


@pytest.fixture(scope="module")
def manifest():
    return testing.manifest("sysrq")


def test_member_list_keeps_gdb_commas(run, manifest) -> None:
    task = manifest["placeholders"]["panic_task"]
    panic = manifest["panic"]
    text = run(f"struct task_struct.pid,comm {task}")
    comm = '"' + panic["comm"] + "\\000" * (15 - len(panic["comm"])) + '"'
    # crash prints each scalar member as gdb printed it inside the struct: with its comma.
    assert text == f"  pid = {panic['pid']},\n  comm = {comm},\n"


def test_whole_struct_layout(run, manifest) -> None:
    sleeper = manifest["placeholders"]["sleeper_task"]
    text = run(f"struct task_struct {sleeper}")
    lines = text.splitlines()
    assert lines[0] == "struct task_struct {"
    assert lines[1] == "  thread_info = {"
    assert lines[-1] == "}"
    assert f"  pid = {manifest['ground_truth']['sleeper_pid']}," in lines
    assert '  comm = "pycrash_sleeper",' in lines
    # gdb's pretty printing: nested members two spaces deeper, closing braces line up.
    depth = 0
    for line in lines[1:-1]:
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if body.startswith("}"):
            # "}", "}, {" and "}}" (an array of structs) close one level further out
            assert indent == 2 + 2 * (depth - 1), line
            depth -= 2 if body.startswith("}}") else 0 if body.endswith("{") else 1
            continue
        assert indent == 2 + 2 * depth, line
        if body.endswith("{{"):
            depth += 2  # an array of structs: elements are printed one level deeper
        elif body.endswith("{"):
            depth += 1


def test_module_items_from_the_list(run, manifest) -> None:
    """The first pycrash_item on pycrash_items matches the module's recorded items."""
    first = manifest["ground_truth"]["items"][0]
    head = run("p -x pycrash_items.next")
    address = int(re.search(r"0x([0-9a-f]+)", head).group(1), 16)
    item = address - 24  # offsetof(struct pycrash_item, node): int id; char name[16]
    text = run(f"struct -x pycrash_item {item:x}")
    assert f"  id = 0x{first['id']:x}," in text
    assert f'  name = "{first["name"]}' in text
    assert f"  value = {first['value']}" in text
    assert run(f"struct pycrash_item.name,value {item:x}") == (
        f'  name = "{first["name"]}' + "\\000" * (15 - len(first["name"])) + '",\n'
        f"  value = {int(first['value'], 16)}\n"
    )


def test_definition_and_offsets(run) -> None:
    assert run("struct list_head") == (
        "struct list_head {\n    struct list_head *next;\n    struct list_head *prev;\n}\n"
        "SIZE: 16\n"
    )
    # pycrash_item (the module source): int id; char name[16]; struct list_head node; ...
    assert run("struct -o pycrash_item") == (
        "struct pycrash_item {\n"
        "   [0] int id;\n"
        "   [4] char name[16];\n"
        "  [24] struct list_head node;\n"
        "  [40] struct rb_node rb;\n"
        "  [64] u64 value;\n"
        "}\n"
        "SIZE: 72\n"
    )
    assert run("struct -x -o pycrash_item").splitlines()[3] == "  [0x18] struct list_head node;"
    assert run("struct pycrash_item.rb") == "struct pycrash_item {\n  [40] struct rb_node rb;\n}\n"


def test_offsets_with_an_address_show_member_addresses(run, manifest) -> None:
    task = int(manifest["placeholders"]["panic_task"], 16)
    lines = run(f"struct -o task_struct {task:x}").splitlines()
    assert lines[1] == f"  [{task:x}] struct thread_info thread_info;"


def test_count_and_cpuspec(run) -> None:
    two = run("struct list_head init_task 2")
    assert two.count("struct list_head {") == 2 and "\n\n" in two
    cpus = run("struct rq.cpu runqueues:a")
    for cpu, block in enumerate(re.findall(r"\[(\d+)\]: [0-9a-f]+\n  cpu = (\d+),", cpus)):
        assert int(block[0]) == cpu and int(block[1]) == cpu


def test_errors(run) -> None:
    from io import StringIO

    from conftest import open_sample

    from pycrash.api import registry
    from pycrash.runner import Runner

    err = StringIO()
    Runner(open_sample(), registry, stdout=StringIO(), stderr=err).execute("union list_head")
    assert err.getvalue() == "pycrash: union: data type mismatch: list_head is not a union\n"
    assert run("struct list_head nosuch_symbol") == (
        "symbol not found: nosuch_symbol\npossible alternatives:\n  (none found)\n"
    )


def test_dereference_pointer_members(run, manifest) -> None:
    task = manifest["placeholders"]["panic_task"]
    lines = run(f"struct -p task_struct.sched_class,comm {task}").splitlines()
    # the panic task is an ordinary (CFS) task: its class is the fair_sched_class variable
    assert re.fullmatch(r"  const struct sched_class \*sched_class = 0x[0-9a-f]+", lines[0])
    assert lines[1] == "  -> <fair_sched_class> {"
    assert lines[2].startswith("       enqueue_task = 0x") and "<enqueue_task_fair>" in lines[2]
    assert lines[-2] == "     }"
    assert lines[-1].startswith(f'  comm = "{manifest["panic"]["comm"]}')


def test_raw_member_is_one_unit_of_its_size(run, manifest) -> None:
    task = int(manifest["placeholders"]["panic_task"], 16)
    pid = manifest["panic"]["pid"]
    offset = int(run("struct task_struct.pid").split("[")[1].split("]")[0])
    line = run(f"struct -r task_struct.pid {task:x}")
    text = pid.to_bytes(4, "little").decode("latin-1")
    shown = "".join(c if 0x20 <= ord(c) < 0x7F else "." for c in text)
    assert line == f"{task + offset:16x}:  {pid:08x}" + " " * 30 + shown + "\n"


def test_dumpfile_offset(run) -> None:
    """struct -f prints the dump file's bytes at an offset: the kdump header there."""
    import struct as binary

    path = testing.dump_paths("sysrq", "zlib31")[0]
    with open(path, "rb") as f:
        f.seek(0x10)
        next_, prev = binary.unpack("<QQ", f.read(16))
    expected = f"struct list_head {{\n  next = {next_:#x},\n  prev = {prev:#x}\n}}\n"
    assert run("struct -f list_head 0x10") == expected
    # crash reads the offset with stoll: decimal when it can be
    assert run("struct -f list_head 16") == expected


def test_dumpfile_offset_past_the_end() -> None:
    from io import StringIO

    from conftest import open_sample

    from pycrash.api import registry
    from pycrash.runner import Runner

    end = testing.dump_paths("sysrq", "zlib31")[0].stat().st_size
    err = StringIO()
    status = Runner(open_sample("sysrq", "zlib31"), registry, stdout=StringIO(),
                    stderr=err).execute(f"struct -f list_head {end - 8:#x}")
    assert status == 1
    assert err.getvalue() == (f"pycrash: struct: read error: dumpfile address: {end - 8:x}  "
                              'type: "gdb_readmem_callback"\n')
