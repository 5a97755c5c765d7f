"""The training loop: it learns, it is reproducible, it resumes exactly, it fails loudly."""

import json

import pytest
import torch

from gankit import TrainConfig, Trainer, load_generator, train
from gankit.objectives import Objective, get_objective
from gankit.training import HookBase, NonFiniteLossError


def distance_to_n31(trainer: Trainer) -> float:
    """|mean - 3| + |std - 1| of 4000 generated samples (the data are N(3, 1))."""
    x = trainer.sample(4000, generator=torch.Generator().manual_seed(9)).squeeze(1)
    return abs(float(x.mean()) - 3) + abs(float(x.std()) - 1)


@pytest.mark.parametrize("objective", ["gan", "minimax", "wgan", "wgan-gp", "gan-r1", "pacgan", "lsgan"])
def test_training_moves_a_1d_generator_toward_the_data(tmp_path, tiny, objective):
    config = TrainConfig(data="gaussian-1d", data_options={"n": 20_000}, objective=objective, iterations=1000,
                         **tiny)
    trainer = Trainer(config, tmp_path / objective)
    before = distance_to_n31(trainer)
    trainer.fit()
    after = distance_to_n31(trainer)
    # The data are standardised for training, so at init G(z) is near the mean 3 but far too narrow
    # (std well under 1); training must close most of the distance.
    assert before > 0.7
    assert after < before / 3, (before, after)


def test_lsgan_on_the_ring_moves_toward_the_modes_and_logs_no_w1_estimate(tmp_path, tiny):
    config = TrainConfig(data="ring", objective="lsgan", iterations=1000, **{**tiny, "log_every": 500})
    trainer = Trainer(config, tmp_path / "lsgan")
    ring = trainer.dataset.mixture

    def distance_and_modes() -> tuple[float, int]:
        """sqrt of the mean squared distance to the nearest mode, and how many modes are someone's nearest."""
        x = trainer.sample(2000, generator=torch.Generator().manual_seed(5)).numpy()  # (n, 2), data units
        sq = ((x[:, None, :] - ring.means[None]) ** 2).sum(-1)  # (n, 8)
        return float(sq.min(1).mean() ** 0.5), len(set(sq.argmin(1).tolist()))

    before, _ = distance_and_modes()
    trainer.fit()
    after, modes = distance_and_modes()
    assert after < before / 2 and modes >= 6, (before, after, modes)
    assert all("critic_real" in r and "w1_estimate" not in r for r in trainer.records)  # raw scores, no W1


def test_wgan_defaults_are_the_papers_for_images_and_keep_the_seeds_algorithm_for_points(tiny):
    image = (1, 28, 28)
    cfg = TrainConfig(objective="wgan").resolved("image", image)
    assert (cfg.optimizer, cfg.lr, cfg.clip, cfg.d_steps, cfg.batch_size) == ("rmsprop", 5e-5, 0.01, 5, 64)
    assert cfg.constraint == "clip" and cfg.lr_schedule == "constant"
    gp = TrainConfig(objective="wgan-gp").resolved("image", image)
    expected = ("gradient-penalty", 10.0, "adam", 1e-4, (0.0, 0.9))
    assert (gp.constraint, gp.gp_weight, gp.optimizer, gp.lr, gp.betas) == expected
    assert TrainConfig(objective="wgan", lr=1e-3).resolved("image", image).g_lr == 1e-3
    # points: the seed's WGAN stays RMSProp with clipping c = 0.01, K = 5, M = 64; only settings it leaves open move
    pts = TrainConfig(objective="wgan").resolved("points", (2,))
    assert (pts.optimizer, pts.constraint, pts.clip, pts.d_steps, pts.batch_size) == ("rmsprop", "clip", 0.01, 5, 64)
    # a resolved config resolves to itself, and what the user set wins over the preset
    assert pts.resolved("points", (2,)) == pts
    mine = TrainConfig(objective="gan-r1", r1_gamma=2.0, iterations=5, g_hidden=(8,)).resolved("points", (2,))
    assert (mine.r1_gamma, mine.iterations, mine.g_hidden, mine.r1_every) == (2.0, 5, (8,), 4)


def weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in module.state_dict().values()]


