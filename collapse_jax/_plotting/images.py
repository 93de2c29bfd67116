"""Image grids of a vector metric per generation (plot_image_grid).

A metric whose trailing dims are ``(k, H, W)`` (``k`` images of ``H x W`` grey
levels, e.g. the VAE's ``sample_grid``) is drawn as a grid: one row per chosen
generation, one column per image, one block of columns per sweep point, for one
chain. Any metric of that shape works; nothing here knows about VAEs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from collapse_jax._plotting.axes import _title
from collapse_jax._plotting.data import (
    _check_chains_kind,
    _check_ds,
    _check_generations,
    _check_int,
    _check_metric,
    _check_trailing,
    _generations,
    _generations_done,
    _labels,
    _sweep_indices,
)
from collapse_jax.checks import fail


def plot_image_grid(
    ds,
    metric: str,
    generations: int | Sequence[int],
    *,
    sweep: str | Sequence[str] | None = None,
    chain: int = 0,
    images: int = 8,
):
    """Images stored in a metric, one row per generation, for one chain.

    Args:
      ds: a results Dataset of kind "chains".
      metric: a metric whose trailing dims are ``(k, H, W)``: ``k`` grey-level
        images (drawn on a fixed 0..1 grey scale, black = 1).
      generations: a generation or a list of them (rows); generations past a
        sweep point's ``generations_done`` are left blank.
      sweep: a sweep label or a list of them (blocks of columns); None: all.
      chain: the chain whose images are drawn (its position in the Dataset).
      images: at most this many images per row (the first ones).

    Returns:
      The matplotlib Figure; each image is an AxesImage with gid
      ``"image:<label>:<generation>:<index>"``.

    Raises:
      TypeError: ``ds`` is not a Dataset, or an argument has the wrong type.
      ValueError: ``ds`` is a summary file; the metric, a sweep label, a
        generation or the chain is unknown or out of range; or the metric does
        not hold images.
    """
    fn = "plot_image_grid"
    kind = _check_ds(fn, ds)
    _check_chains_kind(fn, kind)
    _check_metric(fn, ds, kind, metric)
    trailing = _check_trailing(
        fn,
        ds,
        metric,
        3,
        "a metric of images, trailing dims (k, H, W)",
        "Pick a metric such as 'sample_grid'.",
    )
    chosen = _check_generations(fn, ds, generations)
    points = _sweep_indices(fn, ds, sweep)
    num_chains = ds.sizes["chain"]
    chain = _check_int(fn, "chain", chain, 0, "Pass e.g. chain=0.")
    if chain >= num_chains:
        fail(fn, "chain", f"in 0..{num_chains - 1}", chain, "Pass e.g. chain=0.")
    images = _check_int(fn, "images", images, 1, "Pass e.g. images=8.")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = min(images, ds.sizes[trailing[0]])
    position = {int(g): i for i, g in enumerate(_generations(ds))}
    done = _generations_done(ds)
    cols = k * len(points)
    fig = Figure(figsize=(0.75 * cols + 1.2, 0.8 * len(chosen) + 0.9))
    FigureCanvasAgg(fig)
    axes = np.asarray(fig.subplots(len(chosen), cols, squeeze=False))
    values = np.asarray(ds[metric].values)
    labels = _labels(ds)
    for b, p in enumerate(points):
        for r, g in enumerate(chosen):
            for i in range(k):
                ax = axes[r, b * k + i]
                ax.set_xticks([])
                ax.set_yticks([])
                if g <= done[p]:
                    ax.imshow(
                        values[p, chain, position[g], i],
                        cmap="gray_r",
                        vmin=0.0,
                        vmax=1.0,
                        interpolation="nearest",
                        gid=f"image:{labels[p]}:{g}:{i}",
                    )
                if b * k + i == 0:
                    ax.set_ylabel(f"gen {g}", fontsize=8)
            axes[0, b * k].set_title(labels[p], fontsize=9, loc="left")
    fig.suptitle(
        f"{_title(ds)}: {metric}, chain {int(ds['chain'].values[chain])}", fontsize=10
    )
    fig.tight_layout()
    return fig
