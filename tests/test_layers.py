"""The package's imports point one way: every module imports only from layers below its own
(:data:`gankit._layers.LAYERS`, the one declaration), and the modules of a sub-package import each
other without cycles.

Imports inside functions count too, and so do ``import_module`` calls: a lazy
import is still a dependency, and an upward one is a cycle waiting to happen
(the loop must not import the evaluation that is attached to it from above).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import gankit
from gankit._layers import LAYERS

ROOT = Path(gankit.__file__).parent


def _component(module: str) -> str:
    """``gankit.evaluation.core`` -> ``evaluation``; the package itself is ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        module = ".".join(rel.parts)
        out[module[: -len(".__init__")] if module.endswith(".__init__") else module] = path
    return out


def _dynamic(node: ast.Call, package: str, where: str) -> list[str]:
    """The module an ``import_module(...)`` call names: a constant (absolute or relative to ``package``),
    or an f-string of the package's own modules (``f".{...}"``, ``f"{__name__}.{...}"``)."""
    if not node.args:
        raise AssertionError(f"{where}: import_module() without a module name")
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        name = arg.value
        return [package + name if name.startswith(".") else name]
    if isinstance(arg, ast.JoinedStr) and arg.values:
        head = arg.values[0]
        if isinstance(head, ast.Constant) and str(head.value).startswith("."):
            return [package]  # one of the package's own modules
        if isinstance(head, ast.FormattedValue) and isinstance(head.value, ast.Name) and head.value.id == "__name__":
            return [package]
    raise AssertionError(f"{where}: import_module with a module name this test cannot resolve "
                         f"({ast.unparse(arg)}); name it as a constant or relative to the package")


@cache
def _graph() -> dict[str, set[str]]:
    """module -> the gankit modules it imports (anywhere in its file, import_module included)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    name = ".".join(base + ([node.module] if node.module else []))
                else:
                    name = node.module or ""
                names.add(name)
                names |= {f"{name}.{a.name}" for a in node.names if f"{name}.{a.name}" in modules}
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.Call):
                fn = node.func
                called = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
                if called == "import_module":
                    names |= set(_dynamic(node, package, str(path.relative_to(ROOT.parent))))
        graph[module] = {n for n in names if n.startswith("gankit.")} - {module}
    return graph


def _imports() -> dict[tuple[str, str], set[str]]:
    """(component, module) -> the gankit components it imports."""
    return {(_component(m), m): {_component(t) for t in targets} - {_component(m)}
            for m, targets in _graph().items()}


def test_every_module_has_a_layer():
    components = {me for me, _ in _imports()}
    placed = set().union(*LAYERS)
    assert components <= placed, f"modules without a layer: {sorted(components - placed)}"
    assert not placed - components, f"layers name modules that do not exist: {sorted(placed - components)}"


def test_imports_point_down_the_layers():
    level = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    upward = [f"{module} ({me}, layer {level[me]}) imports {t} (layer {level[t]})"
              for (me, module), targets in _imports().items() for t in sorted(targets)
              if me != "__init__" and level[t] >= level[me]]
    assert not upward, "\n".join(upward)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_modules_of_a_sub_package_import_each_other_without_cycles():
    graph = _graph()
    packages = {m for m, p in _modules().items() if p.name == "__init__.py" and m != "gankit"}
    for package in sorted(packages):
        inside = {m for m in graph if m.startswith(package + ".")}
        # the package's own __init__ re-exports its modules: it is the top of the sub-package, not in a cycle
        sub = {m: {t for t in graph[m] if t in inside} for m in inside}
        cycle = _cycle(sub)
        assert cycle is None, f"{package}: its modules import each other in a cycle: {' -> '.join(cycle)}"


def test_the_cycle_finder_finds_a_cycle_and_only_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_import_module_calls_are_dependencies(tmp_path):
    tree = ast.parse("import importlib\nimportlib.import_module('gankit.cli')\n")
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    assert _dynamic(call, "gankit.data", "x.py") == ["gankit.cli"]
    tree = ast.parse("import_module('.named', __name__)\n")
    assert _dynamic(tree.body[0].value, "gankit.data", "x.py") == ["gankit.data.named"]


def test_the_training_loop_does_not_import_what_sits_above_it():
    above = set().union(*LAYERS[LAYERS.index({"training"}) + 1:])
    training = [targets for (me, _), targets in _imports().items() if me == "training"]
    assert training and not (set().union(*training) & above)


def test_the_package_docstring_points_at_the_one_declaration():
    assert "gankit._layers" in (gankit.__doc__ or "")
