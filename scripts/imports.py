#!/usr/bin/env python3
"""Which file of src/ uses which: the crate's import graph, and its circles.

An edge A -> B means code in A names an item defined in B (through a `use` or a path). A
parent's re-exports of its children (`pub use child::X`) and `mod` lines are not edges: they
are the module's surface, not a dependency. Test code (`#[cfg(test)]` modules) is left out.

    python3 scripts/imports.py            # the circles between files; exit 1 if any
    python3 scripts/imports.py --edges    # every edge
    python3 scripts/imports.py --from src/tracker.rs
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
ITEM = re.compile(
    r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+)?(?:async\s+)?(?:const\s+)?"
    r"(?:fn|struct|enum|trait|type|const|static|union|macro_rules!)\s+([A-Za-z_][A-Za-z0-9_]*)",
    re.M,
)
MOD = re.compile(r"^\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_0-9]+)\s*;", re.M)
USE = re.compile(r"^\s*(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.M)
PATH = re.compile(r"(?<![A-Za-z0-9_:])((?:crate|super|self|[a-z_][a-z0-9_]*)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def strip(text):
    """Code without comments, string contents and test modules."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "r" and re.match(r'r#*"', text[i:i + 260]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            j = text.find('"' + hashes, i + 2 + len(hashes))
            out.append('""')
            i = n if j < 0 else j + 1 + len(hashes)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'":
            m = re.match(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'", text[i:i + 12])
            if m:
                out.append("' '")
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    text = "".join(out)
    cut = re.search(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod\s+\w+\s*\{", text)
    return text[: cut.start()] if cut else text


def modules():
    """Module path (tuple) -> file, for every file of the library."""
    out = {}
    for root, _, files in os.walk(SRC):
        if os.sep + "bin" in root[len(SRC):] or root[len(SRC):].startswith(os.sep + "bin"):
            continue
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), SRC)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            out[tuple(parts)] = os.path.join("src", rel)
    return out


def expand(tree, prefix=()):
    """`a::{b, c::{d as e}}` -> [(alias, path)]."""
    tree = tree.strip()
    m = re.match(r"^(.*?)::\{(.*)\}$", tree, re.S)
    if m is None and tree.startswith("{"):
        m = re.match(r"^()\{(.*)\}$", tree, re.S)
    if m:
        base = tuple(s for s in m.group(1).split("::") if s)
        out, depth, cur = [], 0, ""
        for ch in m.group(2):
            if ch == "," and depth == 0:
                out += expand(cur, prefix + base)
                cur = ""
                continue
            depth += ch == "{"
            depth -= ch == "}"
            cur += ch
        if cur.strip():
            out += expand(cur, prefix + base)
        return out
    alias = None
    am = re.match(r"^(.*)\s+as\s+(\w+)$", tree)
    if am:
        tree, alias = am.group(1).strip(), am.group(2)
    path = prefix + tuple(s for s in tree.split("::") if s)
    if not path:
        return []
    if path[-1] == "self":
        path = path[:-1]
    return [(alias or path[-1], path)]


class Crate:
    def __init__(self):
        self.files = modules()
        self.text = {f: strip(open(f).read()) for f in self.files.values()}
        self.items = {f: set(ITEM.findall(t)) for f, t in self.text.items()}
        self.uses = {}
        for mod, f in self.files.items():
            self.uses[f] = []
            for vis, tree in USE.findall(self.text[f]):
                for alias, path in expand(tree):
                    self.uses[f].append((bool(vis), alias, self.absolute(mod, path)))

    def absolute(self, mod, path):
        if not path:
            return path
        if path[0] == "crate":
            return path[1:]
        if path[0] == "self":
            return mod + path[1:]
        if path[0] == "super":
            up = mod
            while path and path[0] == "super":
                up, path = up[:-1], path[1:]
            return up + path
        if mod + (path[0],) in self.files:
            return mod + path
        return None  # another crate, or a local name

    def resolve(self, path, seen=()):
        """The file defining `path` (absolute), following re-exports."""
        if path is None or path in seen:
            return None
        mod = ()
        for i, seg in enumerate(path):
            if mod + (seg,) in self.files and i < len(path) - 1:
                mod = mod + (seg,)
                continue
            if mod + (seg,) in self.files:
                return self.files[mod + (seg,)]
            f = self.files.get(mod)
            if f is None:
                return None
            if seg in self.items[f]:
                return f
            for _, alias, target in self.uses[f]:
                if alias == seg and target:
                    return self.resolve(target + tuple(path[i + 1:]), seen + (path,))
            return None
        return self.files.get(mod)

    def edges(self):
        out = {}
        for mod, f in self.files.items():
            deps = set()
            aliases = {}
            for public, alias, target in self.uses[f]:
                if target is None:
                    continue
                aliases[alias] = target
                if public and target[: len(mod)] == mod:
                    continue  # a re-export of a child: surface, not a dependency
                deps.add(self.resolve(target))
            for p in PATH.findall(USE.sub("", self.text[f])):
                segs = tuple(p.split("::"))
                if segs[0] in aliases:
                    target = aliases[segs[0]] + segs[1:]
                else:
                    target = self.absolute(mod, segs)
                deps.add(self.resolve(target))
            deps.discard(None)
            deps.discard(f)
            # A file that declares a child module is not a user of it for that.
            out[f] = deps
        return out


def circles(edges):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    crate = Crate()
    edges = crate.edges()
    if "--edges" in sys.argv:
        for f in sorted(edges):
            for d in sorted(edges[f]):
                print(f"{f} -> {d}")
        return 0
    if "--from" in sys.argv:
        f = sys.argv[sys.argv.index("--from") + 1]
        print("\n".join(sorted(edges.get(f, ()))))
        return 0
    found = circles(edges)
    for comp in found:
        print("circle: " + " ⇄ ".join(comp))
        for a in comp:
            for b in sorted(edges[a] & set(comp)):
                print(f"    {a} -> {b}")
    print(f"{len(edges)} files, {sum(map(len, edges.values()))} edges, {len(found)} circles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
