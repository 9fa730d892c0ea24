"""Completion candidates against the sysrq sample dump and its vmlinux.

Expected names come from outside pycrash: the kernel's source (members of struct
task_struct in 6.1), the guest's /proc/kallsyms and process list recorded in the manifest,
and crash's recorded output when the sample set has it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycrash import testing
from pycrash.api import Arg, Command, CommandRegistry, Complete
from pycrash.shell.completer import Candidates, PycrashCompleter


class _Struct(Command):
    name = "struct"
    arguments = (
        Arg("-o", action="store_true", help="show member offsets"),
        Arg("name", complete=Complete.TYPE),
        Arg("address", nargs="?", complete=Complete.EXPRESSION),
    )


class _P(Command):
    name = "p"
    arguments = (Arg("expression", nargs="+", complete=Complete.EXPRESSION),)


class _Whatis(Command):
    name = "whatis"
    arguments = (Arg("name", nargs="+", complete=Complete.TYPE),)


class _Sym(Command):
    name = "sym"
    arguments = (Arg("symbol", complete=Complete.SYMBOL),)


class _Ps(Command):
    name = "ps"
    arguments = (Arg("pid", nargs="*", complete=Complete.PID),)


class _Set(Command):
    name = "set"
    arguments = (Arg("task", nargs="*", complete=Complete.TASK),)


class _Extend(Command):
    name = "extend"
    arguments = (Arg("file", complete=Complete.FILE),)


def _registry() -> CommandRegistry:
    registry = CommandRegistry()
    for cls in (_Struct, _P, _Whatis, _Sym, _Ps, _Set, _Extend):
        registry.add(cls)
    return registry


@pytest.fixture(scope="module")
def session(sample_session):
    session = sample_session("sysrq")
    session.prog  # noqa: B018 - these tests are about completion once DWARF is loaded
    return session


@pytest.fixture(scope="module")
def candidates(session, tmp_path_factory) -> Iterator[Candidates]:
    with pytest.MonkeyPatch.context() as patch:
        # The type-name cache of these tests is their own.
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        found = Candidates(session, _registry(), wait=300)
        # A Tab waits only briefly for the type list: build it before the tests ask.
        index = found.types()
        assert index is not None and index.full_list(wait=300) is not None
        yield found


def texts(candidates: Candidates, line: str) -> list[str]:
    return [c.text for c in candidates.for_text(line)[1]]


# -- type names --------------------------------------------------------------------------


def test_struct_names_by_prefix(candidates: Candidates) -> None:
    found = texts(candidates, "struct task_")
    # include/linux/sched.h and sched/types.h (6.1)
    assert {"task_struct", "task_cputime"} <= set(found)
    assert found == sorted(found)
    assert all(name.startswith("task_") for name in found)


def test_names_stored_only_as_string_tails_are_found(candidates: Candidates, session) -> None:
    # The linker merges "list_head" into the tail of "hlist_head" in .debug_str: the name is
    # read at its DW_AT_name offset, inside the longer string.
    assert "list_head" in texts(candidates, "struct list_")
    assert "hlist_head" in texts(candidates, "struct hlist_")


def test_short_names_written_inline_are_found(candidates: Candidates) -> None:
    # gcc writes names of four characters or fewer inline in .debug_info.
    assert "page" in texts(candidates, "struct pag")
    assert "cred" in texts(candidates, "struct cre")
    assert "pid" in texts(candidates, "struct pi")


def test_non_types_are_not_offered(candidates: Candidates) -> None:
    # schedule() is a function and jiffies a variable, not types.
    assert "schedule" not in texts(candidates, "struct schedul")
    assert texts(candidates, "struct jiffies") == []


def test_type_completion_offers_typedefs_and_enums(candidates: Candidates) -> None:
    pairs = {c.text: c.meta for c in candidates.for_text("whatis pid_")[1]}
    assert pairs.get("pid_t") == "typedef"  # include/linux/types.h
    assert "enum" in pairs.get("pid_type", "")  # include/linux/pid.h: enum pid_type


def test_keyword_before_the_word_selects_the_kind(candidates: Candidates) -> None:
    assert "pid_type" in texts(candidates, "whatis enum pid_")
    assert "pid_t" not in texts(candidates, "whatis enum pid_")


def _crash_type_names(cmdline: str) -> set[str]:
    """The TYPE column of crash's recorded ``whatis -r``/``-m`` table, base types left out
    (gdb's names of C base types: "int", "long unsigned int", "_Bool", "char" ...)."""
    lines = testing.crash_output("sysrq", "zlib31", cmdline).splitlines()[1:]
    names = {line.split(None, 1)[1].strip() for line in lines}
    return {n for n in names if " " not in n and n not in _C_BASE_TYPES}


_C_BASE_TYPES = {"_Bool", "char", "int", "double", "float", "__int128"}


def test_bare_tab_lists_the_types_crash_lists(candidates: Candidates, session) -> None:
    """A bare Tab offers every struct, union, enum and typedef crash's ``whatis -r`` lists,
    and every struct or union of that size range is in crash's table."""
    offered = {c.text: c.meta for c in candidates.for_text("whatis ")[1]}
    for cmdline in ("whatis -r 3000-9000", "whatis -m rb_root_cached",
                    "whatis -r 16 -m list_head"):
        missing = _crash_type_names(cmdline) - set(offered)
        assert not missing, f"{cmdline}: not offered: {sorted(missing)}"
    # Sizes by drgn, not by the walk that made the list.
    from drgn import sizeof

    prog = session.prog
    in_range = {name for name, meta in offered.items() if meta in ("struct", "union")
                and 3000 <= sizeof(prog.type(f"{meta} {name}")) <= 9000}
    assert in_range == _crash_type_names("whatis -r 3000-9000") - {
        name for name, meta in offered.items() if meta not in ("struct", "union")}


def test_enum_declared_without_enumerators_is_not_offered(candidates: Candidates) -> None:
    # arch/x86/include/asm/kvm_host.h declares "enum x86_intercept_stage;" and no unit of
    # this kernel defines it: crash and drgn alike cannot resolve the name.
    assert texts(candidates, "whatis x86_intercept_s") == []


def test_list_not_ready_offers_the_typed_word_if_it_is_a_type(session, monkeypatch) -> None:
    """While the list is being built, a Tab answers for the word it has (drgn lookups)."""
    from pycrash.shell import typenames
    from pycrash.shell.names import Lazy

    release = threading.Event()
    monkeypatch.setattr(typenames, "file_type_names_lazy",
                        lambda path: Lazy(lambda: release.wait(300) and {}))
    index = typenames.TypeNameIndex(session.prog, [str(session.vmlinux_path)])
    try:
        assert index.matching("task_struct", wait=0.1) == [("task_struct", "struct")]
        assert index.matching("pid_t", ("struct",), wait=0.1) == []
        assert index.matching("task_", wait=0.1) == []
        assert index.matching("", wait=0.1) == []
    finally:
        release.set()


def test_every_offered_type_exists(candidates: Candidates, session) -> None:
    prog = session.prog
    for candidate in candidates.for_text("struct ta")[1]:
        kinds = candidate.meta.split("/")
        lookup = {"struct": "struct ", "union": "union ", "typedef": "", "enum": "enum "}
        prog.type(lookup[kinds[0]] + candidate.text)  # raises LookupError if wrong


# -- member paths ------------------------------------------------------------------------

# Members of struct task_struct in Linux 6.1 (include/linux/sched.h) that every config has.
TASK_STRUCT_MEMBERS = {"__state", "pid", "tgid", "comm", "se", "tasks", "mm", "stack", "flags"}


def _members(candidates: Candidates, line: str) -> set[str]:
    return {c.display for c in candidates.for_text(line)[1]}


def test_struct_member_path(candidates: Candidates) -> None:
    found = texts(candidates, "struct task_struct.")
    assert all(t.startswith("task_struct.") for t in found)
    assert TASK_STRUCT_MEMBERS <= {t.split(".", 1)[1] for t in found}


def test_struct_member_path_with_prefix(candidates: Candidates) -> None:
    assert texts(candidates, "struct task_struct.com") == ["task_struct.comm"]


def test_nested_member_path(candidates: Candidates) -> None:
    # struct sched_entity (include/linux/sched.h)
    assert {"vruntime", "exec_start", "on_rq", "load"} <= _members(
        candidates, "struct task_struct.se."
    )
    assert "task_struct.se.vruntime" in texts(candidates, "struct task_struct.se.vr")


def test_member_list_after_comma(candidates: Candidates) -> None:
    # crash's "struct task_struct.pid,comm": each listed name is a member of task_struct.
    assert texts(candidates, "struct task_struct.pid,com") == ["task_struct.pid,comm"]


def test_members_of_anonymous_unions_are_offered(candidates: Candidates) -> None:
    # struct page (include/linux/mm_types.h, 6.1): "lru" and "mapping" sit in an anonymous
    # union inside an anonymous struct.
    assert {"flags", "lru", "mapping"} <= _members(candidates, "struct page.")


def test_unknown_type_or_member_offers_nothing(candidates: Candidates) -> None:
    assert texts(candidates, "struct no_such_type.") == []
    assert texts(candidates, "struct task_struct.no_such_member.") == []


def test_first_word_member_path_runs_as_struct(candidates: Candidates) -> None:
    assert "task_struct.comm" in texts(candidates, "task_struct.co")


def test_first_word_symbol_member_runs_as_p(candidates: Candidates) -> None:
    # An unknown first word naming a symbol runs as "p": init_task is a struct task_struct.
    assert texts(candidates, "init_task.com") == ["init_task.comm"]


# A member line of crash's "struct -o NAME": "   [912] pid_t pid;", "[8] void (*func)(...);",
# "[836] unsigned int in_execve : 1;"; members of anonymous structs/unions are listed too.
_CRASH_MEMBER = re.compile(
    r"^\s*\[\d+\]\s+(?:.*\(\*(\w+)\)\(.*\)|.*?(\w+)(?:\[\d*\])*(?:\s*:\s*\d+)?);$"
)


def test_member_path_matches_crash_struct_output(candidates: Candidates) -> None:
    """``struct NAME.<TAB>`` offers exactly the members crash's ``struct -o NAME`` prints,
    in the same order (anonymous struct/union members included)."""
    if not _has_recordings():
        pytest.skip("crash recordings of the sample dumps are not committed yet")
    # Lines of the "mod" set were recorded after "mod -s pycrash_test" (module types).
    recorded = [
        (line, module_loaded)
        for module_loaded in (False, True)
        for line in testing.crash_commands("sysrq", "zlib31", module_loaded=module_loaded)
        if re.fullmatch(r"(struct|union) -o \w+", line)
    ]
    assert recorded, "the recordings should have struct -o / union -o lines"
    for line, module_loaded in recorded:
        name = line.split()[-1]
        text = testing.crash_output("sysrq", "zlib31", line, module_loaded=module_loaded)
        crash_members = []
        for out_line in text.splitlines():
            match = _CRASH_MEMBER.match(out_line)
            if match:
                crash_members.append(match.group(1) or match.group(2))
        assert crash_members, f"no members parsed from crash's {line!r}"
        offered = [c.display for c in candidates.for_text(f"struct {name}.")[1]]
        assert offered == crash_members, line


def _has_recordings() -> bool:
    try:
        testing.crash_commands("sysrq", "zlib31")
    except (KeyError, FileNotFoundError):
        return False
    return True


def _module_struct_members(name: str) -> list[str]:
    """Member names of ``struct NAME`` as the test module's C source declares them."""
    source = (testing.sample_root() / "module" / "pycrash_test.c").read_text()
    body = re.search(rf"^struct {name} {{\n(.*?)^}};", source, re.MULTILINE | re.DOTALL)
    assert body, f"struct {name} not in the module source"
    return re.findall(r"(\w+)(?:\[\w*\])?;", body.group(1))


def test_module_types_and_members(candidates: Candidates) -> None:
    """Types of a module's own debuginfo (pycrash_test.ko) complete like the kernel's."""
    assert "pycrash_item" in texts(candidates, "struct pycrash_")
    expected = _module_struct_members("pycrash_item")
    assert expected == ["id", "name", "node", "rb", "value"]  # the source's declaration order
    assert [c.display for c in candidates.for_text("struct pycrash_item.")[1]] == expected


# -- expressions -------------------------------------------------------------------------


def test_expression_members_of_a_symbol(candidates: Candidates) -> None:
    assert texts(candidates, "p init_task.com") == ["init_task.comm"]
    assert "&init_task.se.vruntime" in texts(candidates, "p &init_task.se.vr")


def test_expression_follows_pointers(candidates: Candidates) -> None:
    # init_task.active_mm is a struct mm_struct *; mm_struct has pgd.
    assert "init_task.active_mm->pgd" in texts(candidates, "p init_task.active_mm->pg")


def test_expression_symbols(candidates: Candidates) -> None:
    found = texts(candidates, "p jiffies")
    assert {"jiffies", "jiffies_64"} <= set(found)


# -- symbols -----------------------------------------------------------------------------


def _system_map_names(prefix: str) -> set[str]:
    names = set()
    for line in testing.system_map_path().read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].startswith(prefix):
            names.add(parts[2])
    return names


