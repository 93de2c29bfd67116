"""collapse_jax.plots draws what the results Dataset holds, and refuses what it
cannot draw with the house error.

The Datasets are built by hand, following the results schema (no JAX computation),
so the drawn lines can be compared with statistics computed here.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

xr = pytest.importorskip("xarray")
pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402

from collapse_jax import plots  # noqa: E402

DIMS = ("sweep", "chain", "generation")
SWEEP = ["M=10", "M=100"]
NUM_CHAINS, NUM_GENS = 6, 8
FAILED_CHAIN, FAILED_FROM = 2, 5  # at sweep point 0


def _attrs(**extra) -> dict:
    attrs = dict(
        collapse_jax_format=1,
        kind="chains",
        experiment="test",
        preset="",
        seed=0,
        title="a test run",
        num_chains=NUM_CHAINS,
        num_generations=NUM_GENS,
        complete=1,
        generations_done=json.dumps([NUM_GENS + 1] * len(SWEEP)),
        log_metrics=json.dumps(["w2_sq"]),
        metric_labels=json.dumps({"log_var": "log σ²", "w2_sq": "W2²"}),
        figures=json.dumps([]),
    )
    attrs.update(extra)
    return attrs


def _coords(num_sweep: int = len(SWEEP)) -> dict:
    return {
        "sweep": SWEEP[:num_sweep],
        "chain": np.arange(NUM_CHAINS, dtype=np.int32),
        "generation": np.arange(NUM_GENS + 1, dtype=np.int32),
    }


def _status(num_sweep: int = len(SWEEP)) -> np.ndarray:
    status = np.zeros((num_sweep, NUM_CHAINS, NUM_GENS + 1), np.int32)
    status[0, FAILED_CHAIN, FAILED_FROM:] = 3
    return status


@pytest.fixture(scope="module")
def gaussian():
    rng = np.random.default_rng(1)
    shape = (len(SWEEP), NUM_CHAINS, NUM_GENS + 1)
    log_var = np.cumsum(rng.normal(-0.2, 0.3, shape), axis=-1)
    log_var[..., 0] = 0.0
    mean = np.cumsum(rng.normal(0.0, 0.3, shape), axis=-1)
    mean[..., 0] = 0.0
    w2_sq = mean**2 + (np.exp(log_var / 2) - 1.0) ** 2
    # A failed chain holds garbage: huge values that would move every statistic.
    log_var[0, FAILED_CHAIN, FAILED_FROM:] = 1e6
    w2_sq[0, FAILED_CHAIN, FAILED_FROM:] = 1e6
    theory = -0.2 * np.arange(NUM_GENS + 1) * np.ones((len(SWEEP), 1))
    figures = [
        {"kind": "metric", "metric": "log_var", "name": "log_var"},
        {"kind": "metric", "metric": "w2_sq", "name": "w2", "sweep": ["M=100"]},
        {"kind": "fraction", "metric": "small", "name": "small"},
        {
            "kind": "histogram",
            "metric": "log_var",
            "generations": [0, 4, 8],
            "name": "log_var_hist",
        },
        {"kind": "snapshot", "generations": [0, 8], "name": "densities"},
    ]
    return xr.Dataset(
        {
            "mean": (DIMS + ("mean_dim0",), mean[..., None].astype(np.float32)),
            "log_var": (DIMS + ("log_var_dim0",), log_var[..., None]),
            "w2_sq": (DIMS, w2_sq),
            "small": (DIMS, log_var < -0.5),
            "status": (DIMS, _status()),
            "theory__log_var": (
                ("sweep", "generation"),
                theory,
                {"label": "E log σ²ₙ (GC-3)", "statistic": "mean"},
            ),
            "theory__small": (
                ("sweep", "generation"),
                np.linspace(0.0, 0.5, NUM_GENS + 1) * np.ones((len(SWEEP), 1)),
                {"label": "P(σ² < e⁻⁰·⁵)", "statistic": "probability"},
            ),
        },
        coords=_coords() | {"sample_size": ("sweep", np.array([10, 100]))},
        attrs=_attrs(
            experiment="gaussian",
            sweep_fields=json.dumps(["sample_size"]),
            figures=json.dumps(figures),
        ),
    )


QUANTILES = np.array([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95])


@pytest.fixture(scope="module")
def summary(gaussian):
    """The Gaussian results summarised as the schema's kind "summary"."""
    ok = (gaussian["status"] == 0).values
    data = {}
    for name in ("mean", "log_var", "w2_sq", "small"):
        var = gaussian[name]
        values = var.values.astype(np.float64)
        mask = ok.reshape(ok.shape + (1,) * (values.ndim - 3))
        values = np.where(mask, values, np.nan)
        if var.dtype != bool:  # bool metrics keep only their share
            q = np.moveaxis(np.nanquantile(values, QUANTILES, axis=1), 0, 1)
            data[name] = (("sweep", "quantile", "generation") + var.dims[3:], q)
        data[f"{name}__mean"] = (
            ("sweep", "generation") + var.dims[3:],
            np.nanmean(values, axis=1),
        )
    data["failed"] = (("sweep", "generation"), (~ok).sum(axis=1).astype(np.int32))
    for name in ("theory__log_var", "theory__small"):
        data[name] = gaussian[name]
    coords = dict(_coords(), quantile=QUANTILES)
    del coords["chain"]
    return xr.Dataset(data, coords=coords, attrs=dict(gaussian.attrs, kind="summary"))


