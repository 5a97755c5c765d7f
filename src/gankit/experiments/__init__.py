"""The theory lab: one module per claim of the seed, each returning numbers and figures.

``run_experiment(name, out_root)`` runs one experiment into ``out_root/<name>/``
and writes its ``result.json``; ``run_all`` runs every one. Each experiment
module defines ``NAME``, ``CLAIM`` (the seed's claim in words) and
``run(out_dir, *, quick, seed) -> Result``; ``quick=True`` uses small sizes
for the test suite.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Result:
    """What an experiment found.

    Attributes:
        name: the experiment's name, e.g. ``"optimal-discriminator"``.
        claim: the seed's claim being tested, in words.
        criterion: the pass criterion, in words, with its threshold.
        numbers: the measured values (JSON-serialisable).
        passed: whether the criterion held; None where it is not meaningful at
            this size (say why in ``notes``).
        seed: the seed everything was drawn from.
        seconds: wall time.
        quick: run at the small test sizes.
        figures: PNG file names, relative to the experiment's folder.
        notes: anything a reader should know (honest caveats included).
    """

    name: str
    claim: str
    criterion: str
    numbers: dict[str, Any]
    passed: bool | None
    seed: int = 0
    seconds: float = 0.0
    quick: bool = False
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from .._json import jsonable  # NumPy and torch values; not loaded to list the experiments

        return jsonable(asdict(self))


# name -> module, in the seed's order. Modules are imported when run.
EXPERIMENTS: dict[str, str] = {
    "optimal-discriminator": "optimal_discriminator",
    "minimax-value": "minimax_value",
    "disjoint-supports": "disjoint_supports",
    "vanishing-gradient": "vanishing_gradient",
    "mode-collapse": "mode_collapse",
    "wasserstein-tracks-quality": "wasserstein_tracks_quality",
    "lipschitz-clipping": "lipschitz_clipping",
    "hypothesis-test": "hypothesis_test",
}


def get_experiment(name: str) -> Callable[..., Result]:
    """The ``run`` function of an experiment; the error lists the valid names."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {list(EXPERIMENTS)} or 'all'")
    module = importlib.import_module(f"{__name__}.{EXPERIMENTS[name]}")
    return module.run


def run_experiment(name: str, out_root: str | Path, *, quick: bool = False, seed: int = 0) -> Result:
    """Run one experiment into ``out_root/<name>/`` and write its ``result.json``."""
    run = get_experiment(name)
    out = Path(out_root) / name
    out.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    result = run(out, quick=quick, seed=seed)
    result.seconds = round(time.perf_counter() - tic, 2)
    result.quick, result.seed = quick, seed
    (out / "result.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def run_all(
    out_root: str | Path, *, quick: bool = False, seed: int = 0, names: list[str] | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Run the experiments (all by default) in order; ``on_result`` sees each as it ends."""
    results = []
    for name in names or list(EXPERIMENTS):
        result = run_experiment(name, out_root, quick=quick, seed=seed)
        if on_result is not None:
            on_result(result)
        results.append(result)
    return results


def load_results(out_root: str | Path) -> list[dict[str, Any]]:
    """Every ``result.json`` under ``out_root``, in the seed's order."""
    out_root = Path(out_root)
    found = [out_root / name / "result.json" for name in EXPERIMENTS]
    return [json.loads(p.read_text()) for p in found if p.exists()]


def format_table(results: list[Result] | list[dict[str, Any]]) -> str:
    rows = [r.to_dict() if isinstance(r, Result) else r for r in results]
    head = f"{'experiment':<28} {'result':<7} {'seconds':>8}  criterion"
    lines = [head, "-" * 100]
    for r in rows:
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[r["passed"]]
        lines.append(f"{r['name']:<28} {verdict:<7} {r['seconds']:>8.1f}  {r['criterion']}")
    return "\n".join(lines)


__all__ = ["EXPERIMENTS", "Result", "format_table", "get_experiment", "load_results", "run_all", "run_experiment"]
