#!/usr/bin/env python3
"""Checks the module structure of src/: no import cycle between files, no command importing another command (the
shared phases live in the run layer, src/run/), tasks/channels only in the pipeline, main.rs at most 120 lines and
no file under src/ over 800 lines, and every write to the target counted as a durable step.

Every `.rs` file under src/ is a module (`mod.rs` is its directory's module). An edge A -> B means A names an item
of B: `crate::b::...` (with brace groups), `super::...`, or a child module declared in A (`ledger::X` after
`mod ledger;`). `#[cfg(test)]` modules in their own `tests.rs` files are left out. A cycle fails the check, as
does `mpsc`, `JoinSet` or `spawn` anywhere but in src/pipeline/ and src/main.rs (the runtime setup).

Durable steps (the crash tests stop the process after each): `execute`, `batch_execute` and `commit` run only in
src/durable.rs (which counts each commit), on a transaction named `tx` (committed through `durable::commit`), or
in src/source/ (the source is only ever read); `fs::rename` runs only in src/util/fsio.rs (which counts each).

    python3 scripts/check-modules.py            # check; prints the cycles or offending lines, exits 1 if any
    python3 scripts/check-modules.py --graph    # also print every module and what it imports
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
ALLOWED_TASKS = ("pipeline/", "main.rs")
ALLOWED_STATEMENTS = ("durable.rs", "source/")
ALLOWED_RENAMES = ("util/fsio.rs",)
MAX_MAIN_LINES = 120
MAX_FILE_LINES = 800


def module_of(rel):
    """src-relative file path -> module path tuple ('sink', 'copy')."""
    parts = rel[:-3].split("/")
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def paths_after(text, start):
    """Expands `a::b::{c, d::{e}}` beginning at `start` into lists of segments."""
    out = []

    def parse(i, prefix):
        segs = list(prefix)
        while True:
            m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", text[i:])
            if m:
                segs.append(m.group(1))
                i += m.end()
                if text.startswith("::", i):
                    i += 2
                    continue
                out.append(segs)
                return i
            m = re.match(r"\s*\{", text[i:])
            if m:
                i += m.end()
                while True:
                    i = parse(i, segs)
                    m2 = re.match(r"\s*,\s*", text[i:])
                    if m2:
                        i += m2.end()
                        if re.match(r"\s*\}", text[i:]):
                            i += re.match(r"\s*\}", text[i:]).end()
                            return i
                        continue
                    m3 = re.match(r"\s*\}", text[i:])
                    if m3:
                        return i + m3.end()
                    return i
            out.append(segs)
            return i

    parse(start, [])
    return out


def main():
    files = {}
    lengths = {}
    for d, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs"):
                rel = os.path.relpath(os.path.join(d, n), ROOT).replace(os.sep, "/")
                with open(os.path.join(d, n), encoding="utf-8") as f:
                    lengths[rel] = sum(1 for _ in f)
                if n == "tests.rs":
                    continue
                text = strip_comments(open(os.path.join(d, n), encoding="utf-8").read())
                # Unit tests sit at the end of a file, after `#[cfg(test)]`: they may use anything.
                files[rel] = text.split("#[cfg(test)]")[0]
    # The binary reaches the library as `pgconverge::`, never `crate::`: it is no module of the graph.
    modules = {module_of(r): r for r in files if r != "main.rs"}

    def resolve(segs):
        """Longest module prefix of `segs`."""
        for k in range(len(segs), 0, -1):
            if tuple(segs[:k]) in modules:
                return tuple(segs[:k])
        return None

    edges = {m: set() for m in modules}
    for rel, text in files.items():
        if rel == "main.rs":
            continue
        me = module_of(rel)
        is_dir_module = rel.endswith(("mod.rs", "lib.rs", "main.rs"))
        parent = me if is_dir_module else me[:-1]
        for m in re.finditer(r"\bcrate::", text):
            for segs in paths_after(text, m.end()):
                t = resolve(segs)
                if t is not None:
                    edges[me].add(t)
        for m in re.finditer(r"\bsuper::", text):
            base = parent if is_dir_module else me[:-1]
            if is_dir_module:
                base = me[:-1]
            for segs in paths_after(text, m.end()):
                t = resolve(list(base) + segs)
                if t is not None:
                    edges[me].add(t)
        children = re.findall(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;", text, flags=re.M)
        for c in children:
            for m in re.finditer(r"(?<![A-Za-z0-9_:])" + c + r"::", text):
                for segs in paths_after(text, m.start()):
                    t = resolve(list(parent) + segs)
                    if t is not None:
                        edges[me].add(t)
        edges[me].discard(me)
    name = lambda m: "::".join(m) or "(crate root)"

    if "--graph" in sys.argv:
        for m in sorted(edges):
            print(f"{name(m):24} -> {', '.join(sorted(name(t) for t in edges[m])) or '-'}")

    # Tarjan's strongly connected components.
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    bad = False
    for comp in sccs:
        bad = True
        print("import cycle: " + " <-> ".join(sorted(name(m) for m in comp)))
    for rel, text in sorted(files.items()):
        if rel.startswith(ALLOWED_TASKS):
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if re.search(r"\b(mpsc|JoinSet|spawn)\b", line):
                bad = True
                print(f"src/{rel}:{i}: tasks and channels belong in src/pipeline/: {line.strip()}")
    for rel, text in sorted(files.items()):
        for m in re.finditer(r"\.\s*(batch_execute|execute|commit(?=\s*\(\s*\)))\s*\(", text):
            receiver = re.search(r"([A-Za-z_][A-Za-z0-9_.]*)\s*$", text[: m.start()])
            if rel.startswith(ALLOWED_STATEMENTS) or (receiver and receiver.group(1) == "tx"):
                continue
            bad = True
            i = text.count("\n", 0, m.start()) + 1
            print(
                f"src/{rel}:{i}: `{m.group(1)}` outside src/durable.rs: every write to the target goes through "
                "crate::durable (one counted step per commit) or a transaction `tx` committed by durable::commit"
            )
        for m in re.finditer(r"\bfs::rename\b", text):
            if not rel.startswith(ALLOWED_RENAMES):
                bad = True
                i = text.count("\n", 0, m.start()) + 1
                print(f"src/{rel}:{i}: rename outside src/util/fsio.rs: publish files through fsio (a counted step)")
    for m in sorted(edges):
        if len(m) == 2 and m[0] == "commands":
            for t in sorted(edges[m]):
                if t[:1] == ("commands",):
                    bad = True
                    print(f"{name(m)} imports {name(t)}: a command imports no other command; shared phases go in src/run/")
    for rel, n in sorted(lengths.items()):
        limit = MAX_MAIN_LINES if rel == "main.rs" else MAX_FILE_LINES
        if n > limit:
            bad = True
            print(f"src/{rel}: {n} lines, over {limit}: split it")
    if bad:
        sys.exit(1)
    print(
        f"{len(modules)} modules, {sum(len(e) for e in edges.values())} imports, no cycle; no command imports another; "
        f"tasks and channels only in the pipeline; every target write a durable step; main.rs {lengths['main.rs']} lines, the longest file "
        f"{max(lengths.values())} lines."
    )


if __name__ == "__main__":
    main()
