"""p: gdb's print as crash shows it, checked against the sysrq manifest's ground truth."""

from __future__ import annotations

import re

import pytest

from pycrash import testing


@pytest.fixture(scope="module")
def manifest():
    return testing.manifest("sysrq")


def _history(text: str) -> int:
    return int(re.search(r"\$(\d+) = ", text).group(1))


def test_module_globals(run, manifest) -> None:
    globals_ = manifest["ground_truth"]["module_globals"]
    text = run("p -x pycrash_test_value")
    assert re.fullmatch(r"pycrash_test_value = \$\d+ = " + globals_["pycrash_test_value"] + "\n",
                        text)
    text = run("p pycrash_test_string")
    string = globals_["pycrash_test_string"]
    # char[64]: the string, then its NULs as gdb prints them (all but the terminator)
    assert text.endswith(' = "' + string + "\\000" * (63 - len(string)) + '"\n')


def test_history_numbers_increase(run) -> None:
    first = _history(run("p jiffies"))
    assert _history(run("p jiffies")) == first + 1


def test_banner_and_its_address(run, manifest) -> None:
    banner = manifest["kernel"]["banner"]
    text = run("p linux_banner")
    assert text.startswith("linux_banner = $")
    assert text.endswith(' = "' + banner.replace("\n", "\\n") + '"\n')
    address = manifest["placeholders"]["linux_banner"]
    text = run("p &linux_banner")
    assert text.endswith(f" = (const char (*)[{len(banner) + 1}]) {address} <linux_banner>\n")


def test_formats(run, manifest) -> None:
    panic = manifest["placeholders"]["panic_task"]
    pid = manifest["panic"]["pid"]
    assert run(f"p ((struct task_struct *){panic})->pid").endswith(f" = {pid}\n")
    assert run(f"p/x ((struct task_struct *){panic})->pid").endswith(f" = {pid:#x}\n")
    assert run(f"p -x ((struct task_struct *){panic})->pid").endswith(f" = {pid:#x}\n")
    # a char is printed with its character; p/x prints a char array element by element
    assert run("p init_task.comm[0]").endswith(" = 115 's'\n")
    assert run("p/x init_task.comm").endswith(" = {0x73, 0x77, 0x61, 0x70, 0x70, 0x65, 0x72, "
                                              "0x2f, 0x30, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0}\n")
    assert run("p sizeof(struct pycrash_item)").endswith(" = 72\n")


def test_pointers_carry_their_type_and_symbol(run, manifest) -> None:
    init_task = manifest["placeholders"]["init_task"]
    assert run("p init_task.parent").endswith(
        f" = (struct task_struct *) {init_task} <init_task>\n")
    # p/x drops gdb's C-isms: no type, no symbol
    assert run("p/x init_task.parent").endswith(f" = {init_task}\n")


def test_function_leader_line(run, manifest) -> None:
    # crash moves a '{' that does not end gdb's first line onto a line of its own
    text = run("p schedule")
    address = manifest["placeholders"]["schedule_addr"]
    assert re.fullmatch(r"schedule = \$\d+ = \n \{void \(void\)\} " + address + " <schedule>\n",
                        text)


def test_per_cpu(run) -> None:
    text = run("p runqueues")
    assert text.startswith("PER-CPU DATA TYPE:\n  struct rq runqueues;\nPER-CPU ADDRESSES:\n")
    addresses = re.findall(r"  \[(\d)\]: ([0-9a-f]+)\n", text)
    assert [int(cpu) for cpu, _ in addresses] == [0, 1]
    one = run("p runqueues:1")
    assert one.startswith("per_cpu(runqueues, 1) = $")
    assert "\n  cpu = 1,\n" in one


def test_value_history(run, manifest) -> None:
    pid = manifest["panic"]["pid"]
    task = manifest["placeholders"]["panic_task"]
    number = _history(run(f"p ((struct task_struct *){task})->pid"))
    assert run("p $").endswith(f"${number + 1} = {pid}\n")
    assert run(f"p ${number} + 1").endswith(f" = {pid + 1}\n")
    assert run("p $$2").endswith(f" = {pid}\n")


def test_output_radix_follows_set_radix(run, sample_session) -> None:
    session = sample_session()
    try:
        run("set radix 16")
        # radix 16 is gdb's output-radix: integers and chars in hex, strings stay strings
        assert run("p init_task.comm[0]").endswith(" = 0x73\n")
        assert run("p init_task.comm").endswith(' = "swapper/0' + "\\000" * 6 + '"\n')
        assert run("struct -o list_head").splitlines()[-1] == "SIZE: 0x10"
    finally:
        run("set radix 10")
        session.reset_user_state()
    assert run("p init_task.comm[0]").endswith(" = 115 's'\n")
