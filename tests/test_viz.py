"""Pictures: written whole or not at all, and the snapshot's plot keeps the data's proportions."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from gankit import TrainConfig, Trainer, viz
from gankit.writing import atomic_path


def _fails_half_way(target):
    """A writer killed half way: some bytes reach the file it was given, then it stops."""
    with open(target, "wb") as f:
        f.write(b"\x89PNG partial")
    raise KeyboardInterrupt


def _draw(path):
    fig = viz.new_figure(2, 2)
    fig.add_subplot().plot([0, 1], [1, 0])
    return viz.save(fig, path)


@pytest.mark.parametrize("writer", ["figure", "grid", "gif"])
def test_a_picture_interrupted_while_written_leaves_the_previous_one_whole(tmp_path, monkeypatch, writer):
    path = tmp_path / ("a.gif" if writer == "gif" else "a.png")
    images = np.random.default_rng(0).random((4, 1, 8, 8))
    frames = [viz.image_grid(images), viz.image_grid(images[::-1])]
    write = {"figure": lambda: _draw(path), "grid": lambda: viz.save_image_grid(images, path),
             "gif": lambda: viz.make_gif(frames, path)}[writer]
    write()
    before = path.read_bytes()
    if writer == "figure":
        monkeypatch.setattr(Figure, "savefig", lambda self, fname, **kw: _fails_half_way(fname))
    else:
        monkeypatch.setattr(Image.Image, "save", lambda self, fp, *a, **kw: _fails_half_way(fp))
    with pytest.raises(KeyboardInterrupt):
        write()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left behind


@pytest.mark.parametrize("span", [(4.0, 2.0), (1.0, 3.0), (2.0, 2.0)])
def test_the_snapshot_plot_has_the_proportions_of_its_frame(span):
    xs, ys = np.linspace(0, span[0], 30), np.linspace(0, span[1], 20)
    pts = np.random.default_rng(1).random((50, 2)) * span
    fig = viz.points_snapshot(pts, pts, (xs, ys, np.zeros((20, 30))), probabilistic=True)
    ax, bar = fig.axes[0], fig.axes[1]
    fig.canvas.draw()
    box, bar_box = ax.get_window_extent(), bar.get_window_extent()
    assert box.width / box.height == pytest.approx(span[0] / span[1], rel=0.01)
    assert max(box.width, box.height) == pytest.approx(3.95 * fig.dpi, rel=0.01)
    assert bar_box.height == pytest.approx(box.height, rel=0.01) and bar_box.x0 > box.x1
    # nothing drawn falls outside the figure: its tight box is inside the canvas
    tight = fig.get_tightbbox(fig.canvas.get_renderer())
    w, h = fig.get_size_inches()
    assert tight.x0 >= 0 and tight.y0 >= 0 and tight.x1 <= w and tight.y1 <= h


def test_the_curves_fit_their_figure_whatever_the_scale_of_the_values(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    records = [{"step": 10 * i, "d_loss": -12345.678 + rng.normal(), "g_loss": 1e-7 * rng.random(),
                "w1_estimate": 3e5 * rng.random()} for i in range(40)]
    drawn = {}
    monkeypatch.setattr(viz, "save", lambda fig, path: drawn.setdefault("fig", fig))
    viz.plot_curves(records, ["d_loss", "g_loss", "penalty", "w1_estimate"], tmp_path / "c.png", title="t")
    fig = drawn["fig"]
    assert [a.get_ylabel() for a in fig.axes] == ["d_loss", "g_loss", "w1_estimate"]  # absent series are left out
    fig.canvas.draw()
    tight = fig.get_tightbbox(fig.canvas.get_renderer())
    w, h = fig.get_size_inches()
    assert tight.x0 >= 0 and tight.y0 >= 0 and tight.x1 <= w and tight.y1 <= h


def test_a_resumed_run_removes_the_pictures_a_killed_run_left_half_written(tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(data="ring", data_options={"n": 500}, iterations=6, batch_size=16, g_hidden=[8],
                         d_hidden=[8], log_every=2, snapshot_every=2, checkpoint_every=2, progress=False,
                         tensorboard=False, device="cpu")
    Trainer(config, run).fit(steps=4)
    # what kill -9 inside atomic_path leaves: the temporary file beside its target, named as atomic_path names it
    with atomic_path(run / "x.png") as tmp:
        assert tmp.name.startswith(".x.png.") and tmp.name.endswith(".tmp.png")
        tmp.write_bytes(b"")
    for target in (run / "samples.png", run / "samples" / "step_0000006.png", run / "curves.png"):
        target.with_name(f".{target.name}.k1ll3d.tmp{target.suffix}").write_bytes(b"\x89PNG partial")
    assert len([*run.glob(".*.tmp*"), *(run / "samples").glob(".*.tmp*")]) == 3
    trainer = Trainer.resume(run)
    trainer.fit()
    assert not [*run.glob(".*.tmp*"), *(run / "samples").glob(".*.tmp*")]
    assert (run / "curves.png").exists() and trainer.step == 6 and (run / "samples.png").stat().st_size > 1000
