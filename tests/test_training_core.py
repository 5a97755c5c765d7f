"""The training core is driven through its API only: one Run, one loop over typed hooks, stacked runs by
composition, one table of random streams.

* nothing assigns to a run's or trainer's methods (no monkeypatching: the explorer and ``gankit bench``
  drive the same API as ``gankit train``);
* no module outside :mod:`gankit.training` reaches a private name of a run or trainer;
* no file of the package is over 600 lines;
* a stacked run answers ``sample`` and ``state_dict`` as its runs do, and loads its state back.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest
import torch

import gankit
from gankit import TrainConfig
from gankit.seeds import SeedsTrainer
from gankit.training import Hook, HookBase, Run, Steps, Trainer
from gankit.training.stacked import StackedRuns

ROOT = Path(gankit.__file__).parent
REPO = ROOT.parent.parent
CLASSES = (Steps, Run, Trainer, StackedRuns, SeedsTrainer)
# names a run or trainer goes by in the code that drives one
RUN_NAMES = {"trainer", "run", "runs", "t", "r", "stack", "batched", "single", "singles", "live"}


def _methods() -> set[str]:
    """The names of the functions (not properties or data) of the training classes."""
    out = set()
    for cls in CLASSES:
        for name, value in inspect.getmembers(cls):
            raw = inspect.getattr_static(cls, name)
            if inspect.isfunction(value) or isinstance(raw, (classmethod, staticmethod)):
                out.add(name)
    return out - {n for n in out if n.startswith("__")}


def _sources(outside_training: bool = False) -> list[Path]:
    files = [*sorted(ROOT.rglob("*.py")), *sorted((REPO / "benchmarks").glob("*.py")),
             *sorted((REPO / "tests").glob("*.py"))]
    return [f for f in files if not (outside_training and f.is_relative_to(ROOT / "training"))]


def _base_name(node: ast.expr) -> str:
    """The last name of ``a.b.c`` (``c``), or of ``a`` alone."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def test_nothing_assigns_to_a_run_or_trainer_method():
    methods = _methods()
    assert {"fit", "save", "finish", "critic_step", "generator_step", "state_dict"} <= methods
    found = []
    for path in _sources():
        if path == Path(__file__):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, (ast.AugAssign, ast.AnnAssign)) else []
            for target in targets:
                if (isinstance(target, ast.Attribute) and target.attr in methods
                        and _base_name(target.value) in RUN_NAMES):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(target)} = ...")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                    and node.args[1].value in methods):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "assignments to a run's methods:\n" + "\n".join(found)


def test_no_module_outside_the_training_package_reaches_a_private_name_of_a_run(tmp_path):
    trainer = Trainer(TrainConfig(data="ring", iterations=2, progress=False, tensorboard=False), tmp_path / "r",
                      parts=[])
    private = {n for obj in (trainer, type(trainer)) for n in dir(obj) if n.startswith("_") and not n.startswith("__")}
    found = []
    for path in _sources(outside_training=True):
        if path == Path(__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
                continue
            base = _base_name(node.value)
            if base in RUN_NAMES or node.attr in private and base not in ("self", "cls"):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "private names of a run reached from outside gankit.training:\n" + "\n".join(found)


def test_no_source_file_is_over_600_lines():
    long = {str(p.relative_to(REPO)): n for p in sorted(ROOT.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > 600}
    assert not long, f"files over 600 lines: {long}"


def test_the_default_hooks_follow_the_hook_protocol(tmp_path):
    trainer = Trainer(TrainConfig(data="ring", iterations=2, progress=False, tensorboard=False), tmp_path / "r")
    assert trainer.parts and all(isinstance(h, Hook) for h in trainer.hooks)
    assert isinstance(HookBase(), Hook)

    class OnlyStep:  # a hook that leaves out points is not a Hook: the loop calls all six
        def step(self, run):
            pass

    assert not isinstance(OnlyStep(), Hook)


@pytest.fixture
def tiny() -> TrainConfig:
    return TrainConfig(data="ring", iterations=6, log_every=3, g_hidden=(16,), d_hidden=(16,), batch_size=16,
                       progress=False, tensorboard=False, snapshot_every=0, checkpoint_every=1000)


def test_a_stacked_run_answers_sample_and_state_dict_as_its_runs(tmp_path, tiny):
    runs = [Run(dataclasses.replace(tiny, seed=s)) for s in (0, 1)]
    stack = StackedRuns(runs)
    for _ in range(4):
        stack.iteration(stack.window)
    x = stack.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 5, 2)
    g = torch.Generator().manual_seed(0)  # the runs draw from one generator in turn
    assert torch.equal(x, torch.stack([r.sample(5, generator=g) for r in runs]))
    assert not torch.equal(x[0], x[1])
    state = stack.state_dict()
    assert state["step"] == 4 and [st["step"] for st in state["runs"]] == [4, 4]
    assert [st["config"]["seed"] for st in state["runs"]] == [0, 1]


def test_a_stacked_run_loads_its_state_and_continues_as_the_uninterrupted_one(tmp_path, tiny):
    def stack_of(seeds):
        return StackedRuns([Run(dataclasses.replace(tiny, seed=s)) for s in seeds])

    whole = stack_of((0, 1))
    for _ in range(6):
        whole.iteration(whole.window)
    half = stack_of((0, 1))
    for _ in range(3):
        half.iteration(half.window)
    state = half.state_dict()
    again = stack_of((0, 1))
    again.load_state_dict(state)
    for _ in range(3):
        again.iteration(again.window)
    for a, b in zip(whole.runs, again.runs, strict=True):
        for p, q in zip(a.G.parameters(), b.G.parameters(), strict=True):
            assert torch.allclose(p, q, atol=1e-6)


def test_a_stacked_run_refuses_runs_at_different_iterations(tiny):
    runs = [Run(dataclasses.replace(tiny, seed=s)) for s in (0, 1)]
    runs[1].iteration(runs[1].window)
    with pytest.raises(ValueError, match="one iteration"):
        StackedRuns(runs)
