#!/usr/bin/env python3
"""scripts/check-readme-knobs.py - every user knob is in README.md > Configuration knobs.

Collects, from the source tree (no build needed):
  - environment variables read by literal name with getenv / g_getenv / secure_getenv in
    core/, drivers/, plugins/, tools/, python/src, and with os.environ.get / os.environ[...]
    in python/ttml and python/examples;
  - shell knobs `${NAME:-default}` of scripts/*.sh and bench/run.sh (variables a user sets
    on the command line);
  - CMake options: option(NAME ...) and set(NAME ... CACHE TYPE ...) in CMakeLists.txt and
    cmake/*.cmake files (INTERNAL cache entries are not user settings);
and fails naming each one that the "## Configuration knobs" section of README.md does not
mention (as a whole word), with the fix.

Config keys (training_config.*, device_config.*, ...) are not checked: the readers take them
with ttml_config_* getters spread over core/train and the plugins (unknown keys are caught at
run time by ttml_config_check_unused), there is no single table to compare with.

Usage: check-readme-knobs.py [SOURCE_DIR]   (default: the repository holding this script)
Exit 0: all mentioned; 1: some missing (each named on stderr).
"""
import os
import re
import sys

# Variables read only to detect the environment, not settings a user chooses. Each entry
# says why it is not documented as a knob.
ALLOW = {
    # Open MPI / PMI launch detection and rank numbering (core/train/distributed.c):
    # set by mpirun, never by hand.
    "OMPI_COMM_WORLD_SIZE": "set by mpirun",
    "OMPI_COMM_WORLD_RANK": "set by mpirun",
    "PMIX_RANK": "set by the PMIx launcher",
    "PMI_RANK": "set by the PMI launcher",
    "PMI_SIZE": "set by the PMI launcher",
    # bench/run.sh's local variable `mpirun=${MPIRUN:-...}` is MPIRUN (documented); none else.
}

C_DIRS = ["core", "drivers", "plugins", "tools", "python/src"]
PY_DIRS = ["python/ttml", "python/examples"]
C_ENV = re.compile(r'\b(?:getenv|g_getenv|secure_getenv)\s*\(\s*"([A-Za-z_][A-Za-z0-9_]*)"')
PY_ENV = re.compile(r'os\.environ(?:\.get\(|\[)\s*["\']([A-Za-z_][A-Za-z0-9_]*)["\']')
SH_KNOB = re.compile(r'\$\{([A-Z_][A-Z0-9_]*):-')
CM_OPTION = re.compile(r'^\s*option\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)', re.M | re.I)
CM_CACHE = re.compile(r'^\s*set\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s[^)]*\bCACHE\s+(\w+)', re.M | re.I)


def walk(root, top, exts):
    base = os.path.join(root, top)
    for d, dirs, files in os.walk(base):
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and x != "__pycache__")
        for f in sorted(files):
            if f.endswith(exts):
                yield os.path.join(d, f)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def collect(root):
    """Returns {name: (kind, first file that reads it)}."""
    knobs = {}

    def add(name, kind, path):
        knobs.setdefault(name, (kind, os.path.relpath(path, root)))

    for top in C_DIRS:
        for p in walk(root, top, (".c", ".h")):
            for m in C_ENV.finditer(read(p)):
                add(m.group(1), "env", p)
    for top in PY_DIRS:
        for p in walk(root, top, (".py",)):
            for m in PY_ENV.finditer(read(p)):
                add(m.group(1), "env", p)
    shells = [os.path.join(root, "scripts", f) for f in sorted(os.listdir(os.path.join(root, "scripts")))
              if f.endswith(".sh")]
    shells.append(os.path.join(root, "bench", "run.sh"))
    for p in shells:
        if os.path.exists(p):
            for m in SH_KNOB.finditer(read(p)):
                add(m.group(1), "env", p)
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and not x.startswith("build"))
        for f in sorted(files):
            if f == "CMakeLists.txt" or f.endswith(".cmake"):
                p = os.path.join(d, f)
                text = read(p)
                for m in CM_OPTION.finditer(text):
                    add(m.group(1), "CMake", p)
                for m in CM_CACHE.finditer(text):
                    if m.group(2).upper() != "INTERNAL":
                        add(m.group(1), "CMake", p)
    return knobs


def knobs_section(readme):
    m = re.search(r'^## Configuration knobs\n(.*?)(?=^## |\Z)', readme, re.M | re.S)
    return m.group(1) if m else None


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    section = knobs_section(read(os.path.join(root, "README.md")))
    if section is None:
        print("check-readme-knobs: README.md has no '## Configuration knobs' section", file=sys.stderr)
        return 1
    knobs = collect(root)
    missing = []
    for name, (kind, where) in sorted(knobs.items()):
        if name in ALLOW:
            continue
        if not re.search(r'(?<![A-Za-z0-9_])' + re.escape(name) + r'(?![A-Za-z0-9_])', section):
            missing.append((name, kind, where))
    for name, kind, where in missing:
        print(f"check-readme-knobs: {kind} knob {name} (read in {where}) is not in the README: "
              f"add a row to README.md > Configuration knobs", file=sys.stderr)
    print(f"check-readme-knobs: {len(knobs)} knobs, {len(knobs) - len(missing)} documented or allowed, "
          f"{len(missing)} missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