def test_symbols_match_system_map(candidates: Candidates) -> None:
    """Every System.map name starting with "sched_" is offered (the build's own list)."""
    expected = _system_map_names("sched_")
    assert len(expected) > 10
    assert expected <= set(texts(candidates, "sym sched_"))


def test_symbols_include_the_guest_kallsyms(candidates: Candidates) -> None:
    for name in testing.manifest("sysrq")["ground_truth"]["kallsyms"]:
        assert name in texts(candidates, f"sym {name[:-1]}"), name


# -- tasks -------------------------------------------------------------------------------


def test_pids_match_the_guest_process_list(candidates: Candidates) -> None:
    processes = testing.manifest("sysrq")["ground_truth"]["processes"]
    expected = {str(p["pid"]) for p in processes}
    found = texts(candidates, "ps ")
    assert expected <= set(found)
    assert all(t.isdigit() for t in found)
    assert [int(t) for t in found] == sorted(int(t) for t in found)


def test_idle_tasks_are_offered_as_crash_lists_them(candidates: Candidates) -> None:
    # crash's task list has one idle task (PID 0, "swapper/N") per CPU.
    cpus = testing.manifest("sysrq")["cpus"]
    assert "0" in texts(candidates, "ps ")
    assert {f"swapper/{n}" for n in range(cpus)} == set(texts(candidates, "set swapper/"))


