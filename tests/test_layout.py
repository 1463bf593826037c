"""The shape of the package: one stage list (the README's picture), no import circle, the CLI at the edge.

Static checks on the source (ast), no TensorFlow: well under a second.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hwflow import flow
from hwflow.paths import REPO_ROOT

PKG = REPO_ROOT / "hwflow"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve(node: ast.ImportFrom, importer: str, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _hwflow_imports(name: str, path: Path) -> set[str]:
    """Every hwflow module `name` imports, at module level AND inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(node, name, path.name == "__init__.py")
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES)
    return {m for m in out if m in MODULES and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

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
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return comps


def test_no_import_circle():
    """A package __init__ may re-export its submodules (importing a submodule loads its package
    first anyway); any other circle, through module-level or function-level imports, is a defect."""
    graph = {}
    for name, path in MODULES.items():
        deps = _hwflow_imports(name, path)
        if path.name == "__init__.py":  # the package re-exporting its own submodules
            deps = {d for d in deps if not d.startswith(name + ".")}
        graph[name] = deps
    assert _cycles(graph) == []


def test_import_graph_sees_function_level_imports():
    """The walker finds imports inside functions (the check above would otherwise be blind)."""
    assert "hwflow.convert" in _hwflow_imports("hwflow.flow", MODULES["hwflow.flow"])  # inside the convert stage
    assert "hwflow.estimate_report" not in _hwflow_imports("hwflow.estimate", MODULES["hwflow.estimate"])


def test_add_parser_only_in_the_cli():
    offenders = []
    for name, path in MODULES.items():
        if name == "hwflow.cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in ("add_parser", "add_subparsers", "ArgumentParser"):
                offenders.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.FunctionDef) and node.name == "add_parser":
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def test_readme_pipeline_is_flow_stages():
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("## The pipeline"):]
    section = section[: section.index("\n## ", 4)]
    drawn = re.findall(r"^\s+\d+ (\w+)\s", section, flags=re.M)
    assert drawn == flow.STAGE_NAMES
    assert flow.STAGE_NAMES == ["models", "check", "plan", "convert", "estimate", "parity", "synth", "report",
                                "bitstream"]
    assert all(callable(s) and s.__name__ == n for s, n in zip(flow.STAGES, flow.STAGE_NAMES))


def test_every_command_takes_the_one_target_group():
    from hwflow.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        if name == "doctor":  # no target: it looks at the machine
            continue
        flags = {s for a in p._actions for s in a.option_strings}
        assert {"--config", "--model", "--hls-dir", "--verbose"} <= flags, name
