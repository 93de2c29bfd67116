r"""The k-means start of the Gaussian-mixture family's maximum-likelihood fit.

Private: :func:`kmeans_start` is the default start of every EM fit of
:func:`collapse_jax.gmm` (``init="kmeans"``), the start scikit-learn's
``GaussianMixture`` uses by default (``init_params="kmeans"``), which the paper's
chain refits from scratch every generation. Warm-starting EM from the previous model
instead biases the chain: EM stops (``|gain| < tol``) on the flat likelihood of an
over-parameterised mixture near where it started, so the chain moves less per
generation than the published one (measured in docs/theory.md and the ``init``
argument of :func:`collapse_jax.gmm`).

The start, per fit, from the ``fit`` role key (so it is part of the chain's key
scheme, and a chain's bits do not depend on its batch neighbours):

1. **k-means++ seeding** (Arthur & Vassilvitskii 2007), scikit-learn's greedy variant:
   the first centre drawn with probability proportional to the point weights, every
   next one the best (smallest potential) of ``2 + floor(log k)`` candidates drawn
   with probability proportional to ``w_i D(x_i)^2``. Draws are exact categorical
   draws by the Gumbel-max trick, one key and one ``(n,)`` Gumbel vector per draw, so
   they are prefix-stable (a point's Gumbel does not depend on how many masked
   points follow it) and masked points (weight 0) are never drawn.
2. **Lloyd iterations** as scikit-learn's ``KMeans(n_init=1)``: assign, re-centre,
   stop when the assignment repeats or the total squared centre shift is at most
   ``1e-4`` times the mean per-coordinate variance of the points, at most 300
   iterations (a ``while_loop`` whose per-chain state freezes once converged). An
   empty cluster keeps its centre (scikit-learn relocates it to a far point; with
   ``M`` points per component in the hundreds this does not occur).
3. **Labels to components**: cluster ``l`` becomes the component ``j`` of the previous
   model it lies closest to (Mahalanobis distance of the cluster's mean in ``j``'s
   whitened frame), matched greedily (repeatedly the closest free pair). The labels
   of a mixture are arbitrary; matching keeps component identities persistent
   across generations (the ``weights`` and ``means`` metrics) and keeps each EM
   iterate in the frame of the previous component it is closest to.
4. **Start iterate**: one M-step from the hard responsibilities, as scikit-learn's
   ``_initialize`` (the variance floor applies).

k-means runs on the points in the frame of the previous model's widest live
component (largest ``log det``), as ``U diag(exp(s - max s)) y``: a translation
and a uniform rescaling of ``x``, to which k-means is invariant (a rotation too), so
this is k-means on ``x``, computed without forming ``x`` at a collapsed scale.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from collapse_jax._linalg import _sum_small
from collapse_jax._reduce import tree_sum_last
from collapse_jax.families._gmm_params import GmmParams

KMEANS_MAX_ITERS = 300  # scikit-learn's KMeans default
KMEANS_TOL = 1e-4  # scikit-learn's KMeans default (relative to the mean variance)


def _points(prev: GmmParams, y, bad, w):
    """k-means coordinates ``(d, n)`` and their weights: the points in the widest live
    component's frame, scaled to O(1) (module docstring)."""
    k, d = prev.means.shape
    s = prev.chol_log_diag
    live = prev.log_weights > -jnp.inf
    log_det = jnp.where(live, _sum_small(s, axis=-1), -jnp.inf)
    widest = jnp.argmax(log_det)  # first on ties; component 0 if none is live
    pick = jnp.arange(k, dtype=widest.dtype) == widest  # (k,)
    y_w = jnp.zeros_like(y[0])
    s_w = jnp.zeros_like(s[0])
    u_w = jnp.zeros_like(prev.chol_unit_lower[0])
    bad_w = jnp.zeros_like(bad[0])
    for j in range(k):  # a k-way select, not a gather (cheap, and fuses)
        y_w = jnp.where(pick[j], y[j], y_w)
        s_w = jnp.where(pick[j], s[j], s_w)
        u_w = jnp.where(pick[j], prev.chol_unit_lower[j], u_w)
        bad_w = jnp.where(pick[j], bad[j], bad_w)
    scaled = y_w * jnp.exp(s_w - jnp.max(s_w))[:, None]  # (d, n)
    lower = jnp.tril(u_w, -1) + jnp.eye(d, dtype=u_w.dtype)
    x = _sum_small(lower[:, :, None] * scaled[None, :, :], axis=1)  # (d, n)
    w = jnp.where(bad_w, jnp.zeros_like(w), w)
    return x, w


def _sq_dist(x, c):
    """Squared distances ``(k, n)`` of points ``x`` ``(d, n)`` to centres ``(k, d)``."""
    diff = x[None, :, :] - c[:, :, None]
    return _sum_small(diff * diff, axis=1)


def _centres(x, w, labels, k, old):
    """Weighted cluster means ``(k, d)``; an empty cluster keeps ``old``."""
    onehot = labels[None, :] == jnp.arange(k, dtype=labels.dtype)[:, None]  # (k, n)
    wk = jnp.where(onehot, w[None, :], jnp.zeros_like(x[:1]))  # (k, n)
    mass = tree_sum_last(wk)  # (k,)
    sums = tree_sum_last(wk[:, None, :] * x[None, :, :])  # (k, d)
    empty = ~(mass > 0)
    safe = jnp.where(empty, jnp.ones_like(mass), mass)
    return jnp.where(empty[:, None], old, sums / safe[:, None])