def same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, tiny):
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        G, _ = train(TrainConfig(data="ring", objective="wgan-gp", iterations=15, seed=seed, **tiny), tmp_path / name)
        runs[name] = weights(G)
        records = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        assert all(r["penalty"] > 0 for r in records)  # the gradient penalty is logged
    assert same(runs["a"], runs["b"])
    assert not same(runs["a"], runs["c"])


@pytest.mark.parametrize(("objective", "schedule", "extend"),
                         [("wgan", "constant", True), ("gan", "constant", True), ("gan-r1", "linear", False),
                          ("pacgan", "linear", False)])
def test_a_resumed_run_ends_with_the_same_weights(tmp_path, tiny, objective, schedule, extend):
    """Stopped at 10 (a run of T = 10 resumed to 20, or a run of T = 20 stopped early), then resumed to 20."""
    fields = {**tiny, "data": "ring", "objective": objective, "g_batchnorm": True, "checkpoint_every": 7,
              "lr_schedule": schedule}
    whole = Trainer(TrainConfig(iterations=20, **fields), tmp_path / "whole")
    whole.fit()
    half = Trainer(TrainConfig(iterations=10 if extend else 20, **fields), tmp_path / "half")
    half.fit(steps=None if extend else 10)
    resumed = Trainer.resume(tmp_path / "half", iterations=20)
    assert resumed.step == 10
    resumed.fit()
    assert same(weights(whole.G), weights(resumed.G))
    assert same(weights(whole.D), weights(resumed.D))
    for opt_w, opt_r in ((whole.opt_d, resumed.opt_d), (whole.opt_g, resumed.opt_g)):
        sw, sr = opt_w.state_dict()["state"], opt_r.state_dict()["state"]
        assert all(torch.equal(sw[k][n], sr[k][n]) for k in sw for n in sw[k] if torch.is_tensor(sw[k][n]))
    logged = [json.loads(line)["step"] for line in (tmp_path / "half" / "metrics.jsonl").read_text().splitlines()]
    assert logged == [10, 20]


def test_a_checkpoint_from_before_the_interval_sums_still_resumes(tmp_path, tiny):
    """Checkpoints written before they held the logging interval's sums resume with the interval starting there."""
    fields = {**tiny, "data": "ring", "objective": "gan", "checkpoint_every": 5}
    whole = Trainer(TrainConfig(iterations=20, **fields), tmp_path / "whole")
    whole.fit()
    Trainer(TrainConfig(iterations=20, **fields), tmp_path / "old").fit(steps=15)
    path = tmp_path / "old" / "checkpoints" / "latest.pt"
    state = torch.load(path, weights_only=False)
    assert state["window"]["d_count"] == 5 and state["window"]["g_count"] == 5
    del state["window"]
    torch.save(state, path)
    resumed = Trainer.resume(tmp_path / "old")
    assert resumed.window.d_count == 0
    resumed.fit()
    assert same(weights(whole.G), weights(resumed.G))  # the weights do not depend on the sums
    assert [r["step"] for r in resumed.records] == [10, 20]


def test_extending_a_linear_schedule_says_how_the_rate_jumps(tmp_path, tiny, caplog):
    """The linear rate is 1 - t/T: a larger T on resume moves it, and the resume says by how much."""
    fields = {**tiny, "data": "ring", "objective": "gan", "lr_schedule": "linear"}
    Trainer(TrainConfig(iterations=20, **fields), tmp_path / "run").fit(steps=10)
    with caplog.at_level("WARNING", logger="gankit"):
        Trainer.resume(tmp_path / "run", iterations=20)
    assert not caplog.records  # the same T: nothing moves
    with caplog.at_level("WARNING", logger="gankit"):
        resumed = Trainer.resume(tmp_path / "run", iterations=40)
    (record,) = caplog.records
    assert "decays to 0 at iteration 40, not 20: at iteration 10 the rate jumps from 0.5 to 0.75" in record.message
    resumed.schedule(10)
    assert resumed.opt_g.param_groups[0]["lr"] == pytest.approx(0.75 * resumed.config.g_lr)


