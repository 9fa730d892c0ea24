"""gdb's quoting of characters and strings, as crash 8.0.6 shows them.

The expected texts are lines of crash's own output on the sample dumps (``struct task_struct``,
``p init_task.comm``) and gdb's documented rules (one trailing NUL dropped, 256 elements,
no ``<repeats>`` folding under crash's settings).
"""

from __future__ import annotations

from pycrash.format.cstring import quote_char, quote_string


def test_comm_with_trailing_nuls_keeps_all_but_the_terminator() -> None:
    # crash: p init_task.comm -> $1 = "swapper/0\000\000\000\000\000\000"
    assert quote_string(b"swapper/0".ljust(16, b"\0")) == '"swapper/0' + "\\000" * 6 + '"'


def test_full_array_without_nul_is_printed_whole() -> None:
    # crash: comm = "pycrash_sleeper" (15 characters and the NUL)
    assert quote_string(b"pycrash_sleeper\0") == '"pycrash_sleeper"'
    assert quote_string(b"abcd") == '"abcd"'


def test_empty_and_all_nul() -> None:
    assert quote_string(b"\0") == '""'
    assert quote_string(b"") == '""'
    # crash printed a 4096-byte all-zero __padding as 4095 "\000" and no ellipsis: gdb takes
    # a run of equal characters at once, then finds the end of the string.
    text = quote_string(bytes(4096))
    assert text == '"' + "\\000" * 4095 + '"'


def test_print_max_stops_between_runs_with_ellipsis() -> None:
    data = bytes(range(1, 200)) + bytes(range(1, 200))
    text = quote_string(data)
    assert text.endswith('"...')
    assert text.count("\\") + sum(1 for c in text if c.isprintable()) > 0
    # 256 characters are taken, one run at a time (all runs here have length 1).
    body = text[1:-4]
    assert body.startswith("\\001\\002")


def test_escapes() -> None:
    assert quote_string(b'a"b\\c\n\t\x1b\x7f\xff') == '"a\\"b\\\\c\\n\\t\\033\\177\\377"'
    assert quote_char(0) == "'\\000'"
    assert quote_char(ord("w")) == "'w'"
    assert quote_char(ord("'")) == "'\\''"
    assert quote_char(ord('"')) == "'\"'"