@pytest.fixture(scope="module")
def categorical():
    rng = np.random.default_rng(2)
    shape = (1, NUM_CHAINS, NUM_GENS + 1)
    truth = np.array([0.1, 0.4, 0.05, 0.25, 0.2])
    probs = rng.dirichlet(20 * truth, size=shape)
    probs[:, :, 0] = truth
    absorbed = np.cumsum(rng.random(shape) < 0.2, axis=-1) > 0
    absorbed[..., 0] = False
    return xr.Dataset(
        {
            "probs": (DIMS + ("probs_dim0",), probs),
            "absorbed": (DIMS, absorbed),
            "status": (DIMS, _status(1)),
            "theory__absorbed": (
                ("sweep", "generation"),
                1 - 0.8 ** np.arange(NUM_GENS + 1)[None],
                {"label": "P(absorbed)", "statistic": "probability"},
            ),
        },
        coords=_coords(1),
        attrs=_attrs(
            experiment="categorical", generations_done=json.dumps([NUM_GENS + 1])
        ),
    )


def _gmm(dim: int):
    rng = np.random.default_rng(3)
    shape = (1, NUM_CHAINS, NUM_GENS + 1)
    weights = np.broadcast_to([0.4, 0.6], shape + (2,)).copy()
    means = np.zeros(shape + (2, dim))
    means[..., 0, :], means[..., 1, :] = -2.0, 2.0
    means += np.cumsum(rng.normal(0, 0.1, means.shape), axis=2)
    scale = np.exp(-0.1 * np.arange(NUM_GENS + 1))[None, None, :, None, None, None]
    covs = np.eye(dim) * scale * np.ones(shape + (2, 1, 1))
    weights[0, 0, 4, 0] = np.nan  # a failed fit in chain 0
    status = np.zeros(shape, np.int32)
    status[0, 0, 4:] = 2
    dims = DIMS + ("component",)
    return xr.Dataset(
        {
            "l2": (DIMS, np.abs(rng.normal(size=shape))),
            "status": (DIMS, status),
            "params__weights": (dims, weights),
            "params__means": (dims + ("space",), means),
            "params__covs": (dims + ("space", "space2"), covs),
        },
        coords=_coords(1),
        attrs=_attrs(experiment="gmm", generations_done=json.dumps([NUM_GENS + 1])),
    )


@pytest.fixture(scope="module")
def gmm2():
    return _gmm(2)


@pytest.fixture(scope="module")
def gmm1():
    return _gmm(1)


def _partial(ds, records):
    """``ds`` as a partial results file: ``records[p]`` generations recorded at
    sweep point ``p`` (the truth counts, as collapse_jax.runs writes it)."""
    out = ds.copy()
    out.attrs = dict(ds.attrs, complete=0, generations_done=json.dumps(records))
    return out


def _lines(ax, prefix: str):
    return [line for line in ax.lines if str(line.get_gid()).startswith(prefix)]


def _line(ax, gid: str):
    (line,) = [line for line in ax.lines if line.get_gid() == gid]
    return line


def _ok_values(ds, name, point=0):
    values = ds[name].isel(sweep=point).values.reshape(NUM_CHAINS, NUM_GENS + 1, -1)
    ok = ds["status"].isel(sweep=point).values == 0
    return np.where(ok, values[..., 0], np.nan)


# --- plot_metric ------------------------------------------------------------------


def test_metric_lines_and_median_over_ok_chains(gaussian):
    fig = plots.plot_metric(gaussian, "log_var", chains_shown=3, theory=False)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    # 3 chains + median per sweep point (no theory: the median)
    assert len(ax.lines) == 2 * (3 + 1)
    values = _ok_values(gaussian, "log_var")
    median = _line(ax, "median:M=10").get_ydata()
    expected = [np.median(col[~np.isnan(col)]) for col in values.T]
    np.testing.assert_allclose(median, expected)
    assert np.all(median < 100)  # the failed chain's 1e6 did not enter
    failed = _line(ax, f"chain:M=10:{FAILED_CHAIN}").get_ydata()
    assert np.all(np.isnan(failed[FAILED_FROM:]))
    assert np.all(np.isfinite(failed[:FAILED_FROM]))
    assert ax.get_xlabel() == "generation"
    assert ax.get_ylabel() == "log σ²"
    assert ax.get_title() == "a test run"
    assert ax.get_yscale() == "linear"
    texts = [
        t.get_text()
        for t in plots.plot_metric(gaussian, "log_var").axes[0].get_legend().get_texts()
    ]
    assert texts == ["M=10", "M=100", "E log σ²ₙ (GC-3)"]  # theory once


