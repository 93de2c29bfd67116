"""The web guide (docs/web.md) runs as written and its comments hold."""

from __future__ import annotations

import math
import pathlib
import re

import numpy as np

from collapse_jax.minority import vanished_by
from collapse_jax.theory import web as tw
from tests.helpers import assert_within_se

ROOT = pathlib.Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "web.md").read_text()


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", GUIDE, flags=re.S)


def test_the_guide_runs_and_its_comments_hold():
    regime_block, minority_block = _blocks("python")
    ns: dict = {}
    exec(regime_block, ns)  # noqa: S102 - the guide's own example
    sw, p, recalls = ns["sw"], ns["p"], ns["recalls"]
    assert sw.metrics["kept_synthetic_share"].shape == (8, 256, 51)
    assert sw.ok
    # The Gini-Simpson index at generation 50 of the constant-share points against
    # the exact H - E||p_50 - p*||^2 (WB-2g: E p_t = p* from p_0 = p*), SE from
    # the 256 independent chains.
    last = np.asarray(sw.metrics["gini_simpson"][:4, :, -1], np.float64)
    exact = np.array([0.9 - tw.web_categorical_sq_error(p, 50, 50, 0.8, r, 0.05)[-1]
                      for r in recalls])
    se = last.std(axis=1, ddof=1) / math.sqrt(last.shape[1])
    assert_within_se(last.mean(axis=1), exact, se, what="guide: Gini-Simpson, WB-2")
    # The numbers the comment quotes are the exact values to 3 decimals.
    np.testing.assert_allclose(exact, [0.850, 0.844, 0.823, 0.800], atol=5e-4)
    assert np.all(np.diff(exact) < 0)  # detection lowers the diversity

    exec(minority_block, ns)  # noqa: S102
    lost = ns["lost"]
    want = vanished_by(0.1, 50, 200)[-1]
    assert round(float(want), 3) == 0.895  # quoted in the comment
    se = math.sqrt(want * (1 - want) / lost.size)  # binomial, 1,000 chains
    assert_within_se(lost.mean(), want, se, what="guide: P(minority vanished by 200)")


def test_the_guide_is_in_the_site_nav_and_linked_from_the_readme():
    nav = (ROOT / "mkdocs.yml").read_text()
    assert "docs/web.md" in nav
    assert "(docs/web.md)" in (ROOT / "README.md").read_text()
