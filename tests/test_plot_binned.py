"""The "binned" figure kind: shares in fixed bins per generation (plot_binned)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flax import nnx

import collapse_jax as cj
from collapse_jax.plots import figures, plot_binned
from tests import _neural_toy as toys

pytest.importorskip("matplotlib")

EDGES = [k + 0.5 for k in range(toys.K + 1)]  # one bin per category


@pytest.fixture(scope="module")
def ds():
    """A toy learned chain whose metric ``shares`` is its (K,) probabilities."""
    import jax

    real = toys.real_data()
    fam = cj.learned_family(
        name="binned_toy",
        module=toys.Logits(nnx.Rngs(0)),
        loss=toys.loss,
        generate=toys.generate,
        log_prob=toys.log_prob,
        real_data=real,
        held_out=toys.real_data(100, 1),
        training=cj.training(steps=5, batch_size=16, learning_rate=0.05),
        metrics=lambda model, model0, params: {"shares": jax.nn.softmax(model())},
        metric_names=("shares",),
    )
    res = cj.run_chains(
        fam,
        fam.generation0(),
        key=0,
        num_chains=3,
        num_generations=2,
        sample_size=40,
        record_params=False,
    )
    return res.to_dataset()


def test_one_line_per_generation_at_the_mean_over_chains(ds):
    fig = plot_binned(ds, "shares", [0, 2], edges=EDGES)
    lines = {ln.get_gid(): ln for ln in fig.axes[0].get_lines()}
    assert set(lines) == {"binned:run:0", "binned:run:2"}
    want = ds["shares"].values[0, :, 2].mean(0)
    np.testing.assert_allclose(lines["binned:run:2"].get_ydata(), want, rtol=1e-6)
    np.testing.assert_allclose(lines["binned:run:2"].get_xdata(), np.arange(1, 9))


def test_the_figure_kind_writes_files(ds, tmp_path):
    ds = ds.copy()
    spec = {
        "kind": "binned",
        "metric": "shares",
        "generations": [0, 1, 2],
        "edges": EDGES,
        "log_x": True,
        "name": "shares",
    }
    ds.attrs["figures"] = json.dumps([spec])
    written = figures(ds, tmp_path)
    assert sorted(p.rsplit("/", 1)[-1] for p in written) == ["shares.pdf", "shares.png"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"edges": EDGES[:-1]}, r"edges must be 9 increasing bin edges"),
        ({"edges": EDGES[::-1]}, r"edges must be 9 increasing bin edges"),
        ({"edges": [0.0] + EDGES[1:], "log_x": True}, r"edges must be positive"),
    ],
)
def test_bad_edges_are_refused(ds, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_binned(ds, "shares", [0], **kwargs)


def test_a_metric_that_is_not_binned_is_refused(ds):
    with pytest.raises(ValueError, match=r"metric must be a binned metric"):
        plot_binned(ds, "held_out_nll", [0], edges=EDGES)
