"""The web chains with ``source="all"``: exact second moments in O(T^2).

With ``source="all"`` fit ``t >= 1`` draws each synthetic item from a model chosen
uniformly among models ``1 .. t`` (fit 0 from model 0, the truth), so given the kept
count ``n`` the kept items are i.i.d. draws of
``(1 - e) P* + e (1/t) sum_k P_k``. The chain starts at the truth, so every
deviation has mean zero and the second moments close on the Gram matrix
``G[j, k] = E <theta_j - theta*, theta_k - theta*>`` (probability vectors, or the
Gaussian means), kept here as running column sums ``C[j] = sum_{k<=t} G[k, j]``.
Proof: ``proofs/wb-2-categorical-web.md`` and ``proofs/wb-3-gaussian-web.md``
(the ``source="all"`` parts).
"""

from __future__ import annotations

import numpy as np


def categorical_all(h: float, e, skip, nu, gens: int):
    """``D_t = E||p_t - p*||^2``, ``t = 0..gens``, from ``p_0 = p*``.

    ``e``, ``skip``, ``nu``: per-fit arrays of length ``gens`` (or numbers).
    """
    e, skip, nu = (
        np.broadcast_to(np.asarray(x, float), (gens,)) for x in (e, skip, nu)
    )
    gram = np.zeros((gens + 1, gens + 1))
    cols = np.zeros(gens + 1)  # C[j] = sum_{k=1..t} G[k, j] (the pool is 1..t)
    out = np.zeros(gens + 1)
    for t in range(gens):
        if t == 0:
            pool_sq, cross = 0.0, np.zeros(1)  # the truth: no deviation
        else:
            pool_sq = cols[1 : t + 1].sum() / t**2  # E||mean of e_1..e_t||^2
            cross = cols[: t + 1] / t  # E<pool mean, e_j>, j = 0..t
        # j <= t: E<e_{t+1}, e_j> = skip G[t, j] + (1 - skip) e E<pool mean, e_j>.
        row = skip[t] * gram[t, : t + 1] + (1 - skip[t]) * e[t] * cross
        diag = skip[t] * gram[t, t] + (1 - skip[t]) * (
            e[t] ** 2 * (1 - nu[t]) * pool_sq + nu[t] * h
        )
        gram[t + 1, : t + 1] = gram[: t + 1, t + 1] = row
        gram[t + 1, t + 1] = diag
        cols[: t + 1] += row  # the next pool is 1 .. t + 1
        cols[t + 1] = gram[1 : t + 2, t + 1].sum()
        out[t + 1] = diag
    return out


def gaussian_all(var: float, e, skip, nu, c, gens: int):
    """``(E(mu_t - mu*)^2, E sigma_t^2)``, ``t = 0..gens``, from the truth.

    The kept law is ``(1 - e) N(mu*, var) + e (1/t) sum_k N(mu_k, sigma_k^2)``, whose
    variance has expectation ``(1 - e) var + e A_t - e^2 S_t`` with
    ``A_t = (1/t) sum_k (v_k + G[k, k])`` and ``S_t = E(pool mean - mu*)^2``.
    ``e``, ``skip``, ``nu``, ``c``: per-fit arrays of length ``gens`` (or numbers).
    """
    e, skip, nu, c = (
        np.broadcast_to(np.asarray(x, float), (gens,)) for x in (e, skip, nu, c)
    )
    gram = np.zeros((gens + 1, gens + 1))
    cols = np.zeros(gens + 1)
    v = np.full(gens + 1, var)
    second = 0.0  # sum over the pool of v_k + G[k, k]
    for t in range(gens):
        if t == 0:
            pool_sq, pool_second, cross = 0.0, var, np.zeros(1)
        else:
            pool_sq = cols[1 : t + 1].sum() / t**2
            pool_second = second / t
            cross = cols[: t + 1] / t
        z = (
            (1 - e[t]) * var + e[t] * pool_second - e[t] ** 2 * pool_sq
        )  # E Var(kept law)
        row = skip[t] * gram[t, : t + 1] + (1 - skip[t]) * e[t] * cross
        diag = skip[t] * gram[t, t] + (1 - skip[t]) * (e[t] ** 2 * pool_sq + nu[t] * z)
        v[t + 1] = skip[t] * v[t] + (1 - skip[t]) * c[t] * z
        gram[t + 1, : t + 1] = gram[: t + 1, t + 1] = row
        gram[t + 1, t + 1] = diag
        cols[: t + 1] += row
        cols[t + 1] = gram[1 : t + 2, t + 1].sum()
        second += v[t + 1] + diag
    return np.diag(gram).copy(), v
