"""``tree -t rbtree``: a red-black tree's entries in crash's order (pre-order: a node, its
left subtree, its right subtree), on pycrash's bounded walker::

    tree -t rbtree -o pycrash_item.rb pycrash_tree -s pycrash_item.id,name
    tree -t rbtree -o pycrash_item.rb -p pycrash_tree       # with each node's position
    tree -t rbtree -o pycrash_item.rb -N 0xffff888003bd928   # start at a node

A loop or an unreadable node ends the walk after the entries it could print, with one line
saying where.  Radix trees and xarrays (crash's ``-t radix``/``-t xarray``) are not walked yet.
"""

from __future__ import annotations

import argparse

from pycrash.commands.list import address_argument, entry_lines, offset_argument

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.kernel.lists import WalkStop, rbtree_preorder_walk, rbtree_walk


@register
class Tree(Command):
    name = "tree"
    summary = "tree"
    synopsis = ("[-t rbtree] [-r offset] [-o offset] [-s struct[.member[,member]]] [-l|-p] [-N] "
                "[-x|-d] start")
    description = (
        "  Walks a red-black tree (start is a struct rb_root, or with -N a struct rb_node)\n"
        "  and prints each node in pre-order: the node, its left subtree, its right subtree.\n"
        "  -o offset (a number or struct.member): print the containing structure's address.\n"
        "  -s struct[.member,...] shows it; -p shows each node's position (root/l/r...).\n"
        "  A loop or an unreadable node ends the walk after what could be shown.\n"
    )
    json = False
    arguments = (
        Arg("-t", dest="type", metavar="TYPE", default="rbtree",
            help="the tree's type: rbtree, the default (radix, xarray: not supported yet)"),
        Arg("-o", dest="offset", metavar="OFFSET", help="offset of the rb_node in the struct"),
        Arg("-s", dest="show", metavar="STRUCT", complete=Complete.MEMBER_PATH,
            help="show the structure (or members) of each entry"),
        Arg("-p", dest="position", action="store_true", help="show each node's position"),
        Arg("-N", dest="node", action="store_true", help="start is a node, not a root"),
        Arg("-r", dest="root_offset", metavar="OFFSET",
            help="start is a structure with the rb_root at this offset"),
        Arg("-l", dest="linear", action="store_true", help="in key order (in-order)"),
        Arg("-x", dest="hex", action="store_true", help="hexadecimal output"),
        Arg("-d", dest="dec", action="store_true", help="decimal output"),
        Arg("start", complete=Complete.SYMBOL),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[str]:
        if args.type not in ("rbtree", "rb"):
            raise CommandError(f"-t {args.type}: only rbtree is supported")
        if args.linear and args.position:
            raise CommandError("-p and -l are mutually exclusive")
        offset, struct_name = (0, None)
        if args.offset is not None:
            offset, struct_name = offset_argument(ctx, args.offset)
        start = address_argument(ctx, args.start)
        if args.root_offset is not None:
            start += offset_argument(ctx, args.root_offset)[0]
        radix = 16 if args.hex else 10 if args.dec else int(ctx.session.settings.get("radix", 10))
        show = entry_lines(ctx, args.show)
        stops: list[WalkStop] = []
        if args.linear:
            walk = ((node, "") for node in
                    rbtree_walk(ctx.session.dump, start, on_stop=stops.append))
        else:
            walk = rbtree_preorder_walk(ctx.session.dump, start, root_is_node=args.node,
                                        on_stop=stops.append)
        out: list[str] = []
        for node, position in ctx.progress(walk, "tree"):
            entry = node - offset
            out.append(f"{entry:x}\n")
            if args.position:
                out.append(f"  position: {position}\n")
            if show is not None:
                out.extend(show(entry, radix))
        if stops:
            ctx.out.write("".join(out))
            stop = stops[0]
            if stop.kind == "loop":
                raise CommandError(f"duplicate tree entry: {stop.address - offset:x}")
            raise CommandError(stop.message())
        return out

    def render(self, ctx: CommandContext, data: list[str]) -> None:
        ctx.out.write("".join(data))