def test_lr_schedules_by_hand(tmp_path, tiny):
    from gankit.training import lr_factor

    # constant: 1; linear (Mimicry, StudioGAN): 1 - t / T, reaching 0 at t = T.
    assert [lr_factor("constant", t, 4) for t in range(5)] == [1.0] * 5
    assert [lr_factor("linear", t, 4) for t in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]
    with pytest.raises(ValueError, match="unknown lr_schedule 'cosine'; choose from constant, linear"):
        lr_factor("cosine", 0, 4)
    # In a run, iteration t (from 0) steps both networks at their rate x (1 - t / T).
    config = TrainConfig(data="ring", objective="gan", iterations=8, lr_schedule="linear", g_lr=1e-3, d_lr=4e-3,
                         **tiny)
    trainer = Trainer(config, tmp_path / "run", parts=[])
    trainer.fit(steps=3)  # iterations 0, 1, 2
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 * (1 - 2 / 8), rel=1e-15)
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(4e-3 * (1 - 2 / 8), rel=1e-15)


def test_resume_refuses_a_different_model_and_says_what_differs(tmp_path, tiny):
    train(TrainConfig(data="ring", iterations=5, **tiny), tmp_path / "run")
    with pytest.raises(ValueError, match=r"d_hidden: run has \(32, 32\), asked \(64,\)"):
        Trainer.resume(tmp_path / "run", d_hidden=(64,))
    with pytest.raises(FileExistsError, match="already holds a run; continue it with --resume"):
        Trainer(TrainConfig(data="ring", iterations=5, **tiny), tmp_path / "run").fit()


def test_a_checkpoint_that_does_not_fit_names_the_tensors(tmp_path, tiny):
    from gankit.checkpoint import load_weights

    G_small, _ = train(TrainConfig(data="ring", iterations=2, **tiny), tmp_path / "run")
    G_big, _ = train(TrainConfig(data="ring", iterations=2, **{**tiny, "g_hidden": (48, 32)}), tmp_path / "big")
    message = r"generator does not fit .*net.0.weight: checkpoint \(32, 2\) vs model \(48, 2\)"
    with pytest.raises(ValueError, match=message):
        load_weights(G_big, G_small.state_dict(), "generator")


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, tiny):
    trainer = Trainer(TrainConfig(data="ring", iterations=30, checkpoint_every=10, **tiny), tmp_path / "run")
    calls = {"n": 0}
    base = get_objective("nonsaturating")

    def poisoned(fake):  # the generator loss turns NaN at its 14th call: iteration 14
        calls["n"] += 1
        loss = base.generator_loss(fake)
        return loss * float("nan") if calls["n"] >= 14 else loss

    trainer.objective = Objective(base.discriminator_loss, poisoned, True)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at iteration 14 .*last good checkpoint .* is kept"):
        trainer.fit()
    _, info = load_generator(tmp_path / "run")
    assert info["step"] == 10


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("d_steps", 0, r"d_steps \(K\) must be >= 1"), ("batch_size", 0, r"batch_size \(M\) must be >= 1"),
     ("clip", 0.0, "clip must be > 0"), ("clip", -1.0, "clip must be > 0"), ("lr", 0.0, "lr must be > 0"),
     ("iterations", 0, r"iterations \(T\) must be >= 1"), ("optimizer", "adagrad", "optimizer must be one of"),
     ("constraint", "clipp", "constraint must be one of"), ("objective", "wgn", "objective 'wgn' is unknown")],
)
def test_bad_config_values_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_config_round_trips_through_its_file(tmp_path):
    cfg = TrainConfig(objective="wgan-gp", g_hidden=(8, 8), data_options={"radius": 2.0})
    path = cfg.save(tmp_path / "config.json")
    assert TrainConfig.load(path) == cfg
    (tmp_path / "c.toml").write_text('objective = "wgan"\niterations = 7\ng_hidden = [4, 4]\n')
    assert TrainConfig.load(tmp_path / "c.toml") == TrainConfig(objective="wgan", iterations=7, g_hidden=(4, 4))
    for name in ("c.yaml", "c.yml"):  # YAML: the same fields, block or flow style
        (tmp_path / name).write_text("objective: wgan\niterations: 7\ng_hidden: [4, 4]\ndata_options: {radius: 2.0}\n")
        assert TrainConfig.load(tmp_path / name) == TrainConfig(objective="wgan", iterations=7, g_hidden=(4, 4),
                                                                data_options={"radius": 2.0})
    (tmp_path / "bad.yaml").write_text("iterations: [4\n")
    with pytest.raises(ValueError, match=r"bad.yaml: cannot read config as YAML"):
        TrainConfig.load(tmp_path / "bad.yaml")
    (tmp_path / "bad.json").write_text('{"iterationz": 3}')
    with pytest.raises(ValueError, match=r"bad.json: unknown field\(s\) \['iterationz'\]"):
        TrainConfig.load(tmp_path / "bad.json")