def test_metric_band_is_the_chosen_quantiles(gaussian):
    ax = plots.plot_metric(gaussian, "log_var", band=(0.25, 0.75), theory=False).axes[0]
    (band,) = [c for c in ax.collections if c.get_gid() == "band:M=100"]
    verts = band.get_paths()[0].vertices
    values = _ok_values(gaussian, "log_var", 1)
    lo, hi = np.quantile(values, [0.25, 0.75], axis=0)
    x = np.arange(NUM_GENS + 1)
    for g in (1, 4, 8):
        ys = verts[np.isclose(verts[:, 0], x[g]), 1]
        assert np.isclose(ys.min(), lo[g]) and np.isclose(ys.max(), hi[g])


def test_metric_theory_equals_the_stored_curve(gaussian):
    ax = plots.plot_metric(gaussian, "log_var", sweep="M=100").axes[0]
    theory = _line(ax, "theory:M=100")
    np.testing.assert_array_equal(theory.get_xdata(), np.arange(NUM_GENS + 1))
    np.testing.assert_allclose(
        theory.get_ydata(), gaussian["theory__log_var"].sel(sweep="M=100").values
    )
    assert theory.get_linestyle() == "--"
    assert [line.get_gid() for line in _lines(ax, "mean:")] == ["mean:M=100"]
    ax = plots.plot_metric(gaussian, "log_var", theory=False).axes[0]
    assert not _lines(ax, "theory:")
    assert len(ax.get_legend().get_texts()) == 2


def test_metric_log_axis_from_attrs_masks_non_positive(gaussian):
    ax = plots.plot_metric(gaussian, "w2_sq").axes[0]
    assert ax.get_yscale() == "log"
    median = _line(ax, "median:M=10").get_ydata()
    assert np.isnan(median[0])  # w2_sq = 0 at the truth: a gap, not a crash
    assert np.all(median[1:] > 0)
    assert plots.plot_metric(gaussian, "w2_sq", log=False).axes[0].get_yscale() == (
        "linear"
    )
    assert plots.plot_metric(gaussian, "mean", log=True).axes[0].get_yscale() == ("log")


def test_log_axis_without_positive_values_still_draws(gaussian):
    zero = gaussian.copy()
    zero["w2_sq"] = zero["w2_sq"] * 0.0
    for fig in (
        plots.plot_metric(zero, "w2_sq"),
        plots.plot_histograms(zero, "w2_sq", [0, 3]),
    ):
        fig.savefig(io.BytesIO(), format="png")  # draws without raising
    assert plots.plot_metric(zero, "w2_sq").axes[0].get_yscale() == "linear"


def test_metric_respects_generations_done(gaussian):
    partial = _partial(gaussian, [4, 9])  # M=10: generations 0..3 recorded
    ax = plots.plot_metric(partial, "log_var", chains_shown=2).axes[0]
    for gid in ("mean:M=10", "chain:M=10:0", "theory:M=10"):
        np.testing.assert_array_equal(_line(ax, gid).get_xdata(), [0, 1, 2, 3])
    assert len(_line(ax, "mean:M=100").get_xdata()) == NUM_GENS + 1
    # a complete file draws every generation, whatever generations_done says
    done = gaussian.copy()
    done.attrs = dict(gaussian.attrs, complete=1, generations_done="[4, 9]")
    ax = plots.plot_metric(done, "log_var").axes[0]
    assert len(_line(ax, "mean:M=10").get_xdata()) == NUM_GENS + 1
    # a point without records (not even the truth) draws nothing
    ax = plots.plot_metric(_partial(gaussian, [0, 9]), "log_var").axes[0]
    assert len(_line(ax, "mean:M=10").get_xdata()) == 0
    ax.get_figure().savefig(io.BytesIO(), format="png")


def test_metric_draws_into_a_given_axes(gaussian):
    fig = plots._new_figure((4, 3))
    ax = fig.add_subplot()
    assert plots.plot_metric(gaussian, "log_var", ax=ax, chains_shown=0) is fig
    assert len(ax.lines) == 4


def test_metric_from_a_summary_file(summary):
    ax = plots.plot_metric(summary, "log_var", chains_shown=8, theory=False).axes[0]
    assert not _lines(ax, "chain:")  # no chains in a summary
    median = _line(ax, "median:M=10").get_ydata()
    np.testing.assert_allclose(median, summary["log_var"].sel(quantile=0.5)[0, :, 0])
    assert ax.get_legend().get_title().get_text().startswith("median, 10 % to 90 %")
    ax = plots.plot_metric(summary, "log_var", band=(0.2, 0.8), theory=False).axes[0]
    assert "25 % to 75 %" in ax.get_legend().get_title().get_text()  # nearest stored
    # Beside the curve of a mean: the stored mean; this summary has no __sd.
    ax = plots.plot_metric(summary, "log_var").axes[0]
    np.testing.assert_allclose(
        _line(ax, "mean:M=10").get_ydata(), summary["log_var__mean"][0, :, 0]
    )
    assert ax.get_legend().get_title().get_text().startswith("mean (no SE stored)")


