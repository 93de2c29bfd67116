"""Every public error message: argument, expectation, what was got, a fix.

One table of ``(callable, exception, regex)``; one test runs each entry, matches the
argument name and the key part of the expectation, and checks the house format
``fn(): name must be <expected>; got <value>. <Fix sentence>.``. All bad inputs are
caught on the host before anything compiles, so the table runs in well under a second.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import jax

import collapse_jax as cj
from collapse_jax import verify

G1 = cj.gaussian(1)
G3 = cj.gaussian(3)
C4 = cj.categorical(4)
P1 = cj.gaussian_params(0.0, 1.0)
P3 = cj.gaussian_params(np.zeros(3), np.eye(3))
Q4 = cj.categorical_params([0.25, 0.25, 0.25, 0.25])
X64_ON = bool(jax.config.jax_enable_x64)


def _run(family=G1, init=P1, **kw):
    """A valid small run with one argument overridden."""
    args = dict(key=0, num_chains=8, num_generations=3, sample_size=5)
    args.update(kw)
    return cj.run_chains(family, init, **args)


def _gauss_nan(field):
    """GaussianParams built by hand (bypassing gaussian_params) with a NaN in field."""
    good = dict(
        mean=np.zeros(1), chol_log_diag=np.zeros(1), chol_unit_lower=np.ones((1, 1))
    )
    good[field] = np.full_like(good[field], np.nan)
    return cj.GaussianParams(**good)


# (id, callable, exception, regex). The regex names the argument and the key part of
# the expectation; values are matched loosely where their repr is cosmetic.
# fmt: off
CASES = [
    # ---- counts -------------------------------------------------------------------
    ("num_chains=0", lambda: _run(num_chains=0), ValueError,
     r"run_chains\(\): num_chains must be a positive integer.*; got 0\."),
    ("num_chains=-3", lambda: _run(num_chains=-3), ValueError,
     r"num_chains must be a positive integer.*; got -3\."),
    ("num_chains=2.5", lambda: _run(num_chains=2.5), TypeError,
     r"num_chains must be a positive integer; got 2\.5\. Pass an int"),
    ("num_chains=True", lambda: _run(num_chains=True), TypeError,
     r"num_chains must be a positive integer; got True\."),
    ("num_chains='8'", lambda: _run(num_chains="8"), TypeError,
     r"num_chains must be a positive integer; got '8'\."),
    ("num_generations=0", lambda: _run(num_generations=0), ValueError,
     r"num_generations must be a positive integer.*; got 0\."),
    ("num_generations=-1", lambda: _run(num_generations=-1), ValueError,
     r"num_generations must be a positive integer.*; got -1\."),
    ("num_generations=3.0", lambda: _run(num_generations=3.0), TypeError,
     r"num_generations must be a positive integer; got 3\.0\."),
    ("chunk_size=0", lambda: _run(chunk_size=0), ValueError,
     r"chunk_size must be a positive integer.*; got 0\."),
    # ---- sample_size: the estimator's minimum --------------------------------------
    ("M=1 gaussian1", lambda: _run(sample_size=1), ValueError,
     r"sample_size must be >= 2 to estimate a variance; got 1\. Pass >= 2, or None"),
    ("M=np.int64(1)", lambda: _run(sample_size=np.int64(1)), ValueError,
     r"sample_size must be >= 2 to estimate a variance; got 1\."),
    ("M=3 gaussian3", lambda: _run(G3, P3, sample_size=3), ValueError,
     r"sample_size must be >= 4 to estimate a non-singular 3x3 covariance.*; got 3\."),
    ("M=0 categorical", lambda: _run(C4, Q4, sample_size=0), ValueError,
     r"sample_size must be >= 1 to estimate frequencies; got 0\."),
    ("M=2**31", lambda: _run(sample_size=2**31), ValueError,
     r"sample_size must be < 2\*\*31; got 2147483648\."),
    ("M=True", lambda: _run(sample_size=True), TypeError,
     r"sample_size must be an int, a 1-D schedule or None; got True\."),
    ("M=5.5", lambda: _run(sample_size=5.5), ValueError,
     r"sample_size must be an integer; got 5\.5\. Pass a whole number of samples"),
    # ---- sample_size: schedules ----------------------------------------------------
    ("schedule too short", lambda: _run(sample_size=[5, 5]), ValueError,
     r"sample_size must be a schedule of length num_generations=3; got .*length 2"),
    ("schedule empty", lambda: _run(sample_size=[]), ValueError,
     r"sample_size must be a schedule of length num_generations=3; got .*length 0"),
    ("schedule non-integer", lambda: _run(sample_size=[5, 5.5, 5]), ValueError,
     r"sample_size must be a schedule of integers; got \[5\.0, 5\.5, 5\.0\]\. Round"),
    ("schedule NaN", lambda: _run(sample_size=[5, np.nan, 5]), ValueError,
     r"sample_size must be a schedule of integers; got \[5\.0, nan, 5\.0\]\."),
    ("schedule zero", lambda: _run(sample_size=[5, 0, 5]), ValueError,
     r"sample_size must be a schedule with every entry >= 2 to estimate a variance; "
     r"got .*\b0\b.* at generation 1"),
    ("schedule negative", lambda: _run(sample_size=[5, 5, -4]), ValueError,
     r"sample_size must be a schedule with every entry >= 2.*; "
     r"got .*-4\b.* at generation 2"),
    ("schedule below minimum", lambda: _run(sample_size=[1, 5, 5]), ValueError,
     r"sample_size must be a schedule with every entry >= 2 to estimate a variance; "
     r"got .*\b1\b.* at generation 0'?\. Raise every entry"),
    ("schedule below minimum gaussian3", lambda: _run(G3, P3, sample_size=[4, 3, 9]),
     ValueError,
     r"sample_size must be a schedule with every entry >= 4 to estimate a "
     r"non-singular 3x3 covariance.*; got .*\b3\b.* at generation 1"),
    ("schedule entry >= 2**31", lambda: _run(sample_size=[5, 2**31, 5]), ValueError,
     r"sample_size must be a schedule with entries < 2\*\*31; got .*2147483648"),
    ("schedule is a string", lambda: _run(sample_size="abc"), TypeError,
     r"sample_size must be an int, a 1-D integer schedule, or None; got 'abc'\."),
    ("schedule is 2-D", lambda: _run(sample_size=np.full((3, 1), 5)), TypeError,
     r"sample_size must be an int, a 1-D integer schedule, or None; "
     r"got an array of shape \(3, 1\)"),
    ("schedule is ragged", lambda: _run(sample_size=[5, [5, 5], 5]), TypeError,
     r"sample_size must be an int, a 1-D integer schedule, or None; got \[5, "),
    ("schedule of bools", lambda: _run(sample_size=np.ones(3, bool)), TypeError,
     r"sample_size must be an int, a 1-D integer schedule.*dtype bool"),
    # ---- gaussian_params ------------------------------------------------------------
    ("cov not symmetric", lambda: cj.gaussian_params([0, 0], [[1, 0.5], [0, 1]]),
     ValueError, r"gaussian_params\(\): cov must be symmetric; got \[\[1\.0, 0\.5\], "
     r"\[0\.0, 1\.0\]\]\. Pass \(cov \+ cov\.T\) / 2\."),
    ("cov indefinite", lambda: cj.gaussian_params([0, 0], [[1, 2], [2, 1]]),
     ValueError, r"gaussian_params\(\): cov must be positive definite; "
     r"got .*smallest eigenvalue -1\b"),
    ("cov singular", lambda: cj.gaussian_params([0, 0], [[1, 1], [1, 1]]),
     ValueError, r"cov must be positive definite; got .*smallest eigenvalue"),
    ("variance negative", lambda: cj.gaussian_params(0.0, -1.0), ValueError,
     r"cov must be positive definite; got .*smallest eigenvalue -1\b"),
    ("variance zero", lambda: cj.gaussian_params(0.0, 0.0), ValueError,
     r"cov must be positive definite; got .*smallest eigenvalue 0\b"),
    ("cov wrong shape", lambda: cj.gaussian_params([0, 0], np.eye(3)), ValueError,
     r"gaussian_params\(\): cov must be a matrix of shape \(2, 2\) matching mean; "
     r"got an array of shape \(3, 3\)"),
    ("cov vector", lambda: cj.gaussian_params([0, 0], [1.0, 1.0]), ValueError,
     r"cov must be a matrix of shape \(2, 2\) matching mean; got an array of shape "
     r"\(2,\)"),
    ("cov inf", lambda: cj.gaussian_params([0, 0], [[1, np.inf], [np.inf, 1]]),
     ValueError, r"gaussian_params\(\): cov must be finite; got \[\[1\.0, inf\]"),
    ("variance NaN", lambda: cj.gaussian_params(0.0, np.nan), ValueError,
     r"cov must be finite; got \[\[nan\]\]\. Remove NaN"),
    ("mean NaN", lambda: cj.gaussian_params(np.nan, 1.0), ValueError,
     r"gaussian_params\(\): mean must be finite; got \[nan\]\. Remove NaN"),
    ("mean -inf", lambda: cj.gaussian_params([0.0, -np.inf], np.eye(2)), ValueError,
     r"mean must be finite; got \[0\.0, -inf\]\."),
    ("mean 2-D", lambda: cj.gaussian_params(np.zeros((2, 2)), np.eye(2)), ValueError,
     r"gaussian_params\(\): mean must be a vector of shape \(d,\); "
     r"got an array of shape \(2, 2\)"),
    # ---- categorical_params ---------------------------------------------------------
    ("probs negative", lambda: cj.categorical_params([1.5, -0.5]), ValueError,
     r"categorical_params\(\): probs must be non-negative; got \[1\.5, -0\.5\]\."),
    ("probs NaN", lambda: cj.categorical_params([np.nan, 1.0]), ValueError,
     r"categorical_params\(\): probs must be finite; got \[nan, 1\.0\]\."),
    ("probs inf", lambda: cj.categorical_params([np.inf, 0.0]), ValueError,
     r"probs must be finite; got \[inf, 0\.0\]\."),
    ("probs sum to 0.9", lambda: cj.categorical_params([0.5, 0.4]), ValueError,
     r"probs must be probabilities summing to 1; got .*summing to 0\.9\b.*\. "
     r"Divide by the sum"),
    ("probs sum to 2", lambda: cj.categorical_params([1.0, 1.0]), ValueError,
     r"probs must be probabilities summing to 1; got .*summing to 2\.0"),
    ("probs empty", lambda: cj.categorical_params([]), ValueError,
     r"categorical_params\(\): probs must be a non-empty vector of shape \(K,\); "
     r"got an array of shape \(0,\)"),
    ("probs 2-D", lambda: cj.categorical_params([[0.5, 0.5]]), ValueError,
     r"probs must be a non-empty vector of shape \(K,\); got an array of shape "
     r"\(1, 2\)"),
    ("probs scalar", lambda: cj.categorical_params(1.0), ValueError,
     r"probs must be a non-empty vector of shape \(K,\); got 1\.0\."),
    # ---- init ---------------------------------------------------------------------
    ("init categorical for gaussian", lambda: _run(G1, Q4), TypeError,
     r"run_chains\(\): init must be GaussianParams .*; got 'CategoricalParams'\. "
     r"Build the truth with cj\.gaussian_params"),
    ("init gaussian for categorical", lambda: _run(C4, P1), TypeError,
     r"init must be CategoricalParams .*; got 'GaussianParams'\."),
    ("init plain tuple", lambda: _run(G1, tuple(P1)), TypeError,
     r"init must be GaussianParams .*; got 'tuple'\."),
    ("init wrong dimension", lambda: _run(G3, P1), ValueError,
     r"init must be parameters of a 3-dimensional Gaussian; got \(\(1,\), \(1,\), "
     r"\(1, 1\)\)\. .*use cj\.gaussian\(dim=1\)"),
    ("init wrong number of categories",
     lambda: _run(C4, cj.categorical_params([0.5, 0.5])), ValueError,
     r"init must be probabilities over 4 categories; got an array of shape \(2,\)"
     r".*cj\.categorical\(num_categories=2\)"),
    ("init mean NaN", lambda: _run(G1, _gauss_nan("mean")), ValueError,
     r"run_chains\(\): init\.mean must be finite; got \[nan\]\. Remove NaN"),
    ("init log-diag NaN", lambda: _run(G1, _gauss_nan("chol_log_diag")), ValueError,
     r"init\.chol_log_diag must be finite; got \[nan\]\."),
    ("init unit-lower NaN", lambda: _run(G1, _gauss_nan("chol_unit_lower")),
     ValueError, r"init\.chol_unit_lower must be finite; got \[\[nan\]\]\."),
    ("init probs NaN", lambda: _run(C4, cj.CategoricalParams(
        np.array([np.nan, 0.5, 0.25, 0.25]), np.zeros(4, np.int32))), ValueError,
     r"init\.probs must be finite, non-negative and summing to 1; got \[nan, 0\.5"),
    ("init probs negative", lambda: _run(C4, cj.CategoricalParams(
        np.array([-0.25, 0.75, 0.25, 0.25]), np.zeros(4, np.int32))), ValueError,
     r"init\.probs must be finite, non-negative and summing to 1; got \[-0\.25"),
    ("init probs not summing to 1", lambda: _run(C4, cj.CategoricalParams(
        np.full(4, 0.3), np.zeros(4, np.int32))), ValueError,
     r"init\.probs must be finite, non-negative and summing to 1; got \[0\.3"),
    # ---- family factories -----------------------------------------------------------
    ("estimator='ols'", lambda: cj.gaussian(estimator="ols"), ValueError,
     r"gaussian\(\): estimator must be one of 'unbiased', 'mle'; got 'ols'\. "
     r"Pass one of"),
    ("dim=0", lambda: cj.gaussian(dim=0), ValueError,
     r"gaussian\(\): dim must be a positive integer.*; got 0\. Pass dim >= 1\."),
    ("dim=1.0", lambda: cj.gaussian(dim=1.0), TypeError,
     r"gaussian\(\): dim must be a positive integer; got 1\.0\."),
    ("num_categories=0", lambda: cj.categorical(0), ValueError,
     r"categorical\(\): num_categories must be a positive integer.*; got 0\."),
    ("num_categories='3'", lambda: cj.categorical("3"), TypeError,
     r"categorical\(\): num_categories must be a positive integer; got '3'\."),
    ("family not a family", lambda: _run("gaussian"), TypeError,
     r"run_chains\(\): family must be a model family such as cj\.gaussian\(\).*; "
     r"got 'str'\."),
    # ---- sampler, regime, init_family ----------------------------------------------
    ("sampler unknown", lambda: _run(sampler="exact"), ValueError,
     r"run_chains\(\): sampler must be one of 'samples', 'sufficient'; got 'exact'\."),
    ("sampler 'population' is not public", lambda: _run(sampler="population"),
     ValueError, r"sampler must be one of 'samples', 'sufficient'; got 'population'"),
    ("sufficient with sample_size=None",
     lambda: _run(sampler="sufficient", sample_size=None), ValueError,
     r"sampler must be 'samples' with sample_size=None; got 'sufficient'\. "
     r"The population limit draws nothing"),
    ("sufficient without sample_fit",
     lambda: _run(G1._replace(sample_fit=None), sampler="sufficient"), ValueError,
     r"sampler must be 'samples' for the gaussian family; got 'sufficient'\."),
    ("population without fit_population",
     lambda: _run(G1._replace(fit_population=None), sample_size=None), ValueError,
     r"sample_size must be a finite size for this family; got None\. "
     r".*not yet supported"),
    ("sampler the regime lacks",
     lambda: _run(regime=cj.replace()._replace(samplers=("samples",)),
                  sampler="sufficient"), ValueError,
     r"sampler must be one of \('samples',\) for regime 'replace'; got 'sufficient'"),
    ("regime not a Regime", lambda: _run(regime="replace"), TypeError,
     r"run_chains\(\): regime must be a regime such as cj\.replace\(\); got 'str'\."),
    ("init not in init_family", lambda: _run(init_family=C4), TypeError,
     r"run_chains\(\): init must be CategoricalParams .*; got 'GaussianParams'\."),
    ("init_family of another dimension", lambda: _run(init_family=G3), ValueError,
     r"run_chains\(\): init_family must be a 1-dimensional Gaussian or "
     r"Gaussian-mixture family, or a categorical \(numeric support\); got "
     r"'gaussian with event shape \(3,\)'\. Pass a truth"),
    ("init_family the fitted family cannot take", lambda: _run(
        cj.categorical(4), cj.categorical_params([0.25] * 4), init_family=G3),
     ValueError,
     r"init_family must be a categorical family over 4 categories; got 'gaussian'"),
    ("init_family sufficient sampler", lambda: _run(
        cj.categorical(4, max_support=2), cj.categorical_params([0.25] * 4),
        init_family=C4, sampler="sufficient"), ValueError,
     r"sampler must be 'samples' when init_family differs from family"),
    ("init_family of another K", lambda: _run(
        cj.categorical(3, max_support=2), cj.categorical_params([0.25] * 4),
        init_family=C4), ValueError,
     r"init_family must be a categorical family over the same 3 categories; got "
     r"'a categorical over 4 categories'"),
    ("metrics duplicated", lambda: _run(metrics=["mean", "mean"]), ValueError,
     r"metrics must be a sequence of distinct names"),
    ("init_family not a family", lambda: _run(init_family="gaussian"), TypeError,
     r"init_family must be None or a model family; got 'str'\."),
    # ---- dtype --------------------------------------------------------------------
    pytest.param(
        "float64 with x64 off", lambda: _run(dtype="float64"), ValueError,
        r"run_chains\(\): dtype must be available; got .*float64 while JAX's x64 mode "
        r"is off.*JAX_ENABLE_X64=1",
        marks=pytest.mark.skipif(X64_ON, reason="x64 is on: float64 is available"),
        id="float64 with x64 off"),
    pytest.param(
        "np.float64 with x64 off", lambda: _run(dtype=np.float64), ValueError,
        r"dtype must be available; got .*float64 while JAX's x64 mode is off",
        marks=pytest.mark.skipif(X64_ON, reason="x64 is on: float64 is available"),
        id="np.float64 with x64 off"),
    ("dtype 'float33'", lambda: _run(dtype="float33"), ValueError,
     r"run_chains\(\): dtype must be 'float32' or 'float64'; got 'float33'\. "
     r"Pass dtype='float32'"),
    ("dtype 'float16'", lambda: _run(dtype="float16"), ValueError,
     r"dtype must be 'float32' or 'float64'; got 'float16'\."),
    ("dtype 'int32'", lambda: _run(dtype="int32"), ValueError,
     r"dtype must be 'float32' or 'float64'; got 'int32'\."),
    ("dtype None", lambda: _run(dtype=None), ValueError,
     r"dtype must be 'float32' or 'float64'; got None\."),
    # ---- key ----------------------------------------------------------------------
    ("key float", lambda: _run(key=1.5), TypeError,
     r"run_chains\(\): key must be an int seed or a typed JAX key; got 1\.5\. "
     r"Pass e\.g\. key=0 or key=jax\.random\.key\(0\)"),
    ("key bool", lambda: _run(key=True), TypeError,
     r"key must be an int seed or a typed JAX key; got True\."),
    ("key None", lambda: _run(key=None), TypeError,
     r"key must be an int seed or a typed JAX key; got None\."),
    ("key string", lambda: _run(key="0"), TypeError,
     r"key must be an int seed or a typed JAX key; got '0'\."),
    ("key legacy PRNGKey", lambda: _run(key=jax.random.PRNGKey(0)), TypeError,
     r"key must be an int seed or a typed key from jax\.random\.key; got an array of "
     r"shape \(2,\) and dtype uint32\. Legacy uint32 PRNGKey"
     r".*jax\.random\.key\(seed\)"),
    ("key legacy numpy", lambda: _run(key=np.zeros(2, np.uint32)), TypeError,
     r"key must be an int seed or a typed key from jax\.random\.key; got an array"),
    ("key batch of typed keys",
     lambda: _run(key=jax.random.split(jax.random.key(0), 2)), ValueError,
     r"key must be a single typed key \(shape \(\)\); got an array of shape \(2,\)"),
    ("seed negative", lambda: _run(key=-1), ValueError,
     r"key must be an int seed in \[0, 2\*\*32\); got -1\. Pass a seed between 0 and "
     r"4294967295\."),
    ("seed 2**32", lambda: _run(key=2**32), ValueError,
     r"key must be an int seed in \[0, 2\*\*32\); got 4294967296\."),
    # ---- chain ids ----------------------------------------------------------------
    ("first_chain negative", lambda: _run(first_chain=-1), ValueError,
     r"run_chains\(\): first_chain must be a non-negative integer.*; got -1\. "
     r"Pass first_chain >= 0\."),
    ("first_chain float", lambda: _run(first_chain=1.0), TypeError,
     r"first_chain must be a non-negative integer; got 1\.0\."),
    ("first_chain + num_chains beyond int32",
     lambda: _run(first_chain=2**31 - 4, num_chains=8), ValueError,
     r"first_chain \+ num_chains must be <= 2147483648; got 2147483652\. "
     r"Chain ids are int32"),
    # ---- progress, metrics, record_params -------------------------------------------
    ("progress not callable", lambda: _run(progress=3), TypeError,
     r"run_chains\(\): progress must be None or a callable \(done, total\); got 3\."),
    ("progress a string", lambda: _run(progress="tqdm"), TypeError,
     r"progress must be None or a callable.*; got 'tqdm'\."),
    ("metrics unknown name", lambda: _run(metrics=["mean", "nope"]), ValueError,
     r"run_chains\(\): metrics must be a sequence of distinct names from "
     r"\('mean', 'log_var',.*; got \['mean', 'nope'\]\. "
     r"Pass None for the default metrics"),
    ("metrics of another family", lambda: _run(metrics=["entropy"]), ValueError,
     r"metrics must be a sequence of distinct names from \('mean'.*; "
     r"got \['entropy'\]\."),
    ("metrics a bare string", lambda: _run(metrics="mean"), ValueError,
     r"metrics must be a sequence of distinct names from .*; got 'mean'\."),
    ("record_params=1", lambda: _run(record_params=1), TypeError,
     r"run_chains\(\): record_params must be a bool; got 1\. Pass True or False\."),
    ("record_params='yes'", lambda: _run(record_params="yes"), TypeError,
     r"record_params must be a bool; got 'yes'\."),
    # ---- init not representable in the run's dtype ----------------------------------
    pytest.param(
        "init overflows float32",
        lambda: _run(G1, cj.gaussian_params(1e39, 1.0), num_generations=1,
                     sample_size=None),  # the cheapest compile if it is not caught
        ValueError,
        r"run_chains\(\): init\.mean must be representable in float32.*; got values "
        r"up to 1e\+39\. Rescale the problem, or run with dtype='float64'",
        id="init overflows float32"),
    ("categorical counts inconsistent with probs",
     lambda: _run(cj.categorical(4), cj.CategoricalParams(
         np.full(4, 0.25), np.array([5, 0, 0, 0], np.int32))), ValueError,
     r"init\.counts must be all zero, or counts whose frequencies equal probs; "
     r"got \[5, 0, 0, 0\]\."),
    ("categorical counts missing",
     lambda: _run(cj.categorical(4), cj.CategoricalParams(np.full(4, 0.25), None)),
     ValueError, r"init\.counts must be an integer array of shape \(4,\); got None\."),
    ("gaussian factor not unit lower-triangular",
     lambda: _run(cj.gaussian(2), cj.GaussianParams(
         np.zeros(2), np.zeros(2), np.array([[2.0, 1.0], [0.0, 1.0]]))), ValueError,
     r"init\.chol_unit_lower must be unit lower-triangular; got \[\[2\.0, 1\.0\]"),
    ("gaussian_params non-numeric mean", lambda: cj.gaussian_params("a", 1.0),
     TypeError, r"gaussian_params\(\): mean must be numeric.*; got 'a'\."),
    # ---- verify.run_claims --------------------------------------------------------
    ("run_claims unknown id", lambda: verify.run_claims(only=["NOPE"]), ValueError,
     r"run_claims\(\): only must be claim ids from \[.*'GC-1'.*\]; got \['NOPE'\]\. "
     r"Run `collapse-jax verify --list`"),
    ("run_claims seed=-1", lambda: verify.run_claims(seed=-1), ValueError,
     r"run_claims\(\): seed must be a non-negative integer.*; got -1\. "
     r"Pass seed >= 0\."),
    ("run_claims seed float", lambda: verify.run_claims(seed=0.5), TypeError,
     r"run_claims\(\): seed must be a non-negative integer; got 0\.5\."),
    ("run_claims dtype", lambda: verify.run_claims(dtype="float16"), ValueError,
     r"run_claims\(\): dtype must be 'float32' or 'float64'; got 'float16'\."),
]
# fmt: on

# The house format: "fn(): name must be <expected>; got <value>. <Fix sentence>."
HOUSE = re.compile(
    r"^(?P<fn>\w+)\(\): (?P<name>[\w.+ ]+) must be (?P<expected>.+?); "
    r"got (?P<got>.+?)\. (?P<fix>[A-Z`].*\.)$",
    re.DOTALL,
)


def _param(case):
    """A plain tuple becomes a pytest.param with its name as id; params pass as is."""
    return case if hasattr(case, "marks") else pytest.param(*case, id=case[0])


@pytest.mark.parametrize("name, call, error, pattern", [_param(c) for c in CASES])
def test_error_message(name, call, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        call()
    msg = str(info.value)
    parts = HOUSE.match(msg)
    assert parts is not None, f"{name}: not in the house format: {msg!r}"
    assert "; got " in msg
    # the fix is a sentence of its own: a capitalised imperative or explanation
    assert len(parts["fix"].split()) >= 2, f"{name}: no fix sentence in {msg!r}"
    # the argument named in the message is the one the regex expects
    assert re.search(re.escape(parts["name"]), pattern.replace("\\", "")), (
        f"{name}: message names {parts['name']!r}, pattern {pattern!r}"
    )


def test_every_case_has_a_unique_id():
    ids = [c.id if hasattr(c, "marks") else c[0] for c in CASES]
    assert len(ids) == len(set(ids))