def test_run_folder_for_points_has_pictures_metrics_and_tensorboard(tmp_path, tiny):
    fields = {**tiny, "snapshot_every": 5, "tensorboard": True, "log_every": 5}
    G, run = train(TrainConfig(data="ring", objective="wgan", iterations=10, **fields), tmp_path / "run")
    for name in ("config.json", "metrics.jsonl", "samples.png", "training.gif", "curves.png", "checkpoints/latest.pt"):
        assert (run / name).exists(), name
    assert len(list((run / "samples").glob("step_*.png"))) == 3  # iterations 0, 5, 10
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10]
    keys = ("d_loss", "g_loss", "critic_real", "critic_fake", "w1_estimate", "grad_norm_d", "grad_norm_g", "it_per_s")
    for key in keys:
        assert all(key in r for r in records), key
    assert all("penalty" not in r for r in records)  # clipping adds no penalty term


def test_image_runs_write_a_grid_and_samples_come_back_in_data_units(tmp_path, tiny):
    fields = {**tiny, "snapshot_every": 4, "width": 8}
    G, run = train(TrainConfig(data="digits", objective="gan", iterations=4, **fields), tmp_path / "run")
    assert (run / "samples.png").exists() and not (run / "training.gif").exists()
    G, info = load_generator(run)
    assert info["config"].model == "dcgan" and info["sample_shape"] == (1, 8, 8)
    with torch.no_grad():
        x = info["scaler"].to_data(G(torch.randn(16, info["config"].noise_dim)))
    assert float(x.min()) >= 0 and float(x.max()) <= 16  # digits are 0..16


def test_heat_map_is_the_discriminator_on_a_mesh_in_data_units(tmp_path, tiny):
    trainer = Trainer(TrainConfig(data="ring", objective="gan", iterations=3, **tiny), tmp_path / "run")
    trainer.fit()
    xs, ys, s = trainer.heat_map()
    assert s.shape == (len(ys), len(xs)) and s.min() >= 0 and s.max() <= 1  # D(x) = sigmoid(logit)
    assert trainer.D.training  # heat_map restores the mode it found
    point = torch.tensor([[xs[7], ys[3]]], dtype=torch.float32)  # data units; D works in the model's
    with torch.no_grad():
        expected = torch.sigmoid(trainer.D(trainer.dataset.scaler.to_model(point))).item()
    torch.testing.assert_close(float(s[3, 7]), expected, rtol=1e-5, atol=1e-6)
    images = Trainer(TrainConfig(data="digits", iterations=1, **{**tiny, "width": 8}), tmp_path / "img")
    assert images.heat_map() is None
    # a trainer without parts draws by hand, but its loop still writes nothing
    bare = Trainer(TrainConfig(data="ring", objective="gan", iterations=4, **{**tiny, "snapshot_every": 2}),
                   tmp_path / "bare", parts=[])
    assert bare.heat_map() is not None and bare.parts == []
    bare.fit()
    assert not (tmp_path / "bare" / "samples").exists() and not (tmp_path / "bare" / "metrics.jsonl").exists()


def test_hinge_logs_no_w1_estimate(tmp_path, tiny):
    """The hinge critic does not maximise E f(real) - E f(fake), so its gap is no W1 estimate; the WGAN's is."""
    for objective, has in (("sngan", False), ("hinge", False), ("wgan", True), ("wgan-gp", True)):
        trainer = Trainer(TrainConfig(data="ring", objective=objective, iterations=2, d_steps=1, **tiny), parts=[])
        trainer.fit()
        assert ("w1_estimate" in trainer.records[-1]) is has, objective
        assert "critic_real" in trainer.records[-1]


