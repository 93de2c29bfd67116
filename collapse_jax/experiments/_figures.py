"""Writing figures reproducibly (PNG and PDF, no timestamps in the PDF)."""

from __future__ import annotations

import pathlib

__all__ = ["save_figure"]


def save_figure(fig, path, dpi: int = 130) -> list[str]:
    """Save ``fig`` as ``path`` with suffixes ``.png`` and ``.pdf``; return the names.

    The PDF carries no creation date, so the same figure gives the same bytes.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for suffix in (".png", ".pdf"):
        target = path.with_suffix(suffix)
        fig.savefig(
            target,
            dpi=dpi,
            metadata={"CreationDate": None} if suffix == ".pdf" else None,
        )
        out.append(str(target))
    return out
