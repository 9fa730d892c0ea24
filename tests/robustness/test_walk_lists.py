"""The bounded walkers of pycrash.kernel.lists on the sample dump's own lists, intact and
damaged in memory (tests/robustness/overlay.py; the dump files are not touched).

Ground truth: the pycrash_test module's ``pycrash_items`` list (ids 1..5 in list order) and
``pycrash_tree`` rbtree (the same items keyed by id), as the sample manifest records them.
"""

from __future__ import annotations

import pytest
from overlay import overlay_session, u64

from pycrash import testing
from pycrash.kernel.lists import entries, hlist_walk, list_walk, rbtree_walk

UNMAPPED = 0xFFFFC90000000000  # vmalloc space start: nothing mapped there in the sample


@pytest.fixture(scope="module")
def damaged():
    session, overlay = overlay_session()
    yield session, overlay
    session.close()


@pytest.fixture(scope="module")
def truth():
    items = testing.manifest("sysrq")["ground_truth"]["items"]
    return [item["id"] for item in items], {item["id"]: item["name"] for item in items}


def _items(session, walk, member="node"):
    prog = session.prog
    return [int(e.id) for e in entries(prog, walk, "struct pycrash_item", member)]


def _nodes(session):
    """``{id: address of its list_head node}`` and the head's address, read intact."""
    prog = session.prog
    head = prog["pycrash_items"].address_
    walk = list_walk(session.dump, head)
    ids = _items(session, walk)
    nodes = dict(zip(ids, list_walk(session.dump, head), strict=True))
    return head, nodes


def test_intact_list_in_kernel_order(damaged, truth):
    session, _ = damaged
    walk = list_walk(session.dump, session.prog["pycrash_items"].address_)
    names = [e.name.string_().decode() for e in
             entries(session.prog, walk, "struct pycrash_item", "node")]
    ids, by_id = truth
    assert names == [by_id[i] for i in ids]
    assert walk.stopped is None and walk.count == len(ids)


def test_intact_rbtree_in_key_order(damaged, truth):
    session, _ = damaged
    walk = rbtree_walk(session.dump, session.prog["pycrash_tree"].address_)
    assert _items(session, walk, "rb") == sorted(truth[0])
    assert walk.stopped is None


def test_intact_hlist_of_a_pid(damaged):
    from drgn.helpers.linux.pid import find_pid

    session, _ = damaged
    prog = session.prog
    pid = find_pid(prog, 1)
    walk = hlist_walk(session.dump, pid.tasks[0].address_)
    tasks = list(entries(prog, walk, "struct task_struct", "pid_links[0]"))
    comm = next(p["comm"] for p in testing.manifest("sysrq")["ground_truth"]["processes"]
                if p["pid"] == 1)
    assert [t.comm.string_().decode() for t in tasks] == [comm]
    assert walk.stopped is None


def test_loop_not_through_the_head_stops_at_the_repeated_entry(damaged, truth):
    session, overlay = damaged
    head, nodes = _nodes(session)
    stops = []
    # item 4's next points back at item 2: 1 2 3 4 2 3 4 ... forever for a naive walker
    with overlay.patched({nodes[4]: u64(nodes[2])}):
        walk = list_walk(session.dump, head, on_stop=stops.append)
        assert _items(session, walk) == [1, 2, 3, 4]
    assert walk.stopped.kind == "loop" and walk.stopped.address == nodes[2]
    assert stops == [walk.stopped]
    assert f"{nodes[2]:x}" in walk.stopped.message()
    assert "\n" not in walk.stopped.message()


def test_entry_pointing_at_itself(damaged):
    session, overlay = damaged
    head, nodes = _nodes(session)
    with overlay.patched({nodes[1]: u64(nodes[1])}):
        walk = list_walk(session.dump, head)
        assert _items(session, walk) == [1]
    assert (walk.stopped.kind, walk.stopped.address, walk.stopped.count) == ("loop", nodes[1], 1)


@pytest.mark.parametrize(("pointer", "kind"), [
    (0, "null"),
    (0x4141414141414141, "invalid"),  # not a kernel address at all
    (UNMAPPED, "fault"),  # a kernel address no page table maps
])
def test_garbage_next_pointer_stops_at_the_entry_holding_it(damaged, pointer, kind):
    session, overlay = damaged
    head, nodes = _nodes(session)
    with overlay.patched({nodes[2]: u64(pointer)}):
        walk = list_walk(session.dump, head)
        assert _items(session, walk) == [1, 2]
    assert (walk.stopped.kind, walk.stopped.address) == (kind, nodes[2])
    if kind == "fault":  # the core's reason, e.g. "not mapped (PUD entry not present)"
        assert "not mapped" in walk.stopped.message()


def test_corrupt_head(damaged):
    session, overlay = damaged
    head, _ = _nodes(session)
    with overlay.patched({head: u64(0x4141414141414141)}):
        walk = list_walk(session.dump, head)
        assert list(walk) == []
    assert (walk.stopped.kind, walk.stopped.address) == ("invalid", head)


def test_bound_on_a_long_list(damaged):
    session, _ = damaged
    walk = list_walk(session.dump, session.prog["pycrash_items"].address_, limit=3)
    assert _items(session, walk) == [1, 2, 3]
    assert walk.stopped.kind == "limit"


