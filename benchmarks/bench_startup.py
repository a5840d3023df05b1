"""Command start-up: short astrocat commands as whole processes, against an earlier tree.

Most astrocat commands a person types, and most of the test suite's processes, finish in well
under a second, so the interpreter's start-up and imports are most of what they cost. This
times a few of them in a demo library, interleaved with the same commands run from another
checkout (`--base-tree`, e.g. a `git worktree` of an older commit), and prints the ratio.

    python benchmarks/bench_startup.py --base-tree /tmp/old --rounds 15

Both trees get their bytecode compiled first (`compileall`), so neither pays for compiling
where PYTHONDONTWRITEBYTECODE is set.
"""

from __future__ import annotations

import argparse
import compileall
import os
import sys
import tempfile
from pathlib import Path

from harness import ROOT, astrocat_cmd, interleave, print_table, process

COMMANDS = (("organize", "-q"), ("scan", "-q"), ("list", "targets"), ("stats", "summary"), ("version",))


def tree_env(tree: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(tree)
    e.pop("ASTROCAT_CONFIG", None)
    return e


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-tree", type=Path, required=True, help="another checkout to compare with")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    trees = {"this tree": ROOT, "base tree": args.base_tree.resolve()}
    for tree in trees.values():
        compileall.compile_dir(str(tree / "astrocat"), quiet=1)
    with tempfile.TemporaryDirectory(prefix="astrocat-bench-startup-") as tmp:
        lib = Path(tmp) / "demo"
        process(astrocat_cmd("demo", str(lib)), environ=tree_env(ROOT))
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, a demo library; "
              f"{args.rounds} interleaved rounds, whole processes")
        for cmd in COMMANDS:
            stats = interleave({name: (lambda r, t=tree: process(astrocat_cmd(*cmd), cwd=lib,
                                                                  environ=tree_env(t)).wall)
                                for name, tree in trees.items()}, rounds=args.rounds)
            print_table(stats, baseline="base tree", title=f"astrocat {' '.join(cmd)}")


if __name__ == "__main__":
    main()
