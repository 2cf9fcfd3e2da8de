#!/usr/bin/env python3
"""List pairs of source files that call each other (issue 10: no circles).

Reads the object files of a configured build with `nm`: for each linked
target (a CMake <target>.dir), every .o's defined symbols and undefined
references give a defined-in / used-by graph; a pair of files in which each
uses a symbol the other defines is a circle. Data symbols count as well as
functions (a shared global is a knot too).

usage: check-calls.py BUILD_DIR [--source-dir DIR] [--dirs core drivers plugins]
                      [--allow a.c:b.c ...]

--allow names a known circle (source paths relative to the source dir); it is
reported but does not fail. An allowed pair that no longer calls both ways is
reported as stale so the exception can be removed. Exits 1 when a circle is
not allowed, 77 (skipped) when nm is missing, 2 when no object file is found.
"""
import argparse
import collections
import glob
import os
import shutil
import subprocess
import sys

DEFINED = set("TDBRWVGSiu")


def source_of(obj, build, source):
    """build/<sub>/CMakeFiles/<t>.dir/<rel>.o -> (<sub>/<rel>, exists?)."""
    head, tail = obj.split("/CMakeFiles/", 1)
    rel = tail.split("/", 1)[1][: -len(".o")]
    sub = os.path.relpath(head, build)
    path = os.path.normpath(os.path.join(sub, rel.replace("__", "..")))
    return path, (os.path.exists(os.path.join(source, path)) or os.path.exists(os.path.join(build, path)))


def symbols(obj):
    out = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True).stdout
    defs, uses = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        if parts[1] == "U":
            uses.add(parts[0])
        elif parts[1] in DEFINED:
            defs.add(parts[0])
    return defs, uses


def circles(build, source, dirs):
    """Yield (target, file_a, file_b, a_uses_from_b, b_uses_from_a)."""
    targets = collections.defaultdict(list)
    objs = []
    for d in sorted(dirs):  # not the whole tree: tests may configure nested builds
        objs += glob.glob(os.path.join(build, d, "**", "CMakeFiles", "*.dir", "**", "*.o"), recursive=True)
    for obj in objs:
        if obj.count("/CMakeFiles/") != 1 + build.count("/CMakeFiles/"):
            continue
        path, exists = source_of(obj, build, source)
        if exists and path.split("/", 1)[0] in dirs:
            targets[obj.split("/CMakeFiles/", 1)[1].split("/", 1)[0]].append((path, obj))
    n_objects = sum(len(v) for v in targets.values())
    found = []
    for target, objs in sorted(targets.items()):
        defined_in, used = {}, {}
        for path, obj in objs:
            defs, uses = symbols(obj)
            for s in defs:
                defined_in[s] = path
            used[path] = uses
        edges = collections.defaultdict(lambda: collections.defaultdict(set))
        for path, uses in used.items():
            for s in uses:
                other = defined_in.get(s)
                if other and other != path:
                    edges[path][other].add(s)
        for a in sorted(edges):
            for b in sorted(edges[a]):
                if a < b and a in edges.get(b, {}):
                    found.append((target, a, b, sorted(edges[a][b]), sorted(edges[b][a])))
    return n_objects, found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--source-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--dirs", nargs="+", default=["core", "drivers", "plugins"])
    ap.add_argument("--allow", nargs="*", default=[], metavar="A.c:B.c")
    args = ap.parse_args()
    if not shutil.which("nm"):
        print("check-calls: nm not found (binutils); skipped")
        return 77
    allowed = {tuple(sorted(p.split(":", 1))) for p in args.allow}
    n_objects, found = circles(os.path.abspath(args.build), os.path.abspath(args.source_dir), set(args.dirs))
    if not n_objects:
        print(f"check-calls: no object files of {', '.join(args.dirs)} under {args.build}; build first")
        return 2
    bad = 0
    seen = set()
    for target, a, b, ab, ba in found:
        seen.add((a, b))
        known = (a, b) in allowed
        bad += not known
        print(f"{'known circle' if known else 'CIRCLE'} in {target}: {a} <-> {b}")
        print(f"    {a} uses {b}: {', '.join(ab)}")
        print(f"    {b} uses {a}: {', '.join(ba)}")
    for a, b in sorted(allowed - seen):
        print(f"stale exception: {a} and {b} no longer call each other; remove --allow {a}:{b}")
    print(f"check-calls: {n_objects} object files, {len(found)} circle(s), {bad} not allowed")
    if bad:
        print("untie each circle: move what both files need into a third file (or the one that owns "
              "the state), so calls go one way; declare it once, in one header")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
