#!/usr/bin/env python3
"""layering.py — the house rules that a reader of docs/ARCHITECTURE.md
relies on, checked on every source file of the tree:

  1. who may include whom: each folder may include only the folders
     listed for it in RULES (docs/ARCHITECTURE.md's map says the same);
  2. no source file over MAX_FILE_LINES lines;
  3. no function over MAX_FUNC_LINES lines outside tests/.

Usage: layering.py SOURCE_ROOT. Prints every violation and exits 1 if
there is one, else prints a one-line summary and exits 0.
"""
import os
import re
import sys

MAX_FILE_LINES = 1000
MAX_FUNC_LINES = 150

ROOMS = ["operators/ingest", "operators/assemble", "operators/check",
         "operators/output", "operators/serve"]
# folder -> folders whose headers it may include (itself always allowed)
RULES = {
    "common": [],
    "engine": ["common"],
    "bloom": ["common"],
    "cluster": ["common", "bloom"],
    "operators/ingest": ["common", "engine"],
    "operators/assemble": ["common", "engine", "bloom", "cluster",
                           "operators/ingest"],
    "operators/check": ["common", "engine", "bloom", "cluster",
                        "operators/ingest", "operators/assemble"],
    "operators/output": ["common", "engine", "bloom", "cluster",
                         "operators/ingest", "operators/assemble",
                         "operators/check"],
    "operators/serve": ["common", "engine", "bloom", "cluster"] + ROOMS,
    "simulator": ["common", "engine", "bloom", "cluster"] + ROOMS,
    "bench": ["common", "engine", "bloom", "cluster", "simulator"] + ROOMS,
    "cmd": ["common", "engine", "bloom", "cluster", "simulator", "bench"]
           + ROOMS,
    "tests": None,  # tests may include anything
}
SOURCE_DIRS = [d for d in RULES if d != "tests"] + ["tests"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(rel):
    """The RULES key a file or an included path belongs to."""
    best = None
    for key in RULES:
        if rel == key or rel.startswith(key + "/"):
            if best is None or len(key) > len(best):
                best = key
    return best


def functions(lines):
    """(name line, length) of each top-level function body: a '{' in
    column 0 after a signature, to the matching '}' in column 0."""
    start = None
    for i, line in enumerate(lines):
        if start is None and line.startswith("{"):
            j = i - 1
            while j > 0 and not re.match(r"^[A-Za-z_]", lines[j]):
                j -= 1
            start = (i, lines[j].strip())
        elif start is not None and line.startswith("}"):
            if "(" in start[1]:
                yield start[1], i - start[0] + 1
            start = None


def main(root):
    bad = []
    files = 0
    for top in SOURCE_DIRS:
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in sorted(names):
                if not n.endswith((".c", ".h", ".cpp")):
                    continue
                path = os.path.join(dirpath, n)
                rel = os.path.relpath(path, root)
                files += 1
                lines = open(path, errors="replace").read().split("\n")
                if len(lines) - 1 > MAX_FILE_LINES:
                    bad.append(f"{rel}: {len(lines) - 1} lines "
                               f"(at most {MAX_FILE_LINES})")
                own = folder_of(rel)
                allowed = RULES[own]
                for k, line in enumerate(lines, 1):
                    m = INCLUDE.match(line)
                    if not m or allowed is None:
                        continue
                    target = folder_of(m.group(1))
                    if target is None or target == own:
                        continue
                    if target not in allowed:
                        bad.append(f"{rel}:{k}: includes {m.group(1)} "
                                   f"({own}/ may include only "
                                   f"{', '.join(allowed) or 'itself'})")
                if own == "tests":
                    continue
                for sig, n_lines in functions(lines):
                    if n_lines > MAX_FUNC_LINES:
                        bad.append(f"{rel}: function {sig[:60]!r} is "
                                   f"{n_lines} lines (at most "
                                   f"{MAX_FUNC_LINES})")
    for b in bad:
        print(b)
    if bad:
        print(f"layering: {len(bad)} violation(s) in {files} files")
        return 1
    print(f"layering: {files} files follow the house rules")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
