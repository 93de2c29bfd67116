"""Real handwritten digits for the VAE chain: scikit-learn's 8x8 digits, split.

scikit-learn ships 1,797 real handwritten digits (the UCI "optical recognition of
handwritten digits" test set: 8x8 images of 4-bit grey levels 0..16, about 180 of
each class 0-9) inside the package, so no download is needed. They are an extra:
``pip install 'collapse-jax[digits]'``.

:func:`load_digits` gives them as float32 images in ``[0, 1]`` (grey level / 16)
with their labels; :func:`split_images` splits any labelled (or unlabelled) image
set into a training part and a held-out part, stratified by class and seeded, so
the same call gives the same split on every machine; :func:`check_images`
validates user images (shape ``(N, H, W)``, finite values in ``[0, 1]``) in the
house message.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from collapse_jax.checks import as_float_array, described, fail

__all__ = [
    "ScikitLearnMissing",
    "DigitImages",
    "load_digits",
    "split_images",
    "check_images",
    "check_labels",
]


class ScikitLearnMissing(ImportError, ValueError):  # noqa: N818 - an ImportError
    """scikit-learn is not installed: an ImportError, and a ValueError so that the
    command line reports it like any other bad setting."""


class DigitImages(NamedTuple):
    """Images split into a training part and a held-out part.

    Attributes:
      train: ``(N, H, W) float32`` training images in ``[0, 1]``.
      train_labels: ``(N,) int32`` their classes, or None (unlabelled images).
      held_out: ``(H_n, H, W) float32`` held-out images, never trained on.
      held_out_labels: ``(H_n,) int32`` or None.
    """

    train: np.ndarray
    train_labels: np.ndarray | None
    held_out: np.ndarray
    held_out_labels: np.ndarray | None


def require_sklearn(fn: str, arg: str = "images") -> None:
    """Raise :class:`ScikitLearnMissing` in the house message when it is absent."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        fail(
            fn,
            arg,
            "images you pass when scikit-learn is not installed",
            "None (the scikit-learn digits)",
            "Install it with `pip install 'collapse-jax[digits]'` (or `pip install "
            "scikit-learn`), or pass your own images.",
            error=ScikitLearnMissing,
        )


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sk_load_digits

    bunch: Any = sk_load_digits()  # a Bunch (pyright sees the return_X_y tuple)
    images = (np.asarray(bunch.images, np.float64) / 16.0).astype(np.float32)
    labels = np.asarray(bunch.target, np.int32)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digits(fn: str = "load_digits") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 real 8x8 digits, scaled to ``[0, 1]``.

    Args:
      fn: the entry point named in the error when scikit-learn is missing.

    Returns:
      ``(images, labels)``: ``(1797, 8, 8) float32`` grey levels ``/ 16`` and
      ``(1797,) int32`` classes 0-9 (read-only arrays).

    Raises:
      ScikitLearnMissing: scikit-learn is not installed (the message names the
        extra to install).
    """
    require_sklearn(fn)
    return _digits()


def check_images(fn: str, arg: str, images: Any, *, min_count: int = 2) -> np.ndarray:
    """``images`` as ``(N, H, W) float32`` in ``[0, 1]``, or the house error.

    Args:
      fn, arg: the entry point and the argument, for the message.
      images: an array ``(N, H, W)`` of finite values in ``[0, 1]`` (grey levels:
        divide 0..255 images by 255).
      min_count: the fewest images accepted.

    Returns:
      A float32 copy.
    """
    x = as_float_array(fn, arg, images)
    if x.ndim != 3 or min(x.shape[1:], default=0) < 1:
        fail(
            fn,
            arg,
            "an array of images of shape (N, H, W), e.g. (N, 8, 8)",
            x,
            "Pass a stack of 2-D grey-level images (add no channel axis).",
        )
    if x.shape[0] < min_count:
        fail(
            fn,
            arg,
            f"at least {min_count} images",
            x,
            "Pass more images (a training and a held-out part are split off).",
        )
    if not np.all(np.isfinite(x)):
        fail(
            fn,
            arg,
            "finite",
            described("NaN or inf entries"),
            "Drop or repair the images with missing pixels.",
        )
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        fail(
            fn,
            arg,
            "grey levels in [0, 1]",
            described(f"values in [{lo:g}, {hi:g}]"),
            "Scale the images to [0, 1], e.g. images / 255 for 8-bit images.",
        )
    return x.astype(np.float32)


def check_labels(fn: str, arg: str, labels: Any, count: int) -> np.ndarray:
    """``labels`` as ``(count,) int32`` classes ``>= 0``, or the house error."""
    y = np.asarray(labels)
    if y.shape != (count,) or not (
        np.issubdtype(y.dtype, np.integer) and (y.size == 0 or y.min() >= 0)
    ):
        fail(
            fn,
            arg,
            f"one integer class >= 0 per image, shape ({count},)",
            y,
            "Pass the images' classes 0, 1, ..., or None.",
        )
    return y.astype(np.int32)


def split_images(
    images: np.ndarray,
    labels: np.ndarray | None,
    held_out: float,
    seed: int,
) -> DigitImages:
    """A seeded split: ``held_out`` of each class held out (of all when unlabelled).

    Each class (or the whole set, without labels) is shuffled by
    ``np.random.default_rng(seed)`` and its first ``round(held_out * count)``
    images held out, at least one per class and at least one left to train on.
    Both parts keep the original order of the images.

    Args:
      images: ``(N, H, W)`` validated images.
      labels: ``(N,)`` classes or None.
      held_out: the share held out, in ``(0, 1)``.
      seed: the split's seed.

    Returns:
      A :class:`DigitImages`.
    """
    rng = np.random.default_rng(seed)
    groups = (
        [np.arange(images.shape[0])]
        if labels is None
        else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    )
    chosen = []
    for idx in groups:
        k = int(round(held_out * idx.size))
        k = min(max(k, 1), idx.size - 1) if idx.size > 1 else 0
        chosen.append(rng.permutation(idx)[:k])
    mask = np.zeros(images.shape[0], bool)
    mask[np.concatenate(chosen)] = True
    pick = lambda a, m: None if a is None else a[m]  # noqa: E731
    return DigitImages(
        images[~mask], pick(labels, ~mask), images[mask], pick(labels, mask)
    )