def test_metric_vector_component(gaussian):
    ax = plots.plot_metric(gaussian, "mean", component=0, chains_shown=0).axes[0]
    values = _ok_values(gaussian, "mean")
    np.testing.assert_allclose(
        _line(ax, "median:M=10").get_ydata(), np.nanmedian(values, axis=0), rtol=1e-6
    )


def test_metric_survives_a_netcdf_round_trip(gaussian, tmp_path):
    pytest.importorskip("h5netcdf")
    pytest.importorskip("h5py")
    path = tmp_path / "results.nc"
    gaussian.to_netcdf(path, engine="h5netcdf")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ax = plots.plot_metric(ds, "log_var").axes[0]
        assert _line(ax, "mean:M=100")
        assert plots.plot_fraction(ds, "small").axes[0].lines


# --- like with like: the statistic the theory curve states -------------------------


def _with_statistic(ds, metric, statistic):
    out = ds.copy()
    name = f"theory__{metric}"
    out[name] = ds[name].copy()
    out[name].attrs = dict(ds[name].attrs, statistic=statistic)
    return out


def _band_edges(ax, label, x):
    """The band's lower and upper edge at each x (NaN where it has no vertex)."""
    (band,) = [c for c in ax.collections if c.get_gid() == f"band:{label}"]
    verts = band.get_paths()[0].vertices
    lo, hi = [], []
    for g in x:
        ys = verts[np.isclose(verts[:, 0], g), 1]
        lo.append(ys.min() if ys.size else np.nan)
        hi.append(ys.max() if ys.size else np.nan)
    return np.array(lo), np.array(hi)


def test_beside_a_mean_curve_the_line_is_the_mean_with_its_standard_error(gaussian):
    # The W2 figure of gaussian-drift drew the theory mean over the median band.
    ax = plots.plot_metric(gaussian, "log_var", chains_shown=0).axes[0]
    assert not _lines(ax, "median:")
    x = np.arange(NUM_GENS + 1)
    for p, label in enumerate(SWEEP):
        values = _ok_values(gaussian, "log_var", p)  # failed chain: NaN
        n = np.isfinite(values).sum(axis=0)
        mean = np.nanmean(values, axis=0)
        np.testing.assert_allclose(_line(ax, f"mean:{label}").get_ydata(), mean)
        se = np.nanstd(values, axis=0, ddof=1) / np.sqrt(n)
        lo, hi = _band_edges(ax, label, x[1:])  # generation 0: SE 0
        np.testing.assert_allclose(lo, (mean - 2 * se)[1:])
        np.testing.assert_allclose(hi, (mean + 2 * se)[1:])
    assert ax.get_legend().get_title().get_text() == (
        f"mean ± 2 SE of {NUM_CHAINS} chains"
    )


def test_long_runs_draw_at_most_max_drawn_generations_of_the_full_statistic(
    gaussian, monkeypatch
):
    # 200,000 generations took 10 s to draw (legend placement scans every vertex):
    # a line draws at most MAX_DRAWN generations, first and last included, each the
    # statistic of every chain at that generation (computed before thinning).
    monkeypatch.setattr(plots, "MAX_DRAWN", 5)
    ax = plots.plot_metric(gaussian, "log_var", chains_shown=2).axes[0]
    values = _ok_values(gaussian, "log_var")
    drawn = np.unique(np.round(np.linspace(0, NUM_GENS, 5)).astype(int))
    line = _line(ax, "mean:M=10")
    np.testing.assert_array_equal(line.get_xdata(), drawn)
    np.testing.assert_allclose(line.get_ydata(), np.nanmean(values, axis=0)[drawn])
    for gid in ("theory:M=10", "chain:M=10:0"):
        np.testing.assert_array_equal(_line(ax, gid).get_xdata(), drawn)
    frac = plots.plot_fraction(gaussian, "small").axes[0]
    np.testing.assert_array_equal(_line(frac, "fraction:M=10").get_xdata(), drawn)


def test_beside_a_median_or_quantile_curve_the_line_is_that_quantile(gaussian):
    values = _ok_values(gaussian, "log_var", 1)
    for statistic, gid, q in (("median", "median", 0.5), ("quantile:0.9", "q0.9", 0.9)):
        ds = _with_statistic(gaussian, "log_var", statistic)
        ax = plots.plot_metric(ds, "log_var", sweep="M=100").axes[0]
        np.testing.assert_allclose(
            _line(ax, f"{gid}:M=100").get_ydata(), np.nanquantile(values, q, axis=0)
        )
        assert not _lines(ax, "mean:")
        assert plots.plot_metric(ds, "log_var", statistic=statistic).axes[0].lines


