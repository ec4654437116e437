"""No import cycles between logship's packages (issue 13.5).

Each direct part of ``logship`` (a package such as ``ship`` or ``sinks``, or a module such as ``agent`` or
``config``) is one node; an ``import`` anywhere in one part's source (at the top, in a function, under
``TYPE_CHECKING``: a cycle for the type checker is a cycle for a reader too) is an edge to the part it
names. The graph must have no cycle: each part can then be read, tested and changed knowing only the
parts below it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "logship"

def part_of(module: str) -> str | None:
    """The direct part of ``logship`` that ``module`` (dotted, absolute) belongs to; None outside logship."""
    names = module.split(".")
    if names[0] != "logship" or len(names) < 2:
        return None
    return names[1]


def imported_modules(path: Path) -> Iterator[str]:
    """The absolute dotted names of every module ``path`` imports (``from a import b`` gives ``a.b`` too,
    in case ``b`` is a module)."""
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(relative.parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def part_graph() -> dict[str, set[str]]:
    """Part → the other parts it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        source = relative.parts[0].removesuffix(".py")
        if source == "__init__" or source == "__main__":
            continue
        edges = graph.setdefault(source, set())
        for module in imported_modules(path):
            target = part_of(module)
            if target and target != source and ((PACKAGE / target).is_dir() or (PACKAGE / f"{target}.py").exists()):
                edges.add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_known_edges() -> None:
    # The walk itself works: edges that exist by design are found (a graph of nothing has no cycle either).
    graph = part_graph()
    assert "ship" in graph["agent"] and "sinks" in graph["agent"]
    assert "ship" in graph["sinks"]  # sinks answer with the shipper's Outcome


def test_no_cycle_between_packages() -> None:
    graph = part_graph()
    found = cycles(graph)
    detail = [" -> ".join(component) + ": " + "; ".join(
        f"{a} imports {', '.join(sorted(graph[a] & set(component)))}" for a in component) for component in found]
    assert not found, "\n".join(detail)


def test_cycles_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_modules_import_in_any_order() -> None:
    # A cycle between modules shows only in some import orders: each module where one is close (the
    # configuration, the registry, every sink's spec and encoder) is imported first, alone.
    paths = [PACKAGE / "config.py", PACKAGE / "sinks" / "registry.py", *PACKAGE.glob("sinks/*/spec.py"),
             *PACKAGE.glob("sinks/*/encode.py")]
    modules = sorted(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts) for path in paths)

    def import_alone(module: str) -> tuple[str, str]:
        result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                                cwd=PACKAGE.parent, timeout=60)
        return module, result.stderr.strip().splitlines()[-1] if result.returncode else ""

    with ThreadPoolExecutor(8) as pool:
        failed = {module: error for module, error in pool.map(import_alone, modules) if error}
    assert not failed, failed


def test_only_the_configured_sinks_code_is_loaded() -> None:
    # Every sink's spec is read at start (the configuration knows every variable), but a sink's code and
    # its dependencies (protobuf tables, snappy, zstandard, opentelemetry) load only when it is configured:
    # a node shipping to a file should not carry the Loki encoder in its RSS. Fresh interpreter: the
    # test process has imported everything.
    script = (
        "import sys\n"
        "from logship.config import load\n"
        "from logship.sinks.registry import build_sinks\n"
        "config = load({'LOGSHIP_SINK': 'file', 'LOGSHIP_FILE_PATH': '/nonexistent/out.ndjson'})\n"
        "build_sinks(config.sinks, config.sink_configs)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('logship.sinks.'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PACKAGE.parent,
                            timeout=60, check=True)
    loaded = set(result.stdout.split())
    sink_code = {module for module in loaded if module.count(".") == 3 and not module.endswith(".spec")}
    assert sink_code == {"logship.sinks.file.encode", "logship.sinks.file.sink"}, sorted(loaded)
    assert {"logship.sinks.loki.spec", "logship.sinks.otlp.spec"} <= loaded  # every spec, for the variables
