"""Recording only what is asked: thinning, summaries over chains, first passage."""

import numpy as np
import pytest
import scipy.special as sp

import jax

import collapse_jax as cj
from collapse_jax._quantiles import nanquantile
from collapse_jax.estimate import estimate_chains
from collapse_jax.summaries import SummaryResult
from tests.helpers import assert_within_se

G = cj.gaussian()
P0 = cj.gaussian_params(0.0, 1.0)
# Chunks that do not divide the generations nor align with the thinning.
RUN = dict(key=3, num_chains=11, num_generations=23, sample_size=10, chunk_size=7)


@pytest.fixture(scope="module")
def full():
    return cj.run_chains(G, P0, **RUN)


def _same(full, thin):
    gens = thin.generations
    for m, v in full.metrics.items():
        assert np.array_equal(v[:, gens], thin.metrics[m], equal_nan=True), m
    assert np.array_equal(full.status[:, gens], thin.status)
    for a, b in zip(
        jax.tree.leaves(full.params), jax.tree.leaves(thin.params), strict=True
    ):
        assert np.array_equal(a[:, gens], b)
    for a, b in zip(
        jax.tree.leaves(full.final_state),
        jax.tree.leaves(thin.final_state),
        strict=True,
    ):
        assert np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("k", [1, 4, 7, 30])
def test_record_every_is_the_full_run_at_those_generations_bitwise(full, k):
    thin = cj.run_chains(G, P0, record_every=k, **RUN)
    expect = sorted({*range(0, 24, k), 23})
    assert thin.generations.tolist() == expect  # 0 and N always recorded
    assert thin.metrics["log_var"].shape == (11, len(expect), 1)
    _same(full, thin)


def test_record_at_adds_zero_and_the_last_generation(full):
    thin = cj.run_chains(G, P0, record_at=[2, 3, 4, 5, 6, 7, 8, 9, 15], **RUN)
    assert thin.generations.tolist() == [0, 2, 3, 4, 5, 6, 7, 8, 9, 15, 23]
    _same(full, thin)
    ds = thin.to_dataset()
    assert ds["generation"].values.tolist() == thin.generations.tolist()
    assert ds["log_var"].shape == (1, 11, 11, 1)


@pytest.mark.slow  # EM compiles for the GMM truth: 73 s on the loaded 2 cores
def test_thinning_changes_no_bits_of_a_cross_family_run_with_the_first_left_out():
    truth = cj.gmm_params([0.3, 0.7], [[-1.0], [1.0]], [[[0.5]], [[0.5]]])
    kw = dict(
        key=1,
        num_chains=9,
        num_generations=6,
        sample_size=20,
        chunk_size=4,
        init_family=cj.gmm(2, 1),
    )
    a = cj.run_chains(G, truth, **kw)
    b = cj.run_chains(G, truth, record_at=[3], **kw)  # generation 1 not recorded
    assert b.generations.tolist() == [0, 3, 6]
    _same(a, b)


def test_first_passage_is_the_first_generation_the_predicate_holds(full):
    res = cj.run_chains(
        G,
        P0,
        record_every=5,
        first_passage={"low": ("log_var", "<", -0.5), "now": ("w2_sq", ">=", 0.0)},
        **RUN,
    )
    low = full.metrics["log_var"][..., 0] < -0.5
    expect = np.where(low.any(1), np.argmax(low, 1), -1)
    assert np.array_equal(res.first_passage["low"], expect)
    assert (expect > 0).any() and not np.all(expect % 5 == 0)  # between records
    assert np.array_equal(res.first_passage["now"], np.zeros(11))  # generation 0
    assert res.failed_at is not None and np.all(res.failed_at == -1)


def test_absorption_generation_of_a_categorical_chain():
    fam = cj.categorical(3)
    init = cj.categorical_params([0.6, 0.3, 0.1])
    kw = dict(key=0, num_chains=16, num_generations=40, sample_size=5)
    full = cj.run_chains(fam, init, metrics=["absorbed"], record_params=False, **kw)
    res = cj.run_chains(
        fam,
        init,
        output="summaries",
        metrics=["support_size"],
        record_at=[],
        first_passage={"absorbed": ("absorbed", "==", 1)},
        **kw,
    )
    absorbed = full.metrics["absorbed"]
    expect = np.where(absorbed.any(1), np.argmax(absorbed, 1), -1)
    assert (expect > 0).sum() >= 4  # the test sees absorptions
    assert np.array_equal(res.first_passage["absorbed"], expect)
    assert res.generations.tolist() == [0, 40]


