"""One run on two processes (torchrun, gloo): the same weights as one process with the same global batch.

Each rank is fed its slice of the global minibatch a single process would draw
(a test-only data path: the ranks draw the global batch from the single run's
streams and keep their slice), so the two-process run must reproduce the
one-process run: the averaged gradient is the global batch's gradient.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from gankit import TrainConfig, Trainer
from gankit.distributed import Ranks

TORCHRUN = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))

# The rank script: the trainer's streams replaced by slices of the single process's streams.
SCRIPT = textwrap.dedent('''
    import atexit, json, sys
    import torch
    import torch.distributed as dist
    import gankit.objectives as objectives
    from gankit import TrainConfig, Trainer
    from gankit.data import Sampler

    # registered before the process group exists, so it runs after gankit's own exit handler
    atexit.register(lambda: print("group left before exit:", not dist.is_initialized(), flush=True))
    fields, out, steps, sliced = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
    trainer = Trainer(TrainConfig(**fields), out)
    r, W = trainer.ranks.rank, trainer.ranks.world
    if sliced:
        cfg = trainer.config
        full = Sampler(trainer.dataset.x, trainer.batch * W, trainer.device, seed=cfg.seed + 1)

        class Slice:  # this rank's slice of the single process's minibatch
            def __call__(self):
                return full()[r * trainer.batch:(r + 1) * trainer.batch]

            state_dict, load_state_dict, close = full.state_dict, full.load_state_dict, full.close

        trainer.sampler = Slice()
        trainer.noise_generator.manual_seed(cfg.seed + 2)

        def draw(n):
            z = torch.randn(n * W, cfg.noise_dim, generator=trainer.noise_generator)
            return z[r * n:(r + 1) * n]

        trainer.noise = draw
        uniform = objectives.uniform

        def sliced_uniform(shape, generator, like):
            full_draw = uniform((shape[0] * W, *shape[1:]), generator, like)
            return full_draw[r * shape[0]:(r + 1) * shape[0]]

        objectives.uniform = sliced_uniform
    trainer.fit(steps)
    if r == 0:
        torch.save({"G": trainer.G.state_dict(), "D": trainer.D.state_dict(), "records": trainer.records},
                   out + "/weights.pt")
''')


def _torchrun(tmp_path: Path, fields: dict, out: Path, steps: int, sliced: bool) -> subprocess.CompletedProcess:
    script = tmp_path / "rank.py"
    script.write_text(SCRIPT)
    cmd = [TORCHRUN, "--nproc_per_node", "2", "--standalone", str(script), json.dumps(fields), str(out),
           str(steps), "1" if sliced else "0"]
    return _run(cmd)


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          timeout=300)


def _fields(objective: str, **extra) -> dict:
    return {"data": "ring", "data_options": {"n": 2000}, "objective": objective, "iterations": 40,
            "batch_size": 32, "g_hidden": [32, 32], "d_hidden": [32, 32], "log_every": 10, "snapshot_every": 0,
            "checkpoint_every": 10, "progress": False, "tensorboard": False, "device": "cpu", **extra}


def _close(a: dict, b: dict, rtol: float) -> float:
    worst = 0.0
    for k in a:
        scale = b[k].abs().max().clamp_min(1e-3)
        worst = max(worst, float((a[k] - b[k]).abs().max() / scale))
    assert worst <= rtol, worst
    return worst


needs_torchrun = pytest.mark.skipif(not Path(TORCHRUN).exists(), reason="torchrun is not installed")


@needs_torchrun
@pytest.mark.parametrize("objective", ["gan", "wgan", "wgan-gp"])
def test_two_processes_match_one_with_the_same_global_batch(tmp_path, objective):
    fields = _fields(objective, iterations=20)
    proc = _torchrun(tmp_path, fields, tmp_path / "ddp", 20, sliced=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the script never calls shutdown(): each rank still leaves its gloo group before the interpreter is torn
    # down (a group alive then can abort a finished run)
    assert proc.stdout.count("group left before exit: True") == 2, proc.stdout[-2000:]
    ddp = torch.load(tmp_path / "ddp" / "weights.pt")
    single = Trainer(TrainConfig(**fields), tmp_path / "single", ranks=Ranks())
    single.fit()
    _close(ddp["G"], single.G.state_dict(), 1e-5)
    _close(ddp["D"], single.D.state_dict(), 1e-5)
    # the logged losses are means over both ranks: the global batch's
    assert ddp["records"][-1]["d_loss"] == pytest.approx(single.records[-1]["d_loss"], rel=1e-4)
    # rank 0 alone wrote the folder, with every rank's streams in the checkpoint
    state = torch.load(tmp_path / "ddp" / "checkpoints" / "latest.pt", weights_only=False)
    assert state["world"] == 2 and len(state["rng_ranks"]) == 2
    assert len((tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()) == 2


@needs_torchrun
def test_a_two_process_run_resumes_exactly_and_ranks_draw_their_own_streams(tmp_path):
    fields = _fields("wgan-gp")
    whole = _torchrun(tmp_path, fields, tmp_path / "whole", 40, sliced=False)
    assert whole.returncode == 0, whole.stderr[-3000:]
    part = _torchrun(tmp_path, fields, tmp_path / "part", 25, sliced=False)  # stopped inside an interval
    assert part.returncode == 0, part.stderr[-3000:]
    resumed = _run([TORCHRUN, "--nproc_per_node", "2", "--standalone", "-m", "gankit", "train", "--resume",
                    str(tmp_path / "part")])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = torch.load(tmp_path / "whole" / "checkpoints" / "latest.pt", weights_only=False)
    b = torch.load(tmp_path / "part" / "checkpoints" / "latest.pt", weights_only=False)
    assert a["step"] == b["step"] == 40
    for net in ("generator", "discriminator"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    # every metrics line too, the interval of the resume included: each rank's partial sums were in the checkpoint
    lines = {name: [{k: v for k, v in json.loads(x).items() if k != "it_per_s"}
                    for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
             for name in ("whole", "part")}
    assert [r["step"] for r in lines["part"]] == [10, 20, 30, 40] and lines["part"] == lines["whole"]
    assert len(b["window_ranks"]) == 2
    # the ranks' streams are distinct, and rank 0's is the single process's
    s0, s1 = a["rng_ranks"]
    assert not torch.equal(s0["noise"], s1["noise"]) and not torch.equal(s0["sampler"], s1["sampler"])
    assert Ranks(0, 2).stream_seed(7, 2) == 9 and Ranks(1, 2).stream_seed(7, 2) != 9


@needs_torchrun
def test_errors_under_torchrun_name_the_rank_and_the_rule(tmp_path):
    base = [TORCHRUN, "--nproc_per_node", "2", "--standalone", "-m", "gankit", "train", "--iterations", "5",
            "--device", "cpu", "--no-progress"]
    odd = _run(base + ["--batch-size", "33", "--out", str(tmp_path / "odd")])
    assert odd.returncode != 0
    assert "rank 0 of 2: --batch-size 33 cannot be split over 2 processes" in odd.stderr
    seeds = _run(base + ["--seeds", "0-1", "--out", str(tmp_path / "s")])
    assert seeds.returncode != 0 and "without torchrun" in seeds.stderr


def test_one_process_is_unchanged_by_the_ranks_machinery():
    ranks = Ranks()
    assert not ranks.enabled and ranks.main and ranks.stream_seed(3, 1) == 4 and ranks.local_batch(33) == 33
    g = torch.ones(3)
    assert ranks.mean(g) is g and ranks.gather("x") == ["x"]
    with pytest.raises(ValueError, match="multiple of 2"):
        Ranks(0, 2).local_batch(33)
