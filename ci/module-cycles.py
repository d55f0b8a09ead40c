#!/usr/bin/env python3
"""Checks that the top-level modules of a crate do not import each other in a
circle.

For each crate (by default every crate under core/; `--all` adds every
workspace member; or name crate directories as arguments) the graph is built
from the files under the crate's src/: a file `foo.rs` or a directory `foo/`
is the top-level module `foo`, and every reference to `crate::x` (in a `use`,
including grouped `use crate::{x, y::z}`, or as a path) or to a `super::`
path that resolves to the crate root (`super::x` in `foo.rs`,
`super::super::x` in `foo/bar.rs`, inline `mod` blocks counted) is an edge
from the file's top-level module to the top-level module `x`. Comments,
string and character literals are ignored; so are the crate root (lib.rs,
main.rs) and names that are not top-level modules (`crate::PAGE_MASK`).

Exit status 1, with every elementary cycle printed (each edge with the file
and line that makes it), if any checked crate has one; otherwise 0 with one
summary line per crate.

No third-party packages: python3 standard library only.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_CYCLES = 50
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_code(text):
    """Blanks comments and string/char literals, keeping newlines and
    offsets, so that line numbers survive."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 258]) and (
            i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")
        ):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            j = n if end < 0 else end + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'":
            # A char literal ('a', '\n', '\u{..}'), not a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9A-Fa-f]*\}|\\.|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def top_level_modules(src):
    mods = set()
    for name in os.listdir(src):
        path = os.path.join(src, name)
        if os.path.isdir(path):
            if name != "bin":
                mods.add(name)
        elif name.endswith(".rs") and name not in ("lib.rs", "main.rs"):
            mods.add(name[:-3])
    return mods


def file_module_path(src, path):
    """The module path of a file: src/foo.rs -> [foo], src/foo/mod.rs ->
    [foo], src/foo/bar.rs -> [foo, bar]."""
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel in (["lib"], ["main"]):
        return []
    if rel[-1] == "mod":
        rel = rel[:-1]
    return rel


def inline_module_paths(code):
    """For each offset of `code`, the inline `mod name { ... }` blocks that
    enclose it, as a list of (start, end, name) spans."""
    spans = []
    stack = []  # (name or None, offset of its '{')
    for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*\{|[{}]", code):
        if m.group(1):
            stack.append((m.group(1), m.end() - 1))
        elif m.group(0) == "{":
            stack.append((None, m.start()))
        elif stack:
            name, start = stack.pop()
            if name:
                spans.append((start, m.start(), name))
    return spans


def group_heads(code, start):
    """The leading identifiers of the items of the group `{...}` that opens
    at `start`, with their offsets."""
    depth, i, heads, expect = 0, start, [], True
    while i < len(code):
        c = code[i]
        if c == "{":
            depth += 1
            if depth == 1:
                expect = True
        elif c == "}":
            depth -= 1
            if depth == 0:
                break
        elif c == "," and depth == 1:
            expect = True
        elif expect and depth == 1 and not c.isspace():
            m = re.match(IDENT, code[i:])
            if m:
                heads.append((m.group(0), i))
                i += len(m.group(0))
            expect = False
            continue
        i += 1
    return heads


def edges_of_file(src, path, mods):
    with open(path, encoding="utf-8") as f:
        code = strip_code(f.read())
    base = file_module_path(src, path)
    spans = inline_module_paths(code)

    def module_at(offset):
        inner = [s for s in spans if s[0] < offset < s[1]]
        inner.sort(key=lambda s: s[0])
        return base + [s[2] for s in inner]

    def line_of(offset):
        return code.count("\n", 0, offset) + 1

    found = []
    pattern = re.compile(r"(?<![A-Za-z0-9_$:])(crate|super(?:\s*::\s*super)*)\s*::\s*(\{|" + IDENT + ")")
    for m in pattern.finditer(code):
        head = m.group(1)
        if head == "crate":
            resolved_root = True
        else:
            ups = head.count("super")
            here = module_at(m.start())
            resolved_root = ups == len(here)
        if not resolved_root:
            continue
        if m.group(2) == "{":
            targets = group_heads(code, m.start(2))
        else:
            targets = [(m.group(2), m.start(2))]
        for name, offset in targets:
            if name in mods:
                found.append((name, line_of(offset)))
    return found


def crate_graph(crate_dir):
    src = os.path.join(crate_dir, "src")
    mods = top_level_modules(src)
    graph = {m: {} for m in mods}
    for dirpath, dirs, files in os.walk(src):
        if dirpath == src and "bin" in dirs:
            dirs.remove("bin")  # binaries are crates of their own
        for name in sorted(files):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            module = file_module_path(src, path)
            if not module:  # the crate root
                continue
            source = module[0]
            for target, line in edges_of_file(src, path, mods):
                if target != source:
                    where = "%s:%d" % (os.path.relpath(path, ROOT), line)
                    graph[source].setdefault(target, where)
    return graph


def strongly_connected(graph):
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def elementary_cycles(graph, comp, limit):
    """Cycles inside one strongly connected component, each reported once
    (starting at its smallest module), at most `limit` of them."""
    members = set(comp)
    cycles = []

    def search(start, v, path, seen):
        for w in sorted(graph[v]):
            if w not in members or w < start:
                continue
            if w == start:
                cycles.append(path[:])
                if len(cycles) >= limit:
                    return True
            elif w not in seen:
                seen.add(w)
                path.append(w)
                if search(start, w, path, seen):
                    return True
                path.pop()
                seen.discard(w)
        return False

    for start in comp:
        if search(start, start, [start], {start}):
            break
    return cycles


def workspace_members():
    with open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"members\s*=\s*\[(.*?)\]", text, re.S)
    return re.findall(r'"([^"]+)"', m.group(1)) if m else []


def main(argv):
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return 0
    crates = [a for a in argv if not a.startswith("-")]
    if not crates:
        core = os.path.join(ROOT, "core")
        crates = sorted(
            os.path.join("core", d)
            for d in os.listdir(core)
            if os.path.isfile(os.path.join(core, d, "Cargo.toml"))
        )
        if "--all" in argv:
            crates += [m for m in workspace_members() if m not in crates]
    failed = False
    for crate in crates:
        crate_dir = os.path.join(ROOT, crate)
        if not os.path.isdir(os.path.join(crate_dir, "src")):
            print("%s: no src/ directory, skipped" % crate)
            continue
        graph = crate_graph(crate_dir)
        edges = sum(len(t) for t in graph.values())
        cyclic = [c for c in strongly_connected(graph) if len(c) > 1]
        if not cyclic:
            print("%s: %d modules, %d edges, no cycles" % (crate, len(graph), edges))
            continue
        failed = True
        for comp in cyclic:
            cycles = elementary_cycles(graph, comp, MAX_CYCLES)
            print("%s: modules in a cycle: %s" % (crate, ", ".join(comp)))
            for cycle in cycles:
                hops = cycle + [cycle[0]]
                steps = ", ".join(
                    "%s -> %s (%s)" % (a, b, graph[a][b]) for a, b in zip(hops, hops[1:])
                )
                print("  cycle: %s: %s" % (" -> ".join(hops), steps))
            if len(cycles) >= MAX_CYCLES:
                print("  (first %d cycles shown)" % MAX_CYCLES)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