def _host_summary(values, status, levels):
    x = np.where(status[..., None] == 0, values.astype(np.float64), np.nan)
    return (np.nanmean(x, 0), np.nanvar(x, 0, ddof=1), nanquantile(x, levels, 0))


def test_summaries_are_the_statistics_of_the_records_over_chains(full, tmp_path):
    levels = (0.0, 0.25, 0.5, 0.9, 1.0)
    res = cj.run_chains(
        G,
        P0,
        output="summaries",
        record_every=3,
        quantiles=levels,
        metrics=["log_var", "w2_sq"],
        **RUN,
    )
    assert isinstance(res, SummaryResult)
    gens = res.generations
    assert gens.tolist() == [0, 3, 6, 9, 12, 15, 18, 21, 23]
    mean, var, q = _host_summary(
        full.metrics["log_var"][:, gens], full.status[:, gens], levels
    )
    st = res.stats["log_var"]
    # float32 on the device against float64 on the host: a few float32 ulps.
    np.testing.assert_allclose(st["mean"], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(st["var"][1:], var[1:], rtol=1e-5)
    np.testing.assert_allclose(st["quantiles"], q, rtol=1e-5, atol=1e-6)
    assert st["quantiles"].shape == (5, 9, 1)
    assert res.stats["w2_sq"]["mean"].shape == (9,)
    assert np.all(res.failed == 0) and res.ok and res.failures() == []
    assert np.array_equal(res.final_state.status, full.final_state.status)
    ds = res.to_dataset()
    assert ds.attrs["kind"] == "summary"
    assert ds["generation"].values.tolist() == gens.tolist()
    np.testing.assert_allclose(ds["log_var__sd"].values[0], np.sqrt(st["var"]))
    back = cj.load(cj.save(res, tmp_path / "summary.nc"))
    assert back["generation"].values.tolist() == gens.tolist()
    np.testing.assert_array_equal(back["log_var"].values, ds["log_var"].values)


@pytest.mark.slow  # four sweep programs: 61 s on the loaded 2 cores
def test_summaries_of_a_sweep_are_per_point():
    kw = dict(
        regime=cj.fresh(10, real_fraction=0.5),
        key=0,
        num_chains=12,
        num_generations=6,
        sample_size=10,
        metrics=["log_var"],
    )
    over = {"real_fraction": [0.0, 0.9]}
    full = cj.sweep(G, P0, over=over, **kw)
    res = cj.sweep(
        G,
        P0,
        over=over,
        output="summaries",
        record_every=2,
        first_passage={"low": ("log_var", "<", -0.3)},
        **kw,
    )
    gens = res.generations
    for p in range(2):
        mean = full.metrics["log_var"][p][:, gens].mean(0)
        np.testing.assert_allclose(
            res.stats["log_var"]["mean"][p], mean, rtol=1e-5, atol=1e-6
        )
    assert res.first_passage["low"].shape == (2, 12)
    assert res.failed.shape == (2, 4)


def test_device_summaries_match_the_closed_form_of_the_sufficient_chain():
    """E and Var of log sigma^2_N (docs/theory.md §3, proofs/gc-3-log-variance.md):
    N[psi(k) + log(1/k)] and N psi'(k), k = (M - 1)/2, from summaries only."""
    c, n, m = 4096, 40, 20
    res = cj.run_chains(
        G,
        P0,
        key=11,
        num_chains=c,
        num_generations=n,
        sample_size=m,
        sampler="sufficient",
        output="summaries",
        record_every=20,
        metrics=["log_var"],
    )
    k = (m - 1) / 2
    mean = res.stats["log_var"]["mean"][-1, 0]
    var = res.stats["log_var"]["var"][-1, 0]
    e_mean = n * (sp.digamma(k) - np.log(k))
    e_var = n * sp.polygamma(1, k)
    assert_within_se(mean, e_mean, np.sqrt(e_var / c), what="mean log var_N", seed=11)
    # log of a sample variance: SE ~ sqrt(2/(c-1)) for a near-normal quantity.
    assert_within_se(
        np.log(var),
        np.log(e_var),
        np.sqrt(2 / (c - 1)),
        what="log Var log var_N",
        seed=11,
    )


def test_a_million_chain_summary_run_fits_where_records_do_not(monkeypatch):
    monkeypatch.setenv("COLLAPSE_JAX_MEMORY_LIMIT", "2G")
    kw = dict(
        num_generations=10_000,
        sample_size=1000,
        sampler="sufficient",
        metrics=["log_var"],
        chunk_size=1000,
    )
    records = estimate_chains(G, P0, **kw)(10**6)
    assert records.total > 40 * 2**30  # 10^6 x 10^4 floats and statuses
    thinned = estimate_chains(G, P0, record_every=100, **kw)(10**6)
    assert thinned.records < records.records / 50
    summ = estimate_chains(G, P0, output="summaries", record_every=100, **kw)(10**6)
    assert summ.records < 2**20  # 101 generations x 5 statistics
    assert summ.total < 2 * 2**30
    with pytest.raises(ValueError, match=r"run_chains\(\): num_chains must be at most"):
        cj.run_chains(G, P0, key=0, num_chains=10**6, **kw)
    with pytest.raises(ValueError, match=r"run_chains\(\): num_chains must be at most"):
        cj.run_chains(G, P0, key=0, num_chains=10**6, record_every=100, **kw)
    # Summaries only: refused only past what the state and one chunk need.
    monkeypatch.setenv("COLLAPSE_JAX_MEMORY_LIMIT", "512M")
    with pytest.raises(
        ValueError,
        match=r"num_chains must be at most [\d,]+ for this "
        r"run to fit in memory",
    ):
        cj.run_chains(
            G, P0, key=0, num_chains=10**6, output="summaries", record_every=100, **kw
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(record_every=0), r"record_every must be an int >= 1; got 0"),
        (dict(record_every=2, record_at=[1]), r"record_every must be None when"),
        (dict(record_at=[5, 3]), r"record_at must be sorted and without repeats"),
        (dict(record_at=[3, 99]), r"record_at must be generations in \[0, "),
        (dict(output="all"), r"output must be one of \('records', 'summaries'\)"),
        (dict(output="summaries", quantiles=[0.5, 0.1]), r"quantiles must be sorted"),
        (
            dict(first_passage={"x": ("nope", "<", 1)}),
            r"first_passage\['x'\] must be "
            r"a metric of this run",
        ),
        (dict(first_passage={"x": ("log_var", "<>", 1)}), r"must be an op in"),
    ],
)
def test_recording_arguments_are_checked(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cj.run_chains(
            G, P0, key=0, num_chains=2, num_generations=5, sample_size=10, **kwargs
        )


def test_record_every_must_be_an_int():
    with pytest.raises(TypeError, match=r"run_spec\(\): record_every must be an int"):
        cj.run_spec(
            G,
            P0,
            key=0,
            num_chains=2,
            num_generations=5,
            sample_size=10,
            record_every=2.5,
        )


@pytest.mark.slow  # the rank monitor compiles: 66 s on the loaded 2 cores
def test_thinning_and_passage_in_blocks_of_chains_with_a_regime_record(monkeypatch):
    # The rank monitor runs its chains in blocks on CPU; a small limit makes three
    # blocks of 8, and its alarm (a regime record) is the passage's metric.
    from collapse_jax import _monitored

    monkeypatch.setattr(_monitored, "RANK_CPU_BATCH_LIMIT", 8)
    mon = cj.collapse_monitor(50, level=0.2, statistic="rank")
    kw = dict(
        regime=cj.monitored(cj.replace(), mon),
        key=2,
        num_chains=24,
        num_generations=9,
        sample_size=10,
        chunk_size=4,
    )
    full = cj.run_chains(G, P0, **kw)
    res = cj.run_chains(
        G, P0, record_every=4, first_passage={"alarm": ("alarm", "==", 1)}, **kw
    )
    _same(full, res)
    alarm = full.metrics["alarm"]
    expect = np.where(alarm.any(1), np.argmax(alarm, 1), -1)
    assert (expect > 0).any()
    assert np.array_equal(res.first_passage["alarm"], expect)


def test_summaries_and_passages_of_a_truth_far_from_the_origin_are_refused():
    far = cj.gaussian_params(1e6, 1.0)
    kw = dict(key=0, num_chains=4, num_generations=3, sample_size=10)
    with pytest.raises(
        ValueError,
        match=r"run_chains\(\): output must be 'records' "
        r"when location metrics are recorded",
    ):
        cj.run_chains(G, far, output="summaries", **kw)
    with pytest.raises(
        ValueError,
        match=r"first_passage\['m'\] must be a predicate "
        r"on a metric that does not move",
    ):
        cj.run_chains(G, far, first_passage={"m": ("mean", ">", 1e6)}, **kw)
    # Translation-invariant metrics are summarised as usual.
    res = cj.run_chains(G, far, output="summaries", metrics=["log_var"], **kw)
    assert res.stats["log_var"]["mean"].shape == (4, 1)