def _log(x):
    return jnp.where(x > 0, jnp.log(jnp.where(x > 0, x, 1)), -jnp.inf)


def kmeans_plusplus(key, x, w, k: int):
    """Greedy k-means++ centres ``(k, d)`` of weighted points ``x`` ``(d, n)``."""
    n = x.shape[1]
    trials = 2 + int(math.log(k))
    keys = jax.random.split(key, 1 + (k - 1) * trials)
    gumbel = jax.vmap(lambda kk: jax.random.gumbel(kk, (n,), x.dtype))(keys)
    log_w = _log(w)
    first = jnp.argmax(log_w + gumbel[0])
    centres = [x[:, first]]
    closest = _sq_dist(x, centres[0][None, :])[0]  # (n,)
    for c in range(1, k):
        rows = gumbel[1 + (c - 1) * trials : 1 + c * trials]  # (trials, n)
        cand = jnp.argmax(log_w[None, :] + _log(closest)[None, :] + rows, axis=1)
        cand_x = x[:, cand].T  # (trials, d)
        new = jnp.minimum(closest[None, :], _sq_dist(x, cand_x))  # (trials, n)
        pot = tree_sum_last(jnp.where(w[None, :] > 0, w[None, :] * new, 0))
        best = jnp.argmin(pot)
        centres.append(cand_x[best])
        closest = new[best]
    return jnp.stack(centres)


def lloyd(x, w, centres):
    """Lloyd iterations from ``centres`` as scikit-learn's ``KMeans``; returns the
    labels ``(n,) int32`` of the final centres and the iterations run."""
    k = centres.shape[0]
    total = tree_sum_last(w)
    mean = tree_sum_last(w[None, :] * x) / total  # (d,)
    var = tree_sum_last(w[None, :] * (x - mean[:, None]) ** 2) / total
    tol = KMEANS_TOL * _sum_small(var, axis=-1) / x.shape[0]

    def assign(c):
        return jnp.argmin(_sq_dist(x, c), axis=0).astype(jnp.int32)

    def cond(state):
        _, _, count, done = state
        return ~done & (count < KMEANS_MAX_ITERS)

    def body(state):
        c, prev_labels, count, _ = state
        labels = assign(c)
        new = _centres(x, w, labels, k, c)
        shift = _sum_small(_sum_small((new - c) ** 2, axis=-1), axis=-1)
        same = jnp.all((labels == prev_labels) | ~(w > 0))
        return new, labels, count + 1, same | (shift <= tol)

    start = (centres, jnp.full(x.shape[1:], -1, jnp.int32), jnp.int32(0), False)
    centres, _, count, _ = jax.lax.while_loop(cond, body, start)
    return assign(centres), count


def _match(cost):
    """Greedy matching of clusters to components: ``(k,)`` component of each
    cluster, from ``cost[j, l]`` (component ``j``, cluster ``l``)."""
    k = cost.shape[0]
    comp_of = jnp.zeros((k,), jnp.int32)
    used_j = jnp.zeros((k,), bool)
    used_l = jnp.zeros((k,), bool)
    idx = jnp.arange(k * k, dtype=jnp.int32)
    for _ in range(k):
        free = ~used_j[:, None] & ~used_l[None, :]
        # NaN costs (a stale frame) rank last but are still matched.
        c = jnp.where(jnp.isnan(cost), jnp.inf, cost)
        flat = jnp.where(free, c, jnp.inf).reshape(-1)
        # argmin of the free pairs; if every free cost is inf, the first free pair.
        best = jnp.argmin(jnp.where(free.reshape(-1), flat, jnp.inf))
        best = jnp.where(
            jnp.isinf(flat[best]), jnp.argmax(free.reshape(-1)), best
        ).astype(jnp.int32)
        comp, cluster = best // k, best % k
        comp_of = jnp.where(idx[:k] == cluster, comp, comp_of)
        used_j = used_j | (idx[:k] == comp)
        used_l = used_l | (idx[:k] == cluster)
    return comp_of


def kmeans_log_resp(key, prev: GmmParams, y, bad, w):
    """Hard log responsibilities ``(k, n)`` (0 for its component, ``-inf`` else) of
    the k-means clustering of the points, labels matched to the components of
    ``prev``, and the Lloyd iterations run (module docstring)."""
    k = prev.means.shape[0]
    x, wk = _points(prev, y, bad, w)
    labels, count = lloyd(x, wk, kmeans_plusplus(key, x, wk, k))
    onehot = labels[None, :] == jnp.arange(k, dtype=jnp.int32)[:, None]  # (l, n)
    wl = jnp.where(onehot, w[None, :], jnp.zeros_like(w)[None, :])
    mass = tree_sum_last(wl)  # (l,)
    # cost[j, l] = |mean over cluster l of y_j|^2, y_j the points in j's frame.
    sums = tree_sum_last(y[:, None, :, :] * wl[None, :, None, :])  # (j, l, d)
    means = sums / jnp.where(mass > 0, mass, 1)[None, :, None]
    cost = _sum_small(means * means, axis=-1)
    comp = _match(cost)[labels]  # (n,) component of each point
    mine = comp[None, :] == jnp.arange(k, dtype=jnp.int32)[:, None]  # (j, n)
    keep = mine & ~bad & (w[None, :] > 0)
    log_r = jnp.where(keep, jnp.zeros_like(y[:, 0]), jnp.full_like(y[:, 0], -jnp.inf))
    return log_r, count