def test_task_completion_offers_comms(candidates: Candidates) -> None:
    processes = testing.manifest("sysrq")["ground_truth"]["processes"]
    kthreadd = next(p for p in processes if p["comm"] == "kthreadd")
    found = {c.text: c.meta for c in candidates.for_text("set kthr")[1]}
    assert found.get("kthreadd") == f"pid {kthreadd['pid']}"


# -- options, commands, files --------------------------------------------------------------


def test_options_and_command_names(candidates: Candidates) -> None:
    assert texts(candidates, "struct -") == ["-o"]
    assert texts(candidates, "wha") == ["whatis"]


def test_file_completion_through_prompt_toolkit(session, tmp_path: Path) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    (tmp_path / "plugin_one.py").write_text("")
    completer = PycrashCompleter(session, _registry())
    line = f"extend {tmp_path}/plug"
    found = list(
        completer.get_completions(Document(line), CompleteEvent(completion_requested=True))
    )
    assert [c.text for c in found] == ["in_one.py"]


def test_symbols_without_vmlinux_come_from_vmcoreinfo() -> None:
    """With no vmlinux at all, the dump's VMCOREINFO SYMBOL() names still complete."""
    from pycrash.core import open_dump

    dump = open_dump(testing.dump_paths("sysrq", "zlib31")[0])

    class NoVmlinux:
        vmlinux_path = None
        prog_loaded = False
        vmcoreinfo = dump.vmcoreinfo

    try:
        expected = set(re.findall(r"^SYMBOL\((\w+)\)=", dump.vmcoreinfo.raw, re.MULTILINE))
        assert {"init_uts_ns", "swapper_pg_dir"} <= expected  # kernel/crash_core.c exports
        found = Candidates(NoVmlinux(), _registry(), wait=300)
        assert set(texts(found, "sym ")) == expected
        assert texts(found, "struct task_") == []
    finally:
        close = getattr(dump, "close", None)
        if close:
            close()


# -- before DWARF is loaded ----------------------------------------------------------------


def test_completion_never_loads_dwarf() -> None:
    from pycrash.session import open_session

    fresh = open_session(testing.dump_paths("sysrq", "zlib31"), testing.vmlinux_path())
    try:
        found = Candidates(fresh, _registry(), wait=300)
        assert texts(found, "struct task_") == []
        assert texts(found, "struct task_struct.") == []
        assert texts(found, "ps ") == []
        # Symbols still complete, from the vmlinux ELF symbol table.
        assert "jiffies_64" in texts(found, "sym jiffies")
        assert not fresh.prog_loaded
    finally:
        fresh.close()
