"""Griffe extension: Sphinx roles in docstrings read well on the site.

The package's docstrings are Google style with Sphinx cross-reference roles
(:func:`run_chains`, :class:`~collapse_jax.regimes.Regime`) and :math:`...` roles,
which Markdown would show verbatim. This turns each reference into inline code of the
name as written (``~`` keeps the last component, as Sphinx does) and each :math: into
``$...$``, typeset like the proofs' maths. Loaded by mkdocstrings (``extensions`` in
mkdocs.yml).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const):`([^`]+)`"
)


def _name(match: re.Match[str]) -> str:
    target = match.group(1)
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


_MATH = re.compile(r":math:`([^`]+)`")


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = _ROLE.sub(_name, obj.docstring.value)
            obj.docstring.value = _MATH.sub(r"$\1$", text)