def test_hlist_cycle(damaged):
    from drgn.helpers.linux.pid import find_pid

    session, overlay = damaged
    first = find_pid(session.prog, 1).tasks[0].first.value_()
    with overlay.patched({first: u64(first)}):  # pid_links[0].next -> itself
        walk = hlist_walk(session.dump, find_pid(session.prog, 1).tasks[0].address_)
        assert list(walk) == [first]
    assert (walk.stopped.kind, walk.stopped.address) == ("loop", first)


def test_rbtree_cycle_and_garbage_child(damaged):
    from drgn import container_of

    session, overlay = damaged
    prog = session.prog
    root_node = prog["pycrash_tree"].rb_node.value_()
    # struct rb_node: __rb_parent_color at 0, rb_right at 8, rb_left at 16
    leftmost = root_node
    while (left := session.dump.read_u64(leftmost + 16)) != 0:
        leftmost = left
    with overlay.patched({leftmost + 16: u64(root_node)}):  # leftmost's left -> the root
        walk = rbtree_walk(session.dump, prog["pycrash_tree"].address_)
        assert list(walk) == []
    assert (walk.stopped.kind, walk.stopped.address) == ("loop", root_node)
    with overlay.patched({root_node + 8: u64(UNMAPPED)}):  # root's right subtree unreadable
        walk = rbtree_walk(session.dump, prog["pycrash_tree"].address_)
        items = _items(session, walk, "rb")
    root_id = int(container_of(prog["pycrash_tree"].rb_node, "struct pycrash_item", "rb").id)
    # in order: the root's left subtree, the root, then its unreadable right child
    assert items == sorted(items) and items[-1] == root_id and len(items) < 5
    assert (walk.stopped.kind, walk.stopped.address) == ("fault", root_node)


def _execute(session, line: str) -> tuple[int, str, str]:
    import io

    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    status = Runner(session, registry, stdout=out, stderr=err).execute(line)
    return status, out.getvalue(), err.getvalue()


def test_list_command_on_a_loop_prints_what_it_could(damaged):
    session, overlay = damaged
    head, nodes = _nodes(session)
    offset = session.prog.type("struct pycrash_item").member("node").offset
    with overlay.patched({nodes[4]: u64(nodes[2])}):
        status, out, err = _execute(session, "list pycrash_item.node -H pycrash_items")
    # crash's recording of the intact list, cut where the loop starts
    intact = testing.crash_output("sysrq", "zlib31", "list pycrash_item.node -H pycrash_items",
                                  module_loaded=True).splitlines(keepends=True)
    assert status == 1 and out == "".join(intact[:4])
    assert err == f"pycrash: list: duplicate list entry: {nodes[2] - offset:x}\n"


def test_list_command_on_an_unreadable_entry(damaged):
    session, overlay = damaged
    head, nodes = _nodes(session)
    with overlay.patched({nodes[3]: u64(UNMAPPED)}):
        status, out, err = _execute(session, "list -H pycrash_items")
    assert status == 1 and out.split() == [f"{nodes[i]:x}" for i in (1, 2, 3)]
    assert err.count("\n") == 1 and f"{nodes[3]:x}" in err and "not mapped" in err


def test_tree_command_on_a_cycle_prints_what_it_could(damaged):
    session, overlay = damaged
    prog = session.prog
    root_node = prog["pycrash_tree"].rb_node.value_()
    left = session.dump.read_u64(root_node + 16)  # struct rb_node.rb_left
    line = "tree -t rbtree -o pycrash_item.rb pycrash_tree"
    intact = testing.crash_output("sysrq", "zlib31", line,
                                  module_loaded=True).splitlines(keepends=True)
    offset = prog.type("struct pycrash_item").member("rb").offset
    with overlay.patched({left + 16: u64(root_node)}):  # the root's left child's left -> root
        status, out, err = _execute(session, line)
    # pre-order: the root, its left child, then the root again
    assert status == 1 and out == "".join(intact[:2])
    assert err == f"pycrash: tree: duplicate tree entry: {root_node - offset:x}\n"


def test_list_plain_start_follows_pointers_to_structures(damaged):
    """``list -o 0 START``: START and each ``next`` it leads to, until START comes round
    again: the list_heads crash recorded for ``list -H pycrash_items``, then the head (whose
    address /proc/kallsyms recorded in the guest)."""
    session, _ = damaged
    recorded = testing.crash_output("sysrq", "zlib31", "list -H pycrash_items").split()
    head = testing.manifest("sysrq")["ground_truth"]["module_kallsyms"]["pycrash_items"]
    status, out, err = _execute(session, f"list -o 0 {recorded[0]}")
    assert status == 0, err
    assert out.split() == [*recorded, f"{int(head['address'], 16):x}"]


def test_tree_linear_order_is_key_order(damaged, truth):
    session, _ = damaged
    status, out, err = _execute(session, "tree -l -o pycrash_item.rb pycrash_tree "
                                         "-s pycrash_item.id")
    assert status == 0, err
    import re

    assert [int(i) for i in re.findall(r"id = (\d+),", out)] == sorted(truth[0])
