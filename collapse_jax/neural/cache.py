"""A disk cache of trained weights, keyed by the configuration that trained them.

Generation 0 of a neural chain is a network pre-trained on real data. Training it
takes minutes, so its weights are cached on disk: the key is the SHA-256 of the
configuration (a JSON-serialisable mapping that determines the weights: the model's
shape, the data, the training settings, the seed) together with the library's
cache format version. Runs and tests that ask for the same configuration load the
same bits; a changed configuration trains and stores new weights beside the old.

The cache lives in ``$COLLAPSE_JAX_CACHE`` (default ``~/.cache/collapse_jax``),
under ``weights/``. Files are written atomically with a SHA-256 sidecar, so a kill
during a write leaves the old file or none, and a corrupted file is retrained.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import jax

from collapse_jax.io_utils import atomic_target, verify_checksum

__all__ = ["cache_dir", "cached_weights", "weights_path"]

#: Bump when the stored layout changes: old files are then ignored, not misread.
CACHE_FORMAT = 1


def cache_dir() -> Path:
    """The cache's root: ``$COLLAPSE_JAX_CACHE`` or ``~/.cache/collapse_jax``."""
    root = os.environ.get("COLLAPSE_JAX_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "collapse_jax"


def _digest(kind: str, config: Mapping[str, Any]) -> str:
    text = json.dumps(
        {"kind": kind, "format": CACHE_FORMAT, "config": config},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def weights_path(kind: str, config: Mapping[str, Any]) -> Path:
    """Where the weights of ``kind`` trained with ``config`` are stored."""
    return cache_dir() / "weights" / f"{kind}-{_digest(kind, config)[:20]}.npz"


def _path_key(entry) -> list:
    # A pure dict from flax has str keys and int keys (list positions): keep both.
    key = getattr(entry, "key", getattr(entry, "idx", None))
    return ["i", key] if isinstance(key, int) else ["s", str(key)]


def _save(path: Path, weights) -> None:
    leaves = jax.tree_util.tree_flatten_with_path(weights)[0]
    arrays: dict[str, Any] = {
        f"leaf{i}": np.asarray(x) for i, (_, x) in enumerate(leaves)
    }
    paths = [[_path_key(e) for e in p] for p, _ in leaves]
    arrays["paths"] = np.asarray(json.dumps(paths))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(path, ".npz", checksum=True) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _load(path: Path):
    with np.load(path, allow_pickle=False) as z:
        paths = json.loads(str(z["paths"]))
        tree: dict = {}
        for i, p in enumerate(paths):
            node = tree
            keys = [k if kind == "s" else int(k) for kind, k in p]
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            node[keys[-1]] = np.asarray(z[f"leaf{i}"])
    return tree


def cached_weights(
    kind: str, config: Mapping[str, Any], build: Callable[[], Any]
) -> Any:
    """The weights ``build()`` returns for ``config``, from disk when stored.

    Args:
      kind: what the weights are, e.g. ``"lm"``; part of the file name.
      config: everything the weights depend on (JSON-serialisable).
      build: trains and returns the weights (a nested dict of arrays, as
        ``flax.nnx.to_pure_dict`` gives) when they are not stored yet.

    Returns:
      A nested dict of NumPy arrays with the structure ``build`` returned.
    """
    path = weights_path(kind, config)
    if path.exists() and verify_checksum(path) is not False:
        try:
            return _load(path)
        except (OSError, ValueError, KeyError):
            pass  # unreadable: train again and replace it
    weights = jax.tree.map(np.asarray, build())
    _save(path, weights)
    return _load(path)