def test_a_statistic_other_than_the_curves_is_refused(gaussian):
    with pytest.raises(
        ValueError,
        match=r"plot_metric\(\): statistic must be 'mean', the statistic that "
        r"theory__log_var states .*; got 'median'\. Pass statistic=None, or "
        r"theory=False",
    ):
        plots.plot_metric(gaussian, "log_var", statistic="median")
    ax = plots.plot_metric(gaussian, "log_var", statistic="mean", theory=False).axes[0]
    assert _line(ax, "mean:M=10") and not _lines(ax, "theory:")
    with pytest.raises(ValueError, match=r"statistic must be one of 'mean', 'median'"):
        plots.plot_metric(gaussian, "log_var", statistic="mode")
    with pytest.raises(ValueError, match=r"'probability' is|plot_fraction"):
        plots.plot_metric(gaussian, "w2_sq", statistic="probability")
    bad = _with_statistic(gaussian, "log_var", "average")
    with pytest.raises(
        ValueError, match=r"ds\['theory__log_var'\]\.attrs\['statistic'\] must be"
    ):
        plots.plot_metric(bad, "log_var")
    with pytest.raises(ValueError, match=r"'probability' \(or 'mean'\) beside a share"):
        plots.plot_fraction(_with_statistic(gaussian, "small", "median"), "small")


def test_a_summary_draws_the_stored_mean_with_its_standard_error(gaussian):
    from collapse_jax import io as cio

    summary = cio.summarize(gaussian, (0.1, 0.5, 0.9))
    assert "log_var__sd" in summary
    ax = plots.plot_metric(summary, "log_var").axes[0]
    values = _ok_values(gaussian, "log_var", 0)
    mean = np.nanmean(values, axis=0)
    np.testing.assert_allclose(_line(ax, "mean:M=10").get_ydata(), mean)
    n = NUM_CHAINS - summary["failed"].values[0]
    se = np.nanstd(values, axis=0, ddof=1) / np.sqrt(n)
    lo, hi = _band_edges(ax, "M=10", np.arange(1, NUM_GENS + 1))
    np.testing.assert_allclose(lo, (mean - 2 * se)[1:])
    np.testing.assert_allclose(hi, (mean + 2 * se)[1:])
    assert ax.get_legend().get_title().get_text().startswith("mean ± 2 SE")


def _zero_dataset():
    """A distance on a log axis: point "none" is 0 at every generation, point "S"
    at generations 3 and 4 only (the three-errors decomposition's "none")."""
    rng = np.random.default_rng(4)
    shape = (2, NUM_CHAINS, NUM_GENS + 1)
    dist = np.abs(rng.normal(size=shape)) + 0.1
    dist[..., 0] = 0.0  # the truth: distance 0 by definition
    dist[0] = 0.0
    dist[1, :, 3:5] = 0.0
    return xr.Dataset(
        {
            "dist": (DIMS, dist),
            "status": (DIMS, np.zeros(shape, np.int32)),
        },
        coords=dict(_coords(), sweep=["none", "S"]),
        attrs=_attrs(log_metrics=json.dumps(["dist"])),
    )


def test_a_zero_series_on_a_log_axis_is_named_in_the_legend():
    ds = _zero_dataset()
    ax = plots.plot_metric(ds, "dist").axes[0]
    assert ax.get_yscale() == "log"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == [
        "none: 0 at every generation (not drawn on the log axis)",
        f"S: 0 at 2 of {NUM_GENS} generations (gaps)",
    ]
    # on a linear axis 0 is drawn: no note
    ax = plots.plot_metric(ds, "dist", log=False).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["none", "S"]
    fig = plots.plot_histograms(ds, "dist", [0, 3, 8])
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == [
        f"generation 0 ({NUM_CHAINS} chains ≤ 0 not shown)",
        f"generation 3 ({NUM_CHAINS} chains ≤ 0 not shown)",
        "generation 8",
    ]
    assert fig.axes[0].texts[0].get_text().startswith("every value ≤ 0")


#: ASCII stand-ins for mathematics ("σ²_n", "q_{n-1}", "(1 - 1/M)^n") outside
#: matplotlib mathtext ($...$).
ASCII_MATH = re.compile(r"[_^]")


def _ascii_math(text: str) -> bool:
    return bool(ASCII_MATH.search(re.sub(r"\$[^$]*\$", "", text)))


def test_a_long_title_is_wrapped_not_cut(gaussian):
    long = gaussian.copy()
    title = (
        "regression-accumulate: Linear regression, d = 5, T = 50: replace vs accumulate"
    )
    long.attrs = dict(gaussian.attrs, title=title)
    shown = plots.plot_metric(long, "log_var").axes[0].get_title()
    assert shown.replace("\n", " ") == title
    assert "\n" in shown and max(map(len, shown.splitlines())) <= 70


