"""The package's layers, declared once: every module imports only from layers below its own.

``LAYERS`` lists the top-level modules and sub-packages of ``gankit`` from the
bottom up; a module may import from lower layers and, inside its own
sub-package, from its siblings as long as those imports form no cycle.
Imports inside functions and ``importlib.import_module`` calls count too: a lazy
import is still a dependency, and an upward one is a cycle waiting to happen
(the loop must not import the evaluation that is attached to it from above).
``tests/test_layers.py`` checks all of it. This module imports nothing.
"""

LAYERS: list[set[str]] = [
    # files, locks, progress output, worker processes, the names a config chooses from (no torch)
    {"_json", "_layers", "parallel", "interrupt", "runlock", "writing", "checks", "presets", "progress", "streams"},
    # the quantities of the theory, the data, checkpoints, plots
    {"divergences", "data", "checkpoint", "viz"},
    # networks, scores, the two-dimensional divergence demonstrations, DiffAugment
    {"models", "metrics", "divergence_demo", "augment"},
    # games and constraints, reading networks, averaging them, ranks
    {"objectives", "sampling", "ema", "distributed"},
    # runs' configurations, the domain classifier, the pictures a run draws
    {"config", "classifier", "pictures"},
    # what a run writes, and proving a folder is a run: it reads configs
    {"runfolder"},
    # the loop: steps, runs, stacked runs, hooks, resume, the Trainer
    {"training"},
    # seeds side by side in worker processes
    {"seed_workers"},
    # many seeds' folders, evaluation, the demo, the explorer, the run doctor
    {"seeds", "evaluation", "demo", "explore", "doctor"},
    # timing, benchmarks, the one-call API, export of a trained generator
    {"bench", "benchmark", "image_benchmark", "api", "export"},
    # the stacked seeds' benchmark (it reads the bench's clocks)
    {"bench_seeds"},
    # the theory's experiments
    {"experiments"},
    # the report page
    {"report"},
    # the command line
    {"cli"},
    # the entry points
    {"__main__", "__init__"},
]
