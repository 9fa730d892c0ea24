"""Commands the REPL tests load through PYCRASH_PLUGIN_PATH.

``spin`` is a walk that never ends on its own (Ctrl-C is the only way out), reporting progress
as long walks do; ``spun`` says how many spins were interrupted, to show the session goes on.
"""

import itertools
import time

from pycrash.api import Command, register

_interrupted = [0]


@register
class Spin(Command):
    name = "spin"
    summary = "walk forever (for the REPL tests)"
    needs_debuginfo = False

    def run(self, ctx, args):
        ctx.out.write("spinning\n")
        try:
            for _ in ctx.progress(itertools.count(), "spin"):
                time.sleep(0.001)
        except KeyboardInterrupt:
            _interrupted[0] += 1
            raise


@register
class Spun(Command):
    name = "spun"
    summary = "how many spins were interrupted"
    needs_debuginfo = False

    def run(self, ctx, args):
        return _interrupted[0]

    def render(self, ctx, data):
        ctx.out.write(f"interrupted spins: {data}\n")