def test_the_demo_labels_are_not_ascii_math():
    ds = plots._demo_dataset()
    labels = list(json.loads(ds.attrs["metric_labels"]).values())
    labels += [ds[v].attrs["label"] for v in ds.data_vars if v.startswith("theory__")]
    assert labels and not [t for t in labels if _ascii_math(t)]
    assert _ascii_math("log σ²_n") and not _ascii_math(r"$\sigma^2_n$")


# --- plot_fraction ----------------------------------------------------------------


def test_fraction_is_the_share_of_ok_chains(categorical):
    ax = plots.plot_fraction(categorical, "absorbed").axes[0]
    hit = categorical["absorbed"].values[0]
    ok = categorical["status"].values[0] == 0
    expected = (hit & ok).sum(0) / ok.sum(0)
    np.testing.assert_allclose(_line(ax, "fraction:M=10").get_ydata(), expected)
    np.testing.assert_allclose(
        _line(ax, "theory:M=10").get_ydata(), categorical["theory__absorbed"][0]
    )
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "M=10",
        "P(absorbed)",
    ]
    assert ax.get_ylim() == (-0.02, 1.02)


def test_fraction_from_a_summary_file(summary):
    ax = plots.plot_fraction(summary, "small", theory=False).axes[0]
    np.testing.assert_allclose(
        _line(ax, "fraction:M=100").get_ydata(), summary["small__mean"][1]
    )
    assert not _lines(ax, "theory:")


# --- plot_histograms --------------------------------------------------------------


def test_histograms_count_the_ok_chains(gaussian):
    fig = plots.plot_histograms(gaussian, "log_var", [0, 4, 8], bins=7)
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    gids = [p.get_gid() for p in ax.patches]
    assert gids == ["hist:M=10:0", "hist:M=10:4", "hist:M=10:8"]
    counts = [p.get_data().values for p in ax.patches]
    assert [len(c) for c in counts] == [7, 7, 7]
    assert [int(c.sum()) for c in counts] == [NUM_CHAINS, NUM_CHAINS, NUM_CHAINS - 1]
    assert fig.get_suptitle() == "a test run"
    assert len(plots.plot_histograms(gaussian, "log_var", 4, sweep="M=100").axes) == 1


def test_histograms_of_a_log_metric_and_partial_runs(gaussian):
    partial = _partial(gaussian, [4, 9])  # M=10: generations 0..3 recorded
    fig = plots.plot_histograms(partial, "w2_sq", [0, 2, 8])
    ax0, ax1 = fig.axes
    assert ax0.get_xscale() == "log"
    # generation 0 has no positive values; generation 8 is not reached at M=10
    assert [p.get_gid() for p in ax0.patches] == ["hist:M=10:0", "hist:M=10:2"]
    assert ax0.patches[0].get_data().values.sum() == 0
    assert "not reached: 8" in ax0.get_title()
    assert len(ax1.patches) == 3


# --- plot_snapshots ---------------------------------------------------------------


def test_gaussian_snapshots(gaussian):
    fig = plots.plot_snapshots(gaussian, [0, 4, 8], chains_shown=3)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert len(_lines(ax, "chain:M=10:")) == 3
        assert len(_lines(ax, "truth")) == 1
    # the failed chain is not drawn where it failed
    gids = [line.get_gid() for line in fig.axes[2].lines]
    assert f"chain:M=10:{FAILED_CHAIN}" not in gids
    # the density of chain 0 at generation 8
    line = _line(fig.axes[2], "chain:M=10:0")
    m = float(gaussian["mean"][0, 0, 8, 0])
    v = float(np.exp(gaussian["log_var"][0, 0, 8, 0]))
    x = line.get_xdata()
    np.testing.assert_allclose(
        line.get_ydata(), np.exp(-0.5 * (x - m) ** 2 / v) / np.sqrt(2 * np.pi * v)
    )


def test_collapsed_variance_is_a_vertical_line(gaussian):
    collapsed = gaussian.copy()
    log_var = collapsed["log_var"].values.copy()
    log_var[:, :, 8] = -800.0  # exp underflows to 0
    collapsed["log_var"] = (collapsed["log_var"].dims, log_var)
    fig = plots.plot_snapshots(collapsed, [8], chains_shown=2)
    line = _line(fig.axes[0], "chain:M=10:0")
    m = float(gaussian["mean"][0, 0, 8, 0])
    np.testing.assert_allclose(line.get_xdata(), [m, m])
    fig.savefig(io.BytesIO(), format="png")


def test_snapshot_of_a_generation_not_reached(gaussian):
    partial = _partial(gaussian, [4, 9])  # M=10: generations 0..3 recorded
    fig = plots.plot_snapshots(partial, [0, 8])
    assert fig.axes[0].lines and not fig.axes[1].lines
    assert "not reached" in fig.axes[1].texts[0].get_text()
    assert plots.plot_snapshots(partial, [0, 8], sweep="M=100").axes[1].lines


