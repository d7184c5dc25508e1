#!/usr/bin/env python3
"""The gateway crate's imports, from its sources: which module uses which, and any circle of
files that import each other (ARCHITECTURE.md, "Layers"). Exits 1 when a circle of files
exists, when a module imports one that `ALLOWED` does not list for it (the layering that
ARCHITECTURE.md draws), or when a process is built outside `sandbox`.

    python3 scripts/import-graph.py          # the module picture and the checks
    python3 scripts/import-graph.py --files  # every file's imports too

A file imports another when it names a path into it: `use crate::a::b`, `use super::x`,
`crate::a::b::f(...)` in code, grouped `use a::{b, c::d}` expanded. Test code (`tests.rs`,
`tests/` folders, what follows `#[cfg(test)]`) is left out: tests may reach anywhere.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "crates", "mcp-gateway", "src")


# Which modules each module may import from: the layering of ARCHITECTURE.md. `config` takes
# one pure leaf of `sandbox` (the system-call deny-list, to check `seccomp_allow` names).
ALLOWED = {
    "metrics": set(),
    "config": {"sandbox"},
    "audit": {"config"},
    "logging": {"config", "telemetry"},
    "telemetry": {"config"},
    "ratelimit": {"config"},
    "sandbox": {"config"},
    "mcp": {"config", "logging", "metrics", "sandbox", "telemetry"},
    "session": {"audit", "config", "mcp", "metrics"},
    "oauth": {"config"},
    "cluster": {"config"},
    "http": {"audit", "cluster", "config", "front", "mcp", "metrics", "oauth", "ratelimit", "session", "telemetry"},
    "front": {"audit", "config", "http", "logging", "mcp", "ratelimit", "session", "telemetry"},
    "cli": {"audit", "cluster", "config", "front", "http", "logging", "sandbox", "telemetry"},
}


def module_files():
    """Module path (tuple) -> file, for every non-test source file."""
    files = {}
    for folder, _, names in os.walk(ROOT):
        for name in names:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(folder, name), ROOT)
            parts = rel[:-3].split(os.sep)
            if "tests" in parts or parts[-1] in ("main", "fuzzing"):
                continue
            if parts[-1] == "lib":
                parts = []
            elif parts[-1] == "mod":
                parts = parts[:-1]
            files[tuple(parts)] = rel
    return files


def expand(tree):
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner, rest = tree[:start], tree[start + 1 : i], tree[i + 1 :]
                parts, level, item = [], 0, ""
                for c in inner:
                    if c == "," and level == 0:
                        parts.append(item)
                        item = ""
                        continue
                    level += c == "{"
                    level -= c == "}"
                    item += c
                parts.append(item)
                out = []
                for part in filter(None, parts):
                    out += expand(prefix + part + rest)
                return out
    return [tree]


def strip(text):
    text = text.split("#[cfg(test)]")[0]
    return re.sub(r"//[^\n]*", "", text)


def paths_of(text):
    paths = []
    for tree in re.findall(r"\buse\s+([^;]+);", text):
        paths += [p.split(" as ")[0] for p in expand(tree)]
    paths += re.findall(r"(?<![\w:])((?:crate|super)(?:::\w+)+)", text)
    return paths


def reexports_of(text):
    """Names a file re-exports (`pub use path::Name [as Alias]`): alias -> path."""
    out = {}
    for tree in re.findall(r"\bpub(?:\([\w:]+\))?\s+use\s+([^;]+);", text):
        for path in expand(tree):
            path, _, alias = path.partition("as")
            path = path.strip(":")
            out[alias or path.split("::")[-1]] = path
    return out


def resolve(path, module, files, reexports, depth=0):
    """The file that defines what `path`, written in `module`, names."""
    parts = path.replace(" ", "").split("::")
    if parts[0] == "crate":
        base, parts = [], parts[1:]
    elif parts[0] == "super":
        base = list(module)
        while parts and parts[0] == "super":
            base, parts = base[:-1], parts[1:]
    elif parts[0] == "self":
        base, parts = list(module), parts[1:]
    elif tuple(list(module) + parts[:1]) in files:
        base = list(module)  # a child module, named relatively
    else:
        return None
    for n in range(len(parts), -1, -1):
        target = tuple(base + parts[:n])
        if target not in files:
            continue
        rest = parts[n:]
        # A name the file only re-exports is defined where the re-export points.
        if rest and rest[0] in reexports[target] and depth < 8:
            again = resolve(reexports[target][rest[0]], target, files, reexports, depth + 1)
            if again is not None:
                return again
        return target
    return None


def main():
    files = module_files()
    texts = {}
    for module, rel in files.items():
        with open(os.path.join(ROOT, rel)) as f:
            texts[module] = strip(f.read())
    reexports = {module: reexports_of(text) for module, text in texts.items()}
    graph = {}
    for module, text in texts.items():
        targets = set()
        for path in paths_of(text):
            if path.startswith("pub "):
                path = path[4:]
            target = resolve(path, module, files, reexports)
            # A module's own children are below it; `mod x;` declarations are not imports.
            if target is not None and target != module and target != ():
                targets.add(target)
        graph[module] = targets

    # Circles of files: strongly connected components with more than one file.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(scc)

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)

    tops = {}
    for v, ws in graph.items():
        for w in ws:
            if v and w and v[0] != w[0]:
                tops.setdefault(v[0], set()).add(w[0])
    print("modules (crates/mcp-gateway/src), each with the modules it imports from:")
    for top in sorted({m[0] for m in files if m}):
        print(f"  {top:10} -> {', '.join(sorted(tops.get(top, ()))) or '(nothing)'}")
    if "--files" in sys.argv:
        print("files:")
        for v in sorted(graph):
            names = ", ".join(files[w] for w in sorted(graph[v]))
            print(f"  {files[v]} -> {names or '(nothing)'}")
    failed = False
    for top, targets in sorted(tops.items()):
        for target in sorted(targets - ALLOWED.get(top, set())):
            print(f"layering: {top} imports {target}, which ALLOWED does not list for it")
            failed = True
    if config_reach := {files[w] for v, ws in graph.items() if v[:1] == ("config",) for w in ws
                        if w[:1] == ("sandbox",) and w != ("sandbox", "seccomp")}:
        print(f"layering: config reaches sandbox beyond its seccomp list: {sorted(config_reach)}")
        failed = True
    for module, text in texts.items():
        if module[:1] != ("sandbox",) and re.search(r"\bprocess::Command\b|\bCommand::new\b", text):
            print(f"a process is built outside sandbox: {files[module]}")
            failed = True
    if sccs:
        print("import circles of files:")
        for scc in sccs:
            print("  " + " <-> ".join(sorted(files[m] for m in scc)))
        failed = True
    else:
        print("no import circle of files")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
