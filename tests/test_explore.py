"""gankit explore: the protocol's validation, the server's checks, fuzzing, the live run against the headless
Trainer, saved run folders, Ctrl-C, and the page in a real headless browser."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import gankit.explore

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("websockets")

from websockets.exceptions import InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from gankit.cli import main  # noqa: E402
from gankit.data import load_dataset  # noqa: E402
from gankit.explore.bench import url_of  # noqa: E402
from gankit.explore.protocol import MESSAGES, ProtocolError, parse  # noqa: E402
from gankit.explore.run import LiveRun, Settings, ViewInputs, unpacked  # noqa: E402
from gankit.explore.schema import COLOURS, CURVES, schema  # noqa: E402
from gankit.explore.schema import check as check_outbound  # noqa: E402
from gankit.explore.server import make_server  # noqa: E402
from gankit.explore.session import Session, drawn_mixture  # noqa: E402
from gankit.explore.views import HEAT_1D, kde  # noqa: E402
from gankit.training import NonFiniteLossError, Trainer  # noqa: E402

SMALL = {"width": 16, "depth": 2, "batch_size": 32, "iterations": 40}
LINGER = 15.0  # seconds the test server keeps a session nobody is attached to


# --------------------------------------------------------------------------- the protocol

VALID = [
    {"type": "play"}, {"type": "pause"}, {"type": "reset"}, {"type": "step", "what": "d"},
    {"type": "step", "what": "iteration"}, {"type": "speed", "value": 0}, {"type": "speed", "value": 12.5},
    {"type": "compare", "on": True}, {"type": "seed", "value": 7}, {"type": "save", "run": "b"},
    {"type": "configure", "run": "a", "settings": {"objective": "wgan", "clip": 0.05, "d_steps": 3}},
    {"type": "configure", "run": "b", "settings": {"g_lr": None, "noise_dim": 1, "optimizer": "rmsprop"}},
    {"type": "data", "name": "grid"}, {"type": "data", "points": [[0, 0], [1, 1], [0.5, -1.5]]},
    {"type": "data", "file": {"name": "x.npy", "content": base64.b64encode(b"abc").decode()}},
]


@pytest.mark.parametrize("message", VALID, ids=lambda m: m["type"])
def test_valid_messages_parse(message):
    out = parse(json.dumps(message))
    assert out["type"] == message["type"]
    if message["type"] == "data" and "file" in message:
        assert out["file"] == ("x.npy", b"abc")


BAD = [
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"type": "fly"}', "type: got \"fly\""),
    ('{"what": "d"}', "type: got null"),
    ('{"type": "step"}', "step.what is missing"),
    ('{"type": "step", "what": "x"}', "step.what"),
    ('{"type": "step", "what": "d", "extra": 1}', "unknown field(s) extra"),
    ('{"type": "speed", "value": -1}', "out of range"),
    ('{"type": "speed", "value": "fast"}', "expected a number"),
    ('{"type": "speed", "value": true}', "expected a number"),
    ('{"type": "speed", "value": NaN}', "out of range"),
    ('{"type": "speed", "value": Infinity}', "out of range"),
    ('{"type": "seed", "value": 1.5}', "expected an integer"),
    ('{"type": "seed", "value": ' + "9" * 400 + "}", "out of range"),
    ('{"type": "compare", "on": 1}', "expected true or false"),
    ('{"type": "configure", "run": "c", "settings": {}}', "configure.run"),
    ('{"type": "configure", "run": "a", "settings": []}', "expected an object"),
    ('{"type": "configure", "run": "a", "settings": {"lr": 1}}', "unknown control(s) lr"),
    ('{"type": "configure", "run": "a", "settings": {"d_steps": 0}}', "configure.settings.d_steps"),
    ('{"type": "configure", "run": "a", "settings": {"noise_dim": 3}}', "noise_dim"),
    ('{"type": "configure", "run": "a", "settings": {"objective": "rsgan"}}', "objective"),
    ('{"type": "configure", "run": "a", "settings": {"pack": 9}}', "configure.settings.pack"),
    ('{"type": "configure", "run": "a", "settings": {"g_lr": "0.1"}}', "g_lr: expected a number"),
    ('{"type": "data"}', "exactly one of"),
    ('{"type": "data", "name": "ring", "points": [[0,0],[1,1],[2,2]]}', "exactly one of"),
    ('{"type": "data", "name": "fashion-mnist"}', "data.name"),
    ('{"type": "data", "points": [[0, 0]]}', "data.points"),
    ('{"type": "data", "points": [[0, 0], [1], [2, 2]]}', "data.points[1]"),
    ('{"type": "data", "points": [[0, 0], [1, 1e9], [2, 2]]}', "data.points[1].y"),
    ('{"type": "data", "file": {"name": "x.exe", "content": "YQ=="}}', "data.file.name"),
    ('{"type": "data", "file": {"name": "x.npy", "content": "!!"}}', "not valid base64"),
    ('{"type": "data", "file": {"name": "x.npy", "content": ""}}', "empty"),
    ('{"type": "data", "file": "x.npy"}', "data.file"),
]


@pytest.mark.parametrize("text, names", BAD)
def test_bad_messages_name_the_field(text, names):
    with pytest.raises(ProtocolError) as e:
        parse(text)
    assert names in str(e.value)
    assert "\n" not in str(e.value)


def test_numbers_keep_the_type_the_session_needs():
    """An integer field stays an ``int`` (4.0 from JavaScript becomes 4: range() and shapes need ints), a float
    field becomes a ``float`` (an integral 1 too), and a choice of numbers takes exactly its choices."""
    from gankit.explore import protocol

    for name, field in protocol.SETTINGS.items():
        if field.kind not in ("int", "float"):
            continue
        value = field.choices[-1] if field.choices else (field.low + field.high) // 2 or field.high
        for sent in (value, float(value)):
            message = {"type": "configure", "run": "a", "settings": {"objective": "gan", "noise_dim": 2,
                                                                     "clip": 0.01, name: sent}}
            if field.choices and isinstance(sent, float):
                with pytest.raises(ProtocolError, match=name):
                    parse(json.dumps(message))
                continue
            got = parse(json.dumps(message))["settings"][name]
            assert type(got) is (int if field.kind == "int" else float), (name, sent, got)
            assert got == value
    for kind, fields in MESSAGES.items():
        for name, field in fields.items():
            if isinstance(field, protocol.Field) and field.kind in ("int", "float") and not field.choices:
                got = parse(json.dumps({"type": kind, name: float(field.high)}))[name]
                assert type(got) is (int if field.kind == "int" else float), (kind, name, got)


def test_size_limits():
    from gankit.explore import protocol

    with pytest.raises(ProtocolError, match="at most"):
        parse(" " * (protocol.MAX_MESSAGE + 1))
    big = base64.b64encode(b"\0" * (protocol.MAX_FILE + 3)).decode()
    with pytest.raises(ProtocolError, match="larger than"):
        parse(json.dumps({"type": "data", "file": {"name": "x.npy", "content": big}}))
    with pytest.raises(ProtocolError, match="binary"):
        parse(b"{}")


# --------------------------------------------------------------------------- the live run

def _live(objective: str, seed: int = 0, name: str = "a", beside: LiveRun | None = None, data: str = "ring",
          **settings) -> LiveRun:
    """A small live run on ``data`` (on the data and views of the run ``beside``, when given)."""
    ds = beside.trainer.dataset if beside is not None else load_dataset(data, seed=seed)
    inputs = beside.inputs if beside is not None else ViewInputs(ds, seed)
    return LiveRun(name, Settings(objective=objective, **{**SMALL, **settings}), ds, (data, {}), seed, inputs)


def test_iterations_equal_the_headless_trainer():
    """T iterations taken in the explorer give the weights `gankit train` gives (same draws, same order)."""
    run = _live("wgan-gp", seed=3)
    for i in range(12):
        if i % 3 == 0:  # interleave views: they must not touch the run's random streams
            run.frame(metrics=True)
        run.iteration()
    headless = Trainer(run.settings.config("ring", {}, 3, "cpu"), dataset=run.trainer.dataset, parts=[])
    headless.fit(steps=12)
    for a, b in zip(run.trainer.G.parameters(), headless.G.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(run.trainer.D.parameters(), headless.D.parameters(), strict=True):
        assert torch.equal(a, b)


def test_steps_d_and_g_make_an_iteration():
    a = _live("wgan")
    b = _live("wgan", name="b", beside=a)
    for _ in range(a.config.d_steps):
        a.d_step()
    assert a.step == 0 and a.k == a.config.d_steps
    a.g_step()
    b.iteration()
    assert a.step == b.step == 1 and a.k == 0
    for p, q in zip(a.trainer.G.parameters(), b.trainer.G.parameters(), strict=True):
        assert torch.equal(p, q)


def test_frame_views_are_what_they_claim():
    run = _live("gan")
    ds = run.trainer.dataset
    for _ in range(5):
        run.iteration()
    f = run.frame(metrics=True)
    fake = unpacked(f["fake"])
    assert fake.shape == (500, 2) and np.isfinite(fake).all()
    # the generator's samples of the fixed noise, in data units
    with torch.no_grad():
        expected = ds.scaler.to_data(run.trainer.G(run.z)).numpy()
    np.testing.assert_allclose(fake, expected, rtol=1e-6, atol=1e-6)
    # arrows: minus the gradient of the per-sample generator loss, here softplus(-D(x)), in data units
    x = ds.scaler.to_model(torch.from_numpy(fake[:3].copy())).requires_grad_(True)
    torch.nn.functional.softplus(-run.trainer.D(x)).sum().backward()
    arrows = unpacked(f["arrows"])[:3]
    np.testing.assert_allclose(arrows, (-x.grad * torch.tensor(ds.scaler.scale)).numpy(), rtol=1e-4, atol=1e-7)
    # the heat map is sigmoid(logit) on the mesh, quantised to bytes
    heat = np.frombuffer(base64.b64decode(f["heat"]), dtype=np.uint8)
    with torch.no_grad():
        d = torch.sigmoid(run.trainer.D(run.inputs.mesh_model)).reshape(-1).numpy()
    assert np.abs(heat.astype(float) - d * 255).max() <= 1.0
    m = f["metrics"]
    assert m["step"] == 5 and 0 <= m["js"] <= np.log(2) + 1e-12 and m["w1"] > 0 and m["n_modes"] == 8
    assert "w1_estimate" not in m and m["js_from_d"] == pytest.approx(np.log(2) - m["d_loss"] / 2)
    assert sum(f["histogram"]["counts"]) == len(run.critic_weights())
    # the losses are the Trainer's own metrics line of those 5 iterations
    config = dataclasses.replace(run.settings.config("ring", {}, 0, "cpu"), log_every=5)
    headless = Trainer(config, dataset=ds, parts=[])
    headless.fit(steps=5)
    logged = headless.records[-1]
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
        assert m[key] == pytest.approx(logged[key], rel=1e-6), key
    assert run.frame(metrics=True)["metrics"].keys() >= {"w1", "js"}  # no steps since: distances only
    assert "d_loss" not in run.history[-1]


def test_a_diverged_run_is_refused_with_its_iteration():
    run = _live("gan")
    run.iteration()
    with torch.no_grad():
        next(run.trainer.D.parameters()).fill_(float("nan"))
    run.iteration()
    with pytest.raises(NonFiniteLossError, match="run a: a loss became NaN or infinite at iteration 2"):
        run.frame()


def test_clipping_histogram_and_the_critic_estimate():
    run = _live("wgan")
    for _ in range(3):
        run.iteration()
    f = run.frame(metrics=True)
    h = f["histogram"]
    assert h["clip"] and h["c"] == 0.01 and abs(h["edge"] - 0.0105) < 1e-12
    assert np.abs(run.critic_weights()).max() <= 0.01 + 1e-7
    m = f["metrics"]
    assert m["w1_estimate"] == pytest.approx(m["critic_real"] - m["critic_fake"])


def test_drawn_points_become_a_mixture():
    means, sigma = drawn_mixture([(0, 0), (2, 0), (0, 1)])
    assert means.shape == (3, 2) and sigma == pytest.approx(0.06)


def test_kde_is_a_density_and_a_collapsed_generator_a_finite_peak():
    grid = np.linspace(-5, 5, 401)
    x = np.random.default_rng(0).normal(size=2000)
    p = kde(x, grid, floor=0.01)
    assert np.trapezoid(p, grid) == pytest.approx(1.0, abs=0.01)
    assert p[200] == pytest.approx(1 / np.sqrt(2 * np.pi), rel=0.08)  # N(0, 1) at 0
    spike = kde(np.zeros(500), grid, floor=0.05)  # all samples at 0: the floor's bandwidth
    assert np.isfinite(spike).all() and spike.max() == pytest.approx(1 / (0.05 * np.sqrt(2 * np.pi)), rel=0.01)
    assert not kde(np.array([np.nan]), grid, floor=0.05).any()


def test_1d_frames_carry_the_densities_d_on_a_line_and_the_map_from_z():
    run = _live("gan", data="mixture-1d", noise_dim=1)
    G, D = run.trainer.G, run.trainer.D
    assert [m.in_features for m in D.modules() if isinstance(m, torch.nn.Linear)][0] == 1  # the MLPs follow dim 1
    assert [m.out_features for m in G.modules() if isinstance(m, torch.nn.Linear)][-1] == 1
    for _ in range(5):
        run.iteration()
    f = run.frame(metrics=True)
    inputs, scaler = run.inputs, run.trainer.dataset.scaler
    fake = unpacked(f["fake"], 1)
    assert fake.shape == (500, 1) and unpacked(f["arrows"], 1).shape == (120, 1)
    # D on the 1-D mesh, quantised
    assert f["heat_size"] == HEAT_1D and len(base64.b64decode(f["heat"])) == HEAT_1D
    heat = np.frombuffer(base64.b64decode(f["heat"]), dtype=np.uint8)
    with torch.no_grad():
        d = torch.sigmoid(D(scaler.to_model(torch.from_numpy(inputs.grid[:, None])))).reshape(-1).numpy()
    assert np.abs(heat.astype(float) - d * 255).max() <= 1.0
    # the densities: the mixture's own for the real data (a density over the frame), a KDE of the shown fakes
    assert np.trapezoid(inputs.density, inputs.grid) == pytest.approx(1.0, abs=0.01)
    np.testing.assert_allclose(unpacked(f["density"], 1)[:, 0], inputs.fake_density(fake), rtol=1e-5, atol=1e-7)
    # the map z -> G(z) over the noise line
    assert f["z_range"] == [-3.0, 3.0]
    with torch.no_grad():
        mapped = scaler.to_data(G(torch.linspace(-3, 3, len(run.z_grid))[:, None])).numpy()
    np.testing.assert_allclose(unpacked(f["manifold"], 1), mapped, rtol=1e-5, atol=1e-6)
    m = f["metrics"]
    assert m["n_modes"] == 2 and m["w1"] > 0 and 0 <= m["js"] <= np.log(2) + 1e-12


def test_a_packed_critic_is_drawn_with_fixed_generated_samples_in_its_other_slots():
    run = _live("pacgan")
    assert run.pack == 4 and run.config.pack == 4
    for _ in range(3):
        run.iteration()
    f = run.frame(metrics=True)
    fake = unpacked(f["fake"])
    assert f["pack"] == 4 and np.array_equal(unpacked(f["pack_others"]), fake[:3])
    scaler, inner = run.trainer.dataset.scaler, run.trainer.D.inner
    others = scaler.to_model(torch.from_numpy(fake[:3].copy()))
    mesh = run.inputs.mesh_model
    with torch.no_grad():  # the inner network on (x, x2, x3, x4) side by side: x first, the fakes after
        expected = torch.sigmoid(inner(torch.cat([mesh, others.reshape(1, -1).expand(len(mesh), -1)], 1)))
        copies = torch.sigmoid(inner(mesh.repeat(1, 4)))  # a pack of four copies of x: not what is drawn
    heat = np.frombuffer(base64.b64decode(f["heat"]), dtype=np.uint8).astype(float)
    assert np.abs(heat - expected.reshape(-1).numpy() * 255).max() <= 1.0
    assert np.abs(heat - copies.reshape(-1).numpy() * 255).max() > 2.0
    # G's push on a fake: through its pack of four consecutive fakes, softplus(-D(pack)) per pack
    x = scaler.to_model(torch.from_numpy(fake[:4].copy())).requires_grad_(True)
    torch.nn.functional.softplus(-run.trainer.D(x)).sum().backward()
    np.testing.assert_allclose(unpacked(f["arrows"])[:4], (-x.grad * torch.tensor(scaler.scale)).numpy(),
                               rtol=1e-4, atol=1e-7)
    assert "js_from_d" not in f["metrics"]  # a packed D's loss bounds the packs' JS, not the samples'


def test_a_minibatch_of_packs_is_bounded_by_its_samples():
    with pytest.raises(ValueError, match=r"batch M 512 x pack m 4 = 2048 samples a step; at most 1024"):
        Settings(objective="pacgan", batch_size=512).config("ring", {}, 0, "cpu")
    assert Settings(objective="gan", batch_size=128, pack=8).config("ring", {}, 0, "cpu").pack == 8


# --------------------------------------------------------------------------- the session (no server)

class Inbox:
    def __init__(self):
        self.messages, self.cond = [], threading.Condition()

    def __call__(self, message, frame=False):
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()

    def wait(self, test, timeout=60.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.messages:
                    if test(m):
                        self.messages.remove(m)
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such message in {timeout} s; got {[m['type'] for m in self.messages]}")
                self.cond.wait(left)


def _configure(session, run="a", **settings):
    session.submit(parse(json.dumps({"type": "configure", "run": run, "settings": {**SMALL, **settings}})))


def test_session_saves_a_run_folder_that_eval_and_sample_accept(tmp_path, capsys):
    inbox = Inbox()
    session = Session(inbox, out_root=tmp_path / "runs")
    session.start()
    try:
        inbox.wait(lambda m: m["type"] == "frame")
        points = [[np.cos(t), np.sin(t)] for t in np.linspace(0, 2 * np.pi, 6, endpoint=False)]
        session.submit(parse(json.dumps({"type": "data", "points": points})))
        inbox.wait(lambda m: m["type"] == "state" and m["state"]["data_kind"] == "drawn")
        _configure(session, objective="wgan-gp")
        inbox.wait(lambda m: m["type"] == "state" and m["state"]["settings"]["a"]["objective"] == "wgan-gp")
        for _ in range(3):
            session.submit({"type": "step", "what": "iteration"})
        inbox.wait(lambda m: m["type"] == "frame" and m["runs"]["a"]["step"] == 3)
        session.submit({"type": "save", "run": "a"})
        saved = inbox.wait(lambda m: m["type"] in ("saved", "error"))
        assert saved["type"] == "saved", saved
    finally:
        session.close()
    run_dir = Path(saved["path"])
    assert (run_dir / "checkpoints" / "latest.pt").exists() and (run_dir / "samples.png").exists()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["objective"] == "wgan-gp" and Path(config["data"]).parent == run_dir.resolve()
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert lines and all("w1" in json.loads(line) for line in lines)
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--n", "300"]) == 0
    out = capsys.readouterr().out
    assert "modes" in out
    assert main(["sample", str(run_dir), "--n", "50", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (50, 2)
    assert not session.workdir.exists()


def test_a_session_trains_a_step_at_a_time_as_the_headless_trainer_does(tmp_path):
    """Played a step at a time, two compared runs (interleaved, paused and played again mid-iteration) end with
    the weights `gankit train` gives each config."""
    inbox = Inbox()
    session = Session(inbox, out_root=tmp_path)
    session.start()
    try:
        inbox.wait(lambda m: m["type"] == "frame")
        session.submit({"type": "compare", "on": True})
        _configure(session, "a", objective="wgan", iterations=12)
        _configure(session, "b", objective="gan", iterations=12)
        inbox.wait(lambda m: m["type"] == "state" and m["state"]["settings"]["b"]["iterations"] == 12)
        session.submit({"type": "step", "what": "d"})
        session.submit({"type": "step", "what": "iteration"})
        session.submit({"type": "play"})
        session.submit({"type": "pause"})
        session.submit({"type": "play"})
        inbox.wait(lambda m: m["type"] == "status" and "finished" in m["message"])
        runs = dict(session.runs)
    finally:
        session.close()
    for name, run in runs.items():
        assert run.step == 12 and run.k == 0
        headless = Trainer(run.settings.config("ring", {}, 0, "cpu"), dataset=run.trainer.dataset, parts=[])
        headless.fit()
        for a, b in zip([*run.trainer.G.parameters(), *run.trainer.D.parameters()],
                        [*headless.G.parameters(), *headless.D.parameters()], strict=True):
            assert torch.equal(a, b), name


def test_session_refuses_bad_files_and_keeps_going(tmp_path):
    inbox = Inbox()
    session = Session(inbox, out_root=tmp_path)
    session.start()
    try:
        inbox.wait(lambda m: m["type"] == "frame")
        bad = {"type": "data", "file": {"name": "broken.npy", "content": base64.b64encode(b"\x93NUMPY junk").decode()}}
        session.submit(parse(json.dumps(bad)))
        err = inbox.wait(lambda m: m["type"] == "error")
        assert "broken.npy" in err["message"] and "internal" not in err["message"]
        buf = io.BytesIO()
        np.save(buf, np.zeros((50, 3)))
        three = {"type": "data", "file": {"name": "three.npy", "content": base64.b64encode(buf.getvalue()).decode()}}
        session.submit(parse(json.dumps(three)))
        err = inbox.wait(lambda m: m["type"] == "error")
        assert "three.npy" in err["message"] and "2-D points" in err["message"]
        rows = np.random.default_rng(0).normal(size=(200, 2))
        csv = "x,y\n" + "\n".join(f"{a},{b}" for a, b in rows)
        good = {"type": "data", "file": {"name": "mine.csv", "content": base64.b64encode(csv.encode()).decode()}}
        session.submit(parse(json.dumps(good)))
        state = inbox.wait(lambda m: m["type"] == "state" and m["state"]["data_kind"] == "file")
        assert state["state"]["data"] == "mine.csv"
        session.submit({"type": "step", "what": "iteration"})
        inbox.wait(lambda m: m["type"] == "frame" and m["runs"]["a"]["step"] == 1)
    finally:
        session.close()


def _play_to_the_end(session, inbox, compare: bool, **runs) -> dict[str, LiveRun]:
    """Configure the named runs (compare on when asked), play them to T and return them (the session closed)."""
    session.start()
    try:
        inbox.wait(lambda m: m["type"] == "frame")
        if compare:
            session.submit({"type": "compare", "on": True})
        for name, settings in runs.items():
            _configure(session, name, **settings)
        last = sorted(runs)[-1]
        inbox.wait(lambda m: m["type"] == "state" and runs[last].items() <= m["state"]["settings"][last].items())
        session.submit({"type": "play"})
        inbox.wait(lambda m: m["type"] == "status" and "finished" in m["message"])
        return dict(session.runs)
    finally:
        session.close()


def test_compared_runs_each_end_as_the_run_trained_alone(tmp_path):
    """Stepped at once in two workers, each run of compare holds the weights it holds trained alone: a run's own
    seeded streams, not the other run, decide its trajectory."""
    settings = {"a": {"objective": "wgan-gp", "iterations": 10}, "b": {"objective": "gan", "iterations": 14}}
    inbox = Inbox()
    runs = _play_to_the_end(Session(inbox, out_root=tmp_path), inbox, True, **settings)
    assert sorted(runs) == ["a", "b"]
    for name, run in runs.items():
        alone = _live(settings[name]["objective"], name=name, iterations=settings[name]["iterations"])
        for _ in range(alone.config.iterations):
            alone.iteration()
        assert run.step == alone.step == settings[name]["iterations"]
        for p, q in zip([*run.trainer.G.parameters(), *run.trainer.D.parameters()],
                        [*alone.trainer.G.parameters(), *alone.trainer.D.parameters()], strict=True):
            assert torch.equal(p, q), name


def test_compared_runs_step_at_the_same_time_in_two_threads(tmp_path, monkeypatch):
    """Every step of run a is taken in one thread and every step of run b in another (neither the session's
    worker), and the first critic steps of a and b meet inside their steps (a barrier of two, which one thread
    taking the runs one after the other could not pass): the runs train side by side."""
    taken: list[tuple[str, int]] = []
    meeting, missed = threading.Barrier(2, timeout=20), []
    original_d, original_g = LiveRun.d_step, LiveRun.g_step

    def d_step(self):
        taken.append((self.name, threading.get_ident()))
        if self.step == 0 and self.k == 0:
            try:
                meeting.wait()
            except threading.BrokenBarrierError:
                missed.append(self.name)
        original_d(self)

    def g_step(self):
        taken.append((self.name, threading.get_ident()))
        original_g(self)

    monkeypatch.setattr(LiveRun, "d_step", d_step)
    monkeypatch.setattr(LiveRun, "g_step", g_step)
    inbox = Inbox()
    session = Session(inbox, out_root=tmp_path)
    runs = _play_to_the_end(session, inbox, True, a={"objective": "wgan-gp", "iterations": 6},
                            b={"objective": "gan", "iterations": 6})
    assert not missed, f"run(s) {missed} stepped alone: the barrier of two broke"
    threads = {name: {t for n, t in taken if n == name} for name in "ab"}
    assert len(threads["a"]) == len(threads["b"]) == 1 and threads["a"] != threads["b"]
    assert session.thread.ident not in threads["a"] | threads["b"]
    assert runs["a"].step == runs["b"].step == 6 and len(taken) == 6 * (5 + 1) + 6 * (1 + 1)


def test_a_session_takes_more_viewers_and_says_when_nobody_is_left(tmp_path):
    """A page attached again gets a hello with the state and the curves so far, then the frames every viewer
    gets; the first page's leaving does not end anything, the last one's starts the clock."""
    first, second = Inbox(), Inbox()
    session = Session(first, out_root=tmp_path)
    session.start()
    try:
        first.wait(lambda m: m["type"] == "frame")
        _configure(session, iterations=300)
        for _ in range(3):
            session.submit({"type": "step", "what": "iteration"})
        first.wait(lambda m: m["type"] == "frame" and m["runs"]["a"]["step"] == 3)
        key = session.attach(second)
        hello = second.wait(lambda m: True)  # its first message
        assert hello["type"] == "hello" and hello["resumed"] and hello["session"] == session.id
        assert hello["state"]["settings"]["a"]["iterations"] == 300
        assert hello["history"]["a"] and all(r["step"] <= 3 for r in hello["history"]["a"])
        assert second.wait(lambda m: m["type"] == "frame")["runs"]["a"]["step"] == 3  # not a new run
        session.submit({"type": "step", "what": "iteration"})
        for inbox in (first, second):
            inbox.wait(lambda m: m["type"] == "frame" and m["runs"]["a"]["step"] == 4)
        assert not session.detach(0) and session.unattended_since is None
        assert session.detach(key) and session.unattended_since is not None
    finally:
        session.close()
    assert not session.thread.is_alive()


# --------------------------------------------------------------------------- the server

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    out = tmp_path_factory.mktemp("explore-runs")
    srv, sock, url, explorer = make_server(out_root=out, linger=LINGER)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    host, token = re.search(r"http://([^/]+)/\?token=(\S+)", url).groups()
    yield {"url": url, "host": host, "token": token, "out": out, "explorer": explorer}
    srv.should_exit = True
    thread.join(10)


def _get(url, headers=None):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_page_needs_the_token(server):
    base = f"http://{server['host']}"
    assert _get(f"{base}/")[0] == 403
    assert _get(f"{base}/?token=wrong")[0] == 403
    assert _get(f"{base}/static/explore.js")[0] == 403
    assert _get(f"{base}/api/export?run=a&format=png")[0] == 403
    status, body = _get(server["url"])
    assert status == 200 and server["token"].encode() in body
    assert _get(f"{base}/static/explore.js?token={server['token']}")[0] == 200
    assert _get(f"{base}/static/..%2Fserver.py?token={server['token']}")[0] == 404


def test_websocket_refuses_no_token_and_other_origins(server):
    host, token = server["host"], server["token"]
    with pytest.raises(InvalidStatus) as e:
        connect(f"ws://{host}/ws", open_timeout=10)
    assert e.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as e:
        connect(f"ws://{host}/ws?token={token}", origin="http://evil.example", open_timeout=10)
    assert e.value.response.status_code == 403
    with connect(f"ws://{host}/ws?token={token}", origin=f"http://{host}", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"


def _random_value(rng: random.Random, depth: int = 0):
    kinds = ["int", "float", "str", "bool", "none", "list", "dict", "huge", "nan"]
    kind = rng.choice(kinds if depth < 2 else kinds[:5])
    if kind == "int":
        return rng.randint(-10**6, 10**6)
    if kind == "float":
        return rng.uniform(-1e3, 1e3)
    if kind == "str":
        return "".join(rng.choice("ab-_é\u2603\0{}[]\"'") for _ in range(rng.randint(0, 30)))
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    if kind == "dict":
        return {str(_random_value(rng, 2)): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if kind == "huge":
        return 10 ** rng.randint(20, 400)
    return float("nan")


def _fuzzed(rng: random.Random) -> str | bytes:
    r = rng.random()
    if r < 0.05:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
    if r < 0.1:
        return "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 200)))
    if r < 0.15:
        return json.dumps(_random_value(rng))
    # a message of a real type with fields mutated: wrong types, out of range, extra or missing
    kind = rng.choice(sorted(MESSAGES))
    message = {"type": kind}
    for name in MESSAGES[kind]:
        if rng.random() < 0.8:
            message[name] = _random_value(rng)
    if kind == "configure" and rng.random() < 0.5:
        message["settings"] = {rng.choice(["d_steps", "clip", "g_lr", "width", "noise_dim", "objective", "bogus"]):
                               _random_value(rng)}
    if rng.random() < 0.2:
        message[str(_random_value(rng, 2))] = _random_value(rng)
    return json.dumps(message, allow_nan=True)


def test_fuzzed_messages_leave_the_server_up_and_answering(server):
    rng = random.Random(0)
    host, token = server["host"], server["token"]
    sent_invalid = 0
    with connect(f"ws://{host}/ws?token={token}", max_size=None, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
        for _ in range(1000):
            text = _fuzzed(rng)
            try:
                parse(text)
            except ProtocolError:
                sent_invalid += 1
            ws.send(text)
        ws.send(json.dumps({"type": "pause"}))
        ws.send(json.dumps({"type": "data", "name": "ring"}))
        ws.send(json.dumps({"type": "configure", "run": "a", "settings": {"objective": "gan", **SMALL}}))
        ws.send(json.dumps({"type": "step", "what": "iteration"}))
        errors, done = 0, False
        deadline = time.monotonic() + 120
        while not done and time.monotonic() < deadline:
            m = json.loads(ws.recv(timeout=60))
            errors += m["type"] == "error"
            assert "internal error" not in m.get("message", ""), m
            done = m["type"] == "frame" and m["runs"]["a"]["step"] == 1 and m["runs"]["a"]["iterations"] == 40
        assert done, "the session did not answer after the fuzzing"
    assert sent_invalid > 700 and errors >= sent_invalid
    # and the server still serves new pages
    assert _get(server["url"])[0] == 200
    with connect(f"ws://{host}/ws?token={token}", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"


def test_export_png_and_gif(server):
    host, token = server["host"], server["token"]
    with connect(f"ws://{host}/ws?token={token}", max_size=None, open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=30))
        ws.send(json.dumps({"type": "configure", "run": "a", "settings": SMALL}))
        for _ in range(3):
            ws.send(json.dumps({"type": "step", "what": "iteration"}))
        while True:
            m = json.loads(ws.recv(timeout=60))
            if m["type"] == "frame" and m["runs"]["a"]["step"] == 3:
                break
        base = f"http://{host}/api/export?token={token}&session={hello['session']}&run=a"
        status, png = _get(base + "&format=png")
        assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
        status, gif = _get(base + "&format=gif")
        assert status == 200 and gif[:6] in (b"GIF89a", b"GIF87a")
        assert _get(base.replace("run=a", "run=b") + "&format=png")[0] == 400
        assert _get(base + "&format=bmp")[0] == 400


def _recv(ws, test, timeout=60.0):
    """The first message ``test`` accepts (messages before it are dropped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
        if test(m):
            return m
    raise AssertionError(f"no such message in {timeout} s")


def test_a_reconnected_page_attaches_to_its_session_and_training_goes_on(server):
    host, token = server["host"], server["token"]
    with connect(f"ws://{host}/ws?token={token}", max_size=None, open_timeout=10) as ws:
        first = json.loads(ws.recv(timeout=30))
        assert first["type"] == "hello" and not first["resumed"] and first["history"] == {}
        ws.send(json.dumps({"type": "configure", "run": "a", "settings": {**SMALL, "iterations": 400}}))
        for _ in range(3):
            ws.send(json.dumps({"type": "step", "what": "iteration"}))
        _recv(ws, lambda m: m["type"] == "frame" and m["runs"]["a"]["step"] == 3)
    session = server["explorer"].sessions[first["session"]]  # the page has gone; the session waits for it
    assert session.thread.is_alive() and session.unattended_since is not None
    again = f"ws://{host}/ws?token={token}&session={first['session']}"
    with connect(again, max_size=None, open_timeout=10) as ws, connect(again, max_size=None, open_timeout=10) as other:
        hello = json.loads(ws.recv(timeout=30))
        assert hello["type"] == "hello" and hello["resumed"] and hello["session"] == first["session"]
        assert hello["state"]["settings"]["a"]["iterations"] == 400 and hello["history"]["a"]
        frame = _recv(ws, lambda m: m["type"] == "frame")
        assert frame["runs"]["a"]["step"] == 3  # the same run, not a new one
        assert json.loads(other.recv(timeout=30))["session"] == first["session"]  # a second page, attached too
        ws.send(json.dumps({"type": "step", "what": "iteration"}))
        for page in (ws, other):  # both see the run go on
            _recv(page, lambda m: m["type"] == "frame" and m["runs"]["a"]["step"] == 4)
    assert session.unattended_since is not None and first["session"] in server["explorer"].sessions


def test_an_ended_or_unknown_session_gives_a_new_one_and_nobody_s_session_is_closed(server):
    host, token, explorer = server["host"], server["token"], server["explorer"]
    explorer.linger = 0.2
    try:
        with connect(f"ws://{host}/ws?token={token}", open_timeout=10) as ws:
            old = json.loads(ws.recv(timeout=30))["session"]
        session = explorer.sessions[old]
        deadline = time.monotonic() + 30
        while (old in explorer.sessions or session.workdir.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert old not in explorer.sessions and not session.workdir.exists()  # nobody came back: closed
        assert not session.thread.is_alive()
        for asked in (old, "f" * 32):
            with connect(f"ws://{host}/ws?token={token}&session={asked}", open_timeout=10) as ws:
                hello = json.loads(ws.recv(timeout=30))
                assert hello["type"] == "hello" and not hello["resumed"] and hello["session"] not in (old, asked)
                ws.send(json.dumps({"type": "step", "what": "iteration"}))
                m = _recv(ws, lambda m: m["type"] in ("frame", "error") and (m["type"] == "error" or
                                                                           m["runs"]["a"]["step"] == 1))
                assert m["type"] == "frame", m
    finally:
        explorer.linger = LINGER


def test_ctrl_c_stops_the_server_cleanly(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "explore", "--no-browser", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        host, token = url_of(proc)
        with connect(f"ws://{host}/ws?token={token}", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "hello"
            ws.send(json.dumps({"type": "play"}))
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(30)
        out = proc.stdout.read()
    finally:
        proc.kill()
    assert rc == 0, out
    assert "stopped" in out and "Traceback" not in out


@pytest.mark.parametrize("argv, named", [
    (["--port", "70000"], "--port 70000"), (["--device", "tpu"], "--device tpu"),
    (["--bench", "0"], "--bench 0"), (["--bench", "1", "--device", "cuda"], "--device cuda"),
])
def test_cli_refuses_bad_flags(argv, named, capsys):
    assert main(["explore", "--no-browser", *argv]) == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- the page in a real browser

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    if _chromium() is None:
        pytest.skip("no Chromium on this machine (apt-get install -y chromium); the browser test needs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _open_page(browser, server, ready: str):
    """A new page on the explorer, its JavaScript errors collected, once ``ready`` holds."""
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server["url"])
    page.wait_for_function(ready)
    return page, errors


def test_the_page_end_to_end(server, browser, tmp_path, capsys):
    """Open the page, train, see samples move and metrics update, switch to WGAN-GP, step once, save, eval."""
    page, errors = _open_page(browser, server, "document.body.dataset.connected === 'true'")
    page.wait_for_function("window.explore.frames.a !== undefined")
    page.fill("#iterations-a", "400")
    page.dispatch_event("#iterations-a", "change")
    page.wait_for_function("window.explore.frames.a?.iterations === 400")
    before = page.evaluate("window.explore.frames.a.fake")
    page.wait_for_timeout(300)  # the next animation frame has drawn it
    colours = [COLOURS[k] for k in ("real", "fake")]
    counts = page.evaluate(_COLOUR_PIXELS, ["view-a", colours])  # the data and the untrained G, before play
    assert page.evaluate("window.explore.frames.a.step") == 0 and all(n >= 30 for n in counts), counts
    page.click("#play")
    page.wait_for_function("window.explore.frames.a?.step >= 60", timeout=60_000)
    page.wait_for_function("window.explore.history.a.filter(r => r.w1 !== undefined).length >= 2", timeout=60_000)
    after = page.evaluate("window.explore.frames.a.fake")
    assert before != after  # the samples moved
    w1 = page.evaluate("window.explore.history.a.map(r => r.w1)")
    assert len(set(w1)) >= 2  # the metrics update
    assert int(page.get_attribute("#numbers-a", "data-step")) >= 60
    page.click("#play")  # pause
    page.wait_for_function("!window.explore.playing")
    page.select_option("#objective-a", "wgan-gp")
    page.wait_for_function("window.explore.settings.a.objective === 'wgan-gp' && window.explore.frames.a "
                           "&& window.explore.frames.a.step === 0 && !window.explore.frames.a.probabilistic")
    page.click("#step-iteration")
    page.wait_for_function("window.explore.frames.a?.step === 1")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    page.click("#save-a")
    page.wait_for_function("document.querySelector('#saved-a').textContent.startsWith('saved: ')")
    saved = page.text_content("#saved-a")
    run_dir = re.match(r"saved: (.+) \(iteration 1\)", saved).group(1)
    page.close()
    assert not errors, errors
    capsys.readouterr()
    assert main(["eval", run_dir, "--n", "300"]) == 0
    assert "modes" in capsys.readouterr().out
    config = json.loads((Path(run_dir) / "config.json").read_text())
    assert config["objective"] == "wgan-gp" and config["constraint"] == "gradient-penalty"


def test_the_page_takes_its_curves_from_the_schema_and_keeps_run_a_when_compare_goes_off(server, browser):
    page, errors = _open_page(browser, server,
                              "window.explore.hello !== null && window.explore.frames.a !== undefined")
    sent = page.evaluate("window.explore.hello.schema")
    assert sent == json.loads(json.dumps(schema()))
    page.check("#compare")
    page.wait_for_function("window.explore.compare && window.explore.frames.b !== undefined")
    page.click("#play")
    page.wait_for_function("window.explore.history.a.length >= 3 && window.explore.history.b.length >= 1",
                           timeout=60_000)
    page.click("#play")  # pause
    page.wait_for_function("!window.explore.playing")
    kept = page.evaluate("window.explore.history.a.map(r => r.step)")
    page.uncheck("#compare")
    page.wait_for_function("!window.explore.compare")
    assert page.evaluate("window.explore.history.a.map(r => r.step)")[:len(kept)] == kept  # run a's curves stay
    page.close()
    assert not errors, errors


def test_only_declared_messages_leave_and_the_page_keeps_no_copy_of_the_curves():
    with pytest.raises(ValueError, match="undeclared type"):
        check_outbound({"type": "chat", "message": "hi"})
    with pytest.raises(ValueError, match=r"lacks \['step'\]"):
        check_outbound({"type": "saved", "run": "a", "path": "x"})
    scripts = sorted((Path(gankit.explore.__file__).parent / "static").glob("*.js"))
    assert {p.name for p in scripts} >= {"explore.js", "draw.js"}
    page = "\n".join(p.read_text() for p in scripts)
    for series in CURVES.values():
        for curve in series:  # labels and colours of the curves are the schema's, not the page's
            assert curve["colour"] not in page and f'"{curve["label"]}"' not in page
    assert all(colour not in page for colour in COLOURS.values())


@pytest.mark.parametrize("width, side_by_side", [(1400, True), (1000, False)])
def test_the_page_is_two_columns_from_1200_pixels(server, browser, width, side_by_side):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(server["url"])
    page.wait_for_function("window.explore.frames.a !== undefined")
    view = page.locator("#runs .run canvas.view").first.bounding_box()
    chart = page.locator("#runs .run canvas.losses").first.bounding_box()
    page.close()
    if side_by_side:  # the charts beside the canvas, at its height
        assert chart["x"] >= view["x"] + view["width"] and chart["y"] < view["y"] + view["height"]
    else:  # one column: the charts under it
        assert chart["y"] >= view["y"] + view["height"]


def test_a_reload_attaches_the_page_to_its_running_session(server, browser):
    """Reloaded while playing, the page attaches to its session again: same session, same settings, the curves
    so far, and the iteration goes on from where it was (not from 0)."""
    page, errors = _open_page(browser, server, "window.explore.frames.a !== undefined")
    page.fill("#iterations-a", "3000")
    page.dispatch_event("#iterations-a", "change")
    page.wait_for_function("window.explore.frames.a?.iterations === 3000")
    session = page.evaluate("window.explore.session")
    page.click("#play")
    page.wait_for_function("window.explore.frames.a?.step >= 40 && window.explore.history.a.length >= 2",
                           timeout=60_000)
    before = page.evaluate("window.explore.frames.a.step")
    page.reload()
    page.wait_for_function("window.explore.hello !== null")
    assert page.evaluate("[window.explore.session, window.explore.resumed]") == [session, True]
    assert page.evaluate("window.explore.history.a.length") >= 2  # the curves so far came with the hello
    page.wait_for_function("window.explore.frames.a !== undefined")
    assert page.evaluate("window.explore.frames.a.step") >= before  # it counts on, from where it was
    assert page.input_value("#iterations-a") == "3000"
    page.wait_for_function(f"window.explore.frames.a.step > {before} && window.explore.playing", timeout=60_000)
    page.click("#play")  # pause
    page.wait_for_function("!window.explore.playing")
    page.evaluate("sessionStorage.setItem('gankit-explore-session', 'f'.repeat(32))")  # a session that has ended
    page.reload()
    page.wait_for_function("window.explore.hello !== null && window.explore.frames.a !== undefined")
    assert page.evaluate("window.explore.resumed") is False
    assert page.evaluate("window.explore.session") not in (session, "f" * 32)
    assert page.evaluate("sessionStorage.getItem('gankit-explore-session')") == page.evaluate("window.explore.session")
    assert page.evaluate("window.explore.frames.a.step") == 0  # a new session, started without an error
    assert "error" not in (page.get_attribute("#status", "class") or "")
    page.close()
    assert not errors, errors


_COLOUR_PIXELS = """([id, colours]) => {
  const c = document.getElementById(id), data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  return colours.map((hex) => {
    const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    let n = 0;
    for (let o = 0; o < data.length; o += 4) {
      if (data[o + 3] > 200 && rgb.every((v, k) => Math.abs(data[o + k] - v) <= 30)) n += 1;
    }
    return n;
  });
}"""


def test_1d_data_is_drawn_as_densities_d_and_the_map_from_z(server, browser):
    """On 1-D data the view draws the real and generated densities, D(x) as a curve and the lines z -> G(z)."""
    page, errors = _open_page(browser, server, "window.explore.frames.a !== undefined")
    page.select_option("#data", "mixture-1d")
    page.wait_for_function("window.explore.dim === 1 && window.explore.frames.a?.density !== undefined "
                           "&& window.explore.frames.a.z_range !== undefined")
    assert page.evaluate("window.explore.settings.a.noise_dim") == 1  # the noise follows the data's dimension
    for _ in range(3):
        page.click("#step-iteration")
    page.wait_for_function("window.explore.frames.a?.step === 3")
    page.wait_for_timeout(300)  # the next animation frame has drawn it
    assert page.get_attribute("#view-a", "data-dim") == "1"
    colours = [COLOURS[k] for k in ("real", "fake", "discriminator", "mapping")]
    counts = page.evaluate(_COLOUR_PIXELS, ["view-a", colours])
    assert all(n >= 30 for n in counts), dict(zip(colours, counts, strict=True))
    assert page.text_content("#caption-a").startswith("1-D: the real density")
    page.select_option("#data", "ring")  # back to 2-D: the noise too
    page.wait_for_function("window.explore.dim === 2 && window.explore.settings.a.noise_dim === 2")
    page.close()
    assert not errors, errors


def test_pacgan_is_chosen_trains_and_is_drawn_through_its_packed_critic(server, browser):
    page, errors = _open_page(browser, server, "window.explore.frames.a !== undefined")
    assert "pacgan" in page.eval_on_selector_all("#objective-a option", "os => os.map(o => o.value)")
    page.select_option("#objective-a", "pacgan")
    page.wait_for_function("window.explore.frames.a?.pack === 4 && window.explore.frames.a.step === 0")
    assert page.input_value("#pack-a") == "" and page.get_attribute("#pack-a", "placeholder") == "4"
    caption = page.text_content("#caption-a")
    assert caption.startswith("Packed critic: D sees m = 4 samples at once") and "D(x, x₂, …, x₄)" in caption
    page.click("#step-iteration")
    page.wait_for_function("window.explore.frames.a?.step === 1")
    page.fill("#pack-a", "2")
    page.dispatch_event("#pack-a", "change")
    page.wait_for_function("window.explore.frames.a?.pack === 2 && window.explore.frames.a.step === 0")
    assert "m = 2" in page.text_content("#caption-a")
    page.close()
    assert not errors, errors