def test_summary_snapshots(summary):
    ax = plots.plot_snapshots(summary, [8]).axes[0]
    assert len(_lines(ax, "quantile:M=10:")) == 3
    assert len(_lines(ax, "truth")) == 1


def test_categorical_snapshots(categorical):
    fig = plots.plot_snapshots(categorical, [0, 8])
    assert len(fig.axes) == 2
    truth = categorical["probs"].values[0, 0, 0]
    order = np.argsort(-truth)
    bars = fig.axes[0].patches
    np.testing.assert_allclose([b.get_height() for b in bars], truth[order])
    probs = categorical["probs"].values[0, :, 8][
        categorical["status"].values[0, :, 8] == 0
    ]
    heights = [b.get_height() for b in fig.axes[1].patches]
    np.testing.assert_allclose(heights, np.median(probs, axis=0)[order])


def test_gmm_snapshots_are_reproducible(gmm2):
    def offsets():
        fig = plots.plot_snapshots(gmm2, [0, 3, 8])
        assert len(fig.axes) == 3
        for ax in fig.axes:
            assert len(_lines(ax, "component:")) == 2
            assert len(_lines(ax, "truth")) == 2
            assert "chain 1" in ax.get_title()  # chain 0 failed at generation 4
        return [ax.collections[0].get_offsets() for ax in fig.axes]

    first, second = offsets(), offsets()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.shape == (plots._SNAPSHOT_DRAWS, 2)


def test_gmm_1d_snapshots_draw_densities(gmm1):
    fig = plots.plot_snapshots(gmm1, [0, 8], chains_shown=2)
    ax = fig.axes[1]
    assert [line.get_gid() for line in ax.lines] == [
        "truth",
        "chain:M=10:1",
        "chain:M=10:2",
    ]
    line = _line(ax, "chain:M=10:1")
    x, y = line.get_xdata(), line.get_ydata()
    assert np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2) == pytest.approx(1.0, abs=1e-3)


def test_snapshots_need_a_model(gaussian):
    bare = gaussian.drop_vars(["mean"])
    with pytest.raises(ValueError, match=r"plot_snapshots\(\): ds must be .*'probs'"):
        plots.plot_snapshots(bare, [0])


# --- figures ----------------------------------------------------------------------


def test_figures_writes_every_spec_reproducibly(gaussian, tmp_path):
    paths = plots.figures(gaussian, tmp_path / "a")
    names = ["log_var", "w2", "small", "log_var_hist", "densities"]
    assert [p.rsplit("/", 1)[-1] for p in paths] == [
        f"{n}.{s}" for n in names for s in ("png", "pdf")
    ]
    again = plots.figures(gaussian, tmp_path / "b")
    for p, q in zip(paths, again, strict=True):
        with open(p, "rb") as f, open(q, "rb") as g:
            assert f.read() == g.read(), p


def test_figures_of_a_summary_skip_what_needs_every_chain(summary, tmp_path):
    paths = plots.figures(summary, tmp_path)
    names = ["log_var", "w2", "small", "densities"]  # no histogram
    assert [p.rsplit("/", 1)[-1] for p in paths] == [
        f"{n}.{s}" for n in names for s in ("png", "pdf")
    ]


def test_figures_of_the_other_kinds(categorical, gmm2, tmp_path):
    specs = [
        {"kind": "fraction", "metric": "absorbed", "name": "absorbed"},
        {"kind": "snapshot", "generations": [0, 8], "name": "probs", "sweep": "M=10"},
    ]
    ds = categorical.copy()
    ds.attrs = dict(categorical.attrs, figures=json.dumps(specs))
    assert len(plots.figures(ds, str(tmp_path))) == 4
    ds = gmm2.copy()
    ds.attrs = dict(gmm2.attrs)
    del ds.attrs["figures"]
    assert plots.figures(ds, tmp_path) == []


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"kind": "movie", "name": "x"}, r"\['kind'\] must be one of 'metric'"),
        ({"kind": "metric", "name": "x"}, r"with key 'metric'"),
        ({"kind": "metric", "metric": "log_var"}, r"\['name'\] must be a file name"),
        ({"kind": "metric", "metric": "log_var", "name": "../x"}, r"\['name'\]"),
        ({"kind": "metric", "metric": "log_var", "name": "x", "colour": 1}, "colour"),
        ("log_var", r"\[0\] must be a dict"),
        (
            {"kind": "metric", "metric": "nope", "name": "x"},
            r"figure spec 0 \('x'\): plot_metric\(\): metric must be",
        ),
    ],
)
def test_figures_rejects_bad_specs(gaussian, tmp_path, spec, match):
    ds = gaussian.copy()
    ds.attrs = dict(gaussian.attrs, figures=json.dumps([spec]))
    with pytest.raises(ValueError, match=match):
        plots.figures(ds, tmp_path)