def test_it_per_s_leaves_out_the_pictures(tiny):
    import time

    class SlowPictures(HookBase):  # a part whose pictures take 0.1 s every iteration
        def step(self, trainer):
            time.sleep(0.1)

    trainer = Trainer(TrainConfig(data="ring", objective="gan", iterations=10, **{**tiny, "log_every": 5}),
                      parts=[SlowPictures()])
    tic = time.perf_counter()
    trainer.fit()
    wall = 10 / (time.perf_counter() - tic)
    assert wall < 10  # the pictures' time
    assert all(r["it_per_s"] > 3 * wall for r in trainer.records)  # the loop's own rate


def test_default_snapshots_keep_points_pictures_a_small_part_of_the_run(tmp_path, tiny):
    def every(kind: str, iterations: int) -> int:
        shape = (1, 8, 8) if kind == "image" else (2,)
        return TrainConfig(iterations=iterations).resolved(kind, shape).snapshot_every

    # T/20, and for points at least 500 iterations apart (a heat-map picture costs 25-50 points iterations)
    assert [every("points", t) for t in (50, 5000, 20000)] == [500, 500, 1000]
    assert [every("image", t) for t in (10, 2000)] == [1, 100]
    # a short run: no periodic snapshot, but samples.png is of the last iteration
    trainer = Trainer(TrainConfig(data="ring", objective="gan", iterations=12, **{**tiny, "snapshot_every": None}),
                      tmp_path / "run")
    trainer.fit()
    assert [p.name for p in trainer.frames] == ["step_0000012.png"] and (tmp_path / "run" / "samples.png").exists()


def test_an_infinite_metric_is_written_as_inf_and_read_back(tmp_path):
    """JSON has no infinity: metrics.jsonl holds "inf" (valid JSON), and reading it gives the float back."""
    import math

    from gankit.runfolder import RunFolder, read_metrics

    folder = RunFolder(tmp_path)
    folder.record(None, {"step": 10, "eval/reverse_kl": math.inf, "eval/kl_classes": -math.inf, "d_loss": 0.5})
    line = (tmp_path / "metrics.jsonl").read_text()
    json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert '"eval/reverse_kl": "inf"' in line and "null" not in line
    (back,) = read_metrics(tmp_path / "metrics.jsonl")
    assert back == {"step": 10, "eval/reverse_kl": math.inf, "eval/kl_classes": -math.inf, "d_loss": 0.5}


def test_tensorboard_gets_the_snapshot_grids_and_the_evaluation_scalars(tmp_path, tiny, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from gankit.evaluation import attach_evaluation

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    fields = {**tiny, "snapshot_every": 4, "width": 8, "tensorboard": True, "log_every": 4, "eval_every": 8}
    trainer = Trainer(TrainConfig(data="digits", objective="gan", iterations=8, **fields), tmp_path / "run")
    attach_evaluation(trainer, n=64)
    trainer.fit()
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert [e.step for e in events.Images("samples")] == [0, 4, 8]  # a fixed-noise grid at every snapshot
    assert events.Images("samples")[-1].width == 8 * (8 + 2) + 2  # 8 images of 8 pixels a row, 2-pixel gaps
    tags = events.Tags()["scalars"]
    assert {"d_loss", "g_loss", "eval/fid", "eval/kl_classes"} <= set(tags)
    assert [e.step for e in events.Scalars("eval/fid")] == [8]


def test_a_folder_left_before_its_first_checkpoint_is_reused_with_a_warning(tmp_path, tiny, caplog):
    config = TrainConfig(data="ring", iterations=4, **tiny)
    run = tmp_path / "run"
    run.mkdir()
    config.save(run / "config.json")  # what a run killed before its first checkpoint leaves
    with caplog.at_level("WARNING", logger="gankit.runfolder"):
        Trainer(config, run).fit()
    assert "stopped before its first checkpoint" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="gankit.runfolder"):
        Trainer.resume(run, iterations=6).fit()  # a run with a checkpoint: nothing to say
    assert "stopped before" not in caplog.text
