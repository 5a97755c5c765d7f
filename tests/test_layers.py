"""The package's imports point one way: every module imports only from layers below its own.

Imports inside functions count too: a lazy import is still a dependency, and
an upward one is a cycle waiting to happen (the loop must not import the
evaluation that is attached to it from above).
"""

from __future__ import annotations

import ast
from pathlib import Path

import gankit

# From the bottom up; a module may import from lower layers and from its own sub-package.
LAYERS = [
    {"_json", "parallel", "interrupt", "runlock", "writing", "checks", "presets", "progress", "streams"},
    {"divergences", "data", "checkpoint", "viz"},
    {"models", "metrics", "divergence_demo", "augment"},
    {"objectives", "sampling", "ema", "distributed"},
    {"config", "classifier", "pictures"},
    {"runfolder"},  # what a run writes, and proving a folder is a run: it reads configs
    {"training"},
    {"seeds", "evaluation", "demo", "explore"},
    {"bench", "benchmark", "image_benchmark", "api"},
    {"experiments"},
    {"report"},
    {"cli"},
    {"__main__", "__init__"},
]
ROOT = Path(gankit.__file__).parent


def _component(module: str) -> str:
    """``gankit.evaluation.core`` -> ``evaluation``; the package itself is ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> dict[tuple[str, str], set[str]]:
    """(component, file) -> the gankit components it imports, wherever the import statement is."""
    found: dict[tuple[str, str], set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        module = ".".join(rel.parts)
        package = module[: -len(".__init__")] if module.endswith(".__init__") else module.rsplit(".", 1)[0]
        me = _component(package if module.endswith(".__init__") else module)
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    name = ".".join(base + ([node.module] if node.module else []))
                else:
                    name = node.module or ""
                names.append(name)
                if name == "gankit":
                    names += [f"gankit.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            targets |= {_component(n) for n in names if n.startswith("gankit.")}
        found[(me, str(rel))] = targets - {me}
    return found


def test_every_module_has_a_layer():
    components = {me for me, _ in _imports()}
    placed = set().union(*LAYERS)
    assert components <= placed, f"modules without a layer: {sorted(components - placed)}"


def test_imports_point_down_the_layers():
    level = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    upward = [f"{file} ({me}, layer {level[me]}) imports {t} (layer {level[t]})"
              for (me, file), targets in _imports().items() for t in sorted(targets)
              if me != "__init__" and level[t] >= level[me]]
    assert not upward, "\n".join(upward)


def test_the_training_loop_does_not_import_what_sits_above_it():
    above = set().union(*LAYERS[LAYERS.index({"training"}) + 1:])
    training = [targets for (me, _), targets in _imports().items() if me == "training"]
    assert training and not (set().union(*training) & above)