# --- bad input --------------------------------------------------------------------


def _removed_axes():
    ax = Figure().add_subplot()
    ax.remove()
    return ax


def _no_format(ds):
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k != "collapse_jax_format"}
    return ds


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda g, s: plots.plot_metric(g["log_var"], "log_var"),
            TypeError,
            r"ds must",
        ),
        (lambda g, s: plots.plot_metric({}, "log_var"), TypeError, r"ds must"),
        (
            lambda g, s: plots.plot_metric(_no_format(g), "log_var"),
            ValueError,
            r"ds must be a collapse_jax results Dataset",
        ),
        (
            lambda g, s: plots.plot_metric(g, "variance"),
            ValueError,
            r"metric must be a metric of the Dataset; got 'variance'. "
            r"Available metrics: 'log_var', 'mean', 'small', 'w2_sq'",
        ),
        (lambda g, s: plots.plot_metric(g, 3), TypeError, r"metric must be"),
        (
            lambda g, s: plots.plot_metric(g, "theory__log_var"),
            ValueError,
            r"metric must be a metric",
        ),
        (
            lambda g, s: plots.plot_metric(g, "small"),
            ValueError,
            r"metric must be a numeric .* plot_fraction\(ds, 'small'\)",
        ),
        (
            lambda g, s: plots.plot_metric(g, "log_var", sweep="M=5"),
            ValueError,
            r"sweep must be a sweep label .*'M=10', 'M=100'",
        ),
        (lambda g, s: plots.plot_metric(g, "log_var", sweep=[]), ValueError, "sweep"),
        (lambda g, s: plots.plot_metric(g, "log_var", sweep=1), TypeError, "sweep"),
        (
            lambda g, s: plots.plot_metric(g, "log_var", component=1),
            ValueError,
            r"component must be in 0..0",
        ),
        (
            lambda g, s: plots.plot_metric(g, "log_var", chains_shown=-1),
            ValueError,
            r"chains_shown must be an integer >= 0",
        ),
        (
            lambda g, s: plots.plot_metric(g, "log_var", band=(0.9, 0.1)),
            ValueError,
            r"band must be quantiles with 0 <= lo < hi <= 1",
        ),
        (lambda g, s: plots.plot_metric(g, "log_var", band=0.5), TypeError, "band"),
        (lambda g, s: plots.plot_metric(g, "log_var", log="yes"), TypeError, "log"),
        (lambda g, s: plots.plot_metric(g, "log_var", ax=1), TypeError, r"ax must"),
        (
            lambda g, s: plots.plot_fraction(g, "small", ax=_removed_axes()),
            ValueError,
            r"plot_fraction\(\): ax must be None or a matplotlib Axes on a figure; "
            r"got an Axes removed from its figure",
        ),
        (
            lambda g, s: plots.plot_fraction(g, "log_var"),
            ValueError,
            r"plot_fraction\(\): metric must be a bool metric.*plot_metric",
        ),
        (
            lambda g, s: plots.plot_fraction(s, "log_var"),
            ValueError,
            r"plot_fraction\(\): metric must be a bool metric; got 'log_var' of",
        ),
        (
            lambda g, s: plots.plot_fraction(s, "log_var"),
            ValueError,
            r"plot_fraction\(\): metric must be a bool metric; got 'log_var' of",
        ),
        (
            lambda g, s: plots.plot_metric(s, "small"),
            ValueError,
            r"plot_metric\(\): metric must be a numeric .*plot_fraction",
        ),
        (
            lambda g, s: plots.plot_histograms(s, "log_var", [0]),
            ValueError,
            r"plot_histograms\(\): ds must be a Dataset of kind 'chains'",
        ),
        (
            lambda g, s: plots.plot_histograms(g, "log_var", [0, 9]),
            ValueError,
            r"generations must be in the Dataset's range 0..8; got 9",
        ),
        (
            lambda g, s: plots.plot_histograms(g, "log_var", [0.5]),
            TypeError,
            r"generations must be an integer or a list of integers",
        ),
        (
            lambda g, s: plots.plot_histograms(g, "log_var", [0], bins=0),
            ValueError,
            r"bins must be an integer >= 1",
        ),
        (
            lambda g, s: plots.plot_snapshots(g, [-1]),
            ValueError,
            r"plot_snapshots\(\): generations must be in the Dataset's range 0..8",
        ),
        (
            lambda g, s: plots.plot_snapshots(g, [0], sweep=["M=10"]),
            TypeError,
            r"sweep must be None or one sweep label",
        ),
        (
            lambda g, s: plots.plot_snapshots(g, [0], sweep="M=1"),
            ValueError,
            r"sweep must be a sweep label",
        ),
        (lambda g, s: plots.figures(g, 3), TypeError, r"figures\(\): out_dir must"),
    ],
)
def test_bad_input_names_the_argument(gaussian, summary, call, error, match):
    with pytest.raises(error, match=match):
        call(gaussian, summary)
