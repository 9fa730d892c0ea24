"""``irq``: interrupt descriptors and counts against the guest and crash's recordings."""

from __future__ import annotations

import io
import json
import re

import pytest

from pycrash import testing
from pycrash.testing import primary_crash_output as _recorded  # fails if not recorded

SCENARIOS = testing.scenarios()
_STATS = re.compile(r"^\s*(\d+):((?:\s+\d+)+)\s+(\S+)\s+(\S+)$", re.M)



@pytest.mark.parametrize("scenario", SCENARIOS)
def test_irq_s_has_the_guest_cpus_and_console(scenario: str, run) -> None:
    manifest = testing.manifest(scenario)
    text = run("irq -s", scenario)
    header = text.splitlines()[0].split()
    assert header == [f"CPU{cpu}" for cpu in range(manifest["cpus"])]
    names = {row[3] for row in _STATS.findall(text)}
    # the guest's console is the 8250 UART (console=ttyS0); the i8042 keyboard controller
    assert "ttyS0" in manifest["guest"]["cmdline"]
    assert {"ttyS0", "i8042", "timer"} <= names


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_irq_s_c_is_crash_column_of_that_cpu(scenario: str, run) -> None:
    crash = _recorded(scenario, "irq -s")
    want = "           CPU1 \n" + "".join(
        f"{int(irq):3d}: {int(counts.split()[1]):10d}{line[line.index(counts) + len(counts):]}\n"
        for line in crash.splitlines()[1:]
        for irq, counts, _chip, _name in _STATS.findall(line)
    )
    assert run("irq -s -c 1", scenario) == want


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_irq_lists_every_irq_and_names_crash_in_use_ones(scenario: str, run) -> None:
    text = run("irq", scenario)
    lines = text.splitlines()
    assert lines[0] == " IRQ   IRQ_DESC/_DATA      IRQACTION      NAME"
    named = {int(m[0]): m[1] for m in re.findall(r'^\s*(\d+)\s+[0-9a-f]{16}\s+[0-9a-f]{16}'
                                                 r'\s+"(.*)"$', text, re.M)}
    crash = {int(irq): name for irq, _, _, name in _STATS.findall(_recorded(scenario, "irq -s"))}
    assert named == crash
    numbers = [int(line.split()[0]) for line in lines[1:]]
    assert numbers == list(range(len(numbers)))
    in_use = [int(line.split()[0]) for line in run("irq -u", scenario).splitlines()[1:]]
    assert set(crash) <= set(in_use) < set(numbers)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_irq_a_lists_crash_in_use_irqs_with_guest_cpus(scenario: str, run) -> None:
    lines = run("irq -a", scenario).splitlines()
    assert lines[0] == "IRQ NAME                 AFFINITY"
    crash = {int(irq): name for irq, _, _, name in _STATS.findall(_recorded(scenario, "irq -s"))}
    rows = {int(line[:3]): line[4:24].rstrip() for line in lines[1:]}
    assert rows == crash
    cpus = testing.manifest(scenario)["cpus"]
    for line in lines[1:]:
        for part in line[25:].split(","):
            low, _, high = part.partition("-")
            assert 0 <= int(low) <= int(high or low) < cpus


def test_irq_b_names_the_timer_softirq(run) -> None:
    text = run("irq -b", "oops")
    assert text.splitlines()[0] == "SOFTIRQ_VEC      ACTION     "
    # include/linux/interrupt.h: TIMER_SOFTIRQ = 1, run by run_timer_softirq()
    assert re.search(r"^    \[1\]     [0-9a-f]{16}  <run_timer_softirq>$", text, re.M)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_irq_d_has_the_exception_vectors(scenario: str, run) -> None:
    lines = run("irq -d", scenario).splitlines()
    assert [int(re.match(r"\s*\[(\d+)\]", line).group(1)) for line in lines] == list(range(256))
    # arch/x86/include/asm/trapnr.h: X86_TRAP_DE 0, X86_TRAP_NMI 2, X86_TRAP_PF 14; their
    # idtentry stubs are asm_exc_<name> (arch/x86/include/asm/idtentry.h, 5.8+)
    assert lines[0] == "  [0] asm_exc_divide_error"
    assert lines[2] == "  [2] asm_exc_nmi"
    assert lines[14] == " [14] asm_exc_page_fault"


def test_irq_json_has_the_descriptors(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out = io.StringIO()
    assert Runner(sample_session("live"), registry, stdout=out, json=True).execute(
        "irq -s") == 0
    rows = json.loads(out.getvalue())
    crash = [(int(irq), [int(c) for c in counts.split()], chip, name)
             for irq, counts, chip, name in _STATS.findall(_recorded("live", "irq -s"))]
    assert [(r["irq"], [r["counts"]["0"], r["counts"]["1"]],
             f"{r['chip']}-{r['flow']}", r["actions"][0]["name"]) for r in rows] == crash


@pytest.mark.parametrize(("command", "word"), [
    ("irq 100000", "invalid IRQ value: 100000"),
])
def test_irq_refusals_are_one_line(sample_session, command: str, word: str) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    assert Runner(sample_session("sysrq"), registry, stdout=out, stderr=err).execute(
        command) == 1
    message = (out.getvalue() + err.getvalue()).strip()
    assert len(message.splitlines()) == 1 and word in message
