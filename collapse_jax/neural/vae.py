"""A VAE on real handwritten digits, refitted generation after generation.

:func:`vae` builds the learned family of Shumailov et al.'s VAE experiment at laptop
scale: a small flax NNX variational autoencoder (an MLP encoder and decoder, a
Gaussian latent of ``latent_dim`` dimensions, a Bernoulli likelihood of the grey
levels, beta = 1) on scikit-learn's 1,797 real 8x8 digits
(:mod:`collapse_jax.neural.digits`) or on images you pass.

* **Generation 0** is the VAE pre-trained on the real training images
  (``pretrain_steps`` Adam steps), cached on disk by its configuration
  (:func:`collapse_jax.neural.cache.cached_weights`), so runs and tests train it
  once. As in every learned family, the truth's draws are the real training
  images (``retain_original``, ``mix`` and ``fresh`` keep or add real digits).
* **Each generation** trains (by default from a fresh initialisation, the paper's
  setting; any :class:`~collapse_jax.neural.train.Training` start mode) on images
  decoded from the previous generation's prior samples: ``z ~ N(0, I)``, image =
  the decoder's pixel means, so generated images stay in ``[0, 1]``.
* **Metrics**, per generation and chain, computed inside the compiled run from
  the params on a fixed evaluation sample (``eval_samples`` prior draws with a
  fixed key, the same for every chain and generation; at generation 0, the truth,
  the sample is ``eval_samples`` real training images, so the curves start from the
  real data):

  - ``held_out_nll``: the negative ELBO per held-out real image (nats; the
    reconstruction term averaged over ``elbo_samples`` fixed latent draws), and
    ``held_out_elbo``, its negative;
  - ``latent_spread``: the spread of the evaluation sample's latent means under
    the *generation-0* encoder (the paper's VAE metric): the standard deviation
    over images of each latent coordinate, averaged over coordinates;
  - ``class_shares`` ``(num_classes,)`` and ``class_entropy`` (nats): the share of
    each class among the evaluation sample by a classifier trained once on the
    real training images (scikit-learn's multinomial logistic regression, fitted
    at factory time, its weights held as constants; its held-out accuracy is
    :attr:`DigitClassifier.accuracy`), and the entropy of those shares (log 10 for
    ten equally frequent classes): the loss of modes shows as a falling entropy;
  - ``sample_grid`` ``(grid, H, W)``: the first ``grid`` images of the evaluation
    sample, for digit grids per generation
    (:func:`collapse_jax.plots.plot_image_grid`).

The Bernoulli likelihood of grey levels in ``[0, 1]`` (binary cross-entropy) is the
usual VAE loss on digits and the paper's; for non-binary pixels it is not a
normalised density, so ``held_out_nll`` compares generations with one another, not
with other models' likelihoods.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

import numpy as np

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from collapse_jax.checks import check_positive_int, check_real, fail
from collapse_jax.families.base import ModelFamily
from collapse_jax.neural.cache import cached_weights
from collapse_jax.neural.digits import (
    DigitImages,
    check_images,
    check_labels,
    load_digits,
    require_sklearn,
    split_images,
)
from collapse_jax.neural.learned import learned_family
from collapse_jax.neural.train import Training, check_training, train_steps, training

__all__ = [
    "VAE",
    "DigitClassifier",
    "vae",
    "vae_training",
    "digit_classifier",
    "vae_data",
    "VAE_METRICS",
]

#: The metrics :func:`vae` records with labelled images (without labels, the
#: class metrics are left out).
VAE_METRICS = (
    "held_out_nll",
    "held_out_elbo",
    "latent_spread",
    "class_entropy",
    "class_shares",
    "sample_grid",
)

# The evaluation sample's key: the same draws for every chain and generation, so a
# metric's change between generations is the model's, not the sample's.
_EVAL_SEED = 20240601
_ELBO_SEED = 7


class VAE(nnx.Module):
    """A variational autoencoder for small grey-level images.

    Encoder: flattened image -> ``hidden`` (ReLU) -> latent mean and log-variance;
    decoder: latent -> ``hidden`` (ReLU) -> one Bernoulli logit per pixel.

    Args:
      shape: ``(H, W)`` of an image.
      latent_dim: latent dimensions.
      hidden: units of the encoder's and the decoder's hidden layer.
      rngs: the initialisation's ``nnx.Rngs``.
    """

    def __init__(
        self, shape: tuple[int, int], latent_dim: int, hidden: int, *, rngs: nnx.Rngs
    ):
        self.shape = tuple(shape)
        pixels = int(np.prod(shape))
        self.enc = nnx.Linear(pixels, hidden, rngs=rngs)
        self.mean = nnx.Linear(hidden, latent_dim, rngs=rngs)
        self.log_var = nnx.Linear(hidden, latent_dim, rngs=rngs)
        self.dec = nnx.Linear(latent_dim, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, pixels, rngs=rngs)
        self.latent_dim = latent_dim

    def encode(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(n, H, W)`` images -> latent means and log-variances, ``(n, latent)``."""
        h = jax.nn.relu(self.enc(images.reshape(images.shape[0], -1)))
        return self.mean(h), self.log_var(h)

    def decode_logits(self, z: jax.Array) -> jax.Array:
        """``(n, latent)`` -> ``(n, H * W)`` pixel logits."""
        return self.out(jax.nn.relu(self.dec(z)))

    def decode(self, z: jax.Array) -> jax.Array:
        """``(n, latent)`` -> ``(n, H, W)`` pixel means in ``[0, 1]``."""
        return jax.nn.sigmoid(self.decode_logits(z)).reshape((z.shape[0],) + self.shape)

    def elbo(self, images: jax.Array, eps: jax.Array) -> jax.Array:
        """Per-image ELBO with reparameterisation noise ``eps`` ``(S, n, latent)``.

        The reconstruction term is averaged over the ``S`` draws; the KL term to
        ``N(0, I)`` is exact.
        """
        x = images.reshape(images.shape[0], -1)
        mean, log_var = self.encode(images)
        z = mean[None] + jnp.exp(0.5 * log_var)[None] * eps
        logits = jax.vmap(self.decode_logits)(z)
        recon = -jnp.sum(optax.sigmoid_binary_cross_entropy(logits, x[None]), axis=-1)
        kl = 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)
        return jnp.mean(recon, axis=0) - kl


def _loss(model: VAE, batch: jax.Array, key: jax.Array) -> jax.Array:
    eps = jax.random.normal(key, (1, batch.shape[0], model.latent_dim), batch.dtype)
    return -model.elbo(batch, eps)


def _generate(model: VAE, key: jax.Array, n: int) -> jax.Array:
    z = jax.random.normal(key, (n, model.latent_dim))
    return model.decode(z)


def _log_prob(samples: int):
    def log_prob(model: VAE, data: jax.Array) -> jax.Array:
        eps = jax.random.normal(
            jax.random.key(_ELBO_SEED),
            (samples, data.shape[0], model.latent_dim),
            data.dtype,
        )
        return model.elbo(data, eps)

    return log_prob


class DigitClassifier(NamedTuple):
    """A linear classifier of images trained once on real images.

    Attributes:
      weights: ``(H * W, num_classes) float32``.
      bias: ``(num_classes,) float32``.
      accuracy: its accuracy on the held-out real images.
    """

    weights: np.ndarray
    bias: np.ndarray
    accuracy: float

    def predict(self, images: jax.Array) -> jax.Array:
        """The predicted class of each ``(n, H, W)`` image, ``(n,) int32``."""
        x = images.reshape(images.shape[0], -1)
        bias = jnp.asarray(self.bias, x.dtype)[None]
        logits = x @ jnp.asarray(self.weights, x.dtype) + bias
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)


_CLASSIFIERS: dict[str, DigitClassifier] = {}


def _fit_classifier(data: DigitImages) -> DigitClassifier:
    from sklearn.linear_model import LogisticRegression

    assert data.train_labels is not None and data.held_out_labels is not None
    clf = LogisticRegression(max_iter=2000, C=1.0)  # lbfgs: deterministic
    clf.fit(data.train.reshape(data.train.shape[0], -1), data.train_labels)
    classes = int(data.train_labels.max()) + 1
    weights = np.zeros((clf.coef_.shape[1], classes), np.float32)
    bias = np.full(classes, -1e9, np.float32)  # a class absent from training
    weights[:, clf.classes_] = clf.coef_.T
    bias[clf.classes_] = clf.intercept_
    held = data.held_out.reshape(data.held_out.shape[0], -1)
    accuracy = float(np.mean(clf.predict(held) == data.held_out_labels))
    return DigitClassifier(weights, bias, accuracy)


def _digest(data: DigitImages) -> str:
    h = hashlib.sha256()
    for a in data:
        if a is not None:
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def vae_data(
    images: Any = None,
    labels: Any = None,
    *,
    held_out: float = 0.2,
    split_seed: int = 0,
    fn: str = "vae_data",
) -> DigitImages:
    """The training and held-out images :func:`vae` uses.

    Args:
      images: ``(N, H, W)`` grey levels in ``[0, 1]``, or None for scikit-learn's
        1,797 digits.
      labels: ``(N,)`` classes of ``images`` (None: unlabelled, no class metrics);
        ignored for the scikit-learn digits, whose labels are known.
      held_out: the share of each class held out, in ``(0, 1)``.
      split_seed: the split's seed.
      fn: the entry point named in messages.

    Returns:
      A :class:`~collapse_jax.neural.digits.DigitImages`.
    """
    held_out = check_real(
        fn, "held_out", held_out, low=0, high=1, low_open=True, high_open=True
    )
    if images is None:
        x, y = load_digits(fn)
    else:
        x = check_images(fn, "images", images)
        y = None if labels is None else check_labels(fn, "labels", labels, x.shape[0])
    return split_images(x, y, held_out, int(split_seed))


def digit_classifier(data: DigitImages | None = None) -> DigitClassifier:
    """The classifier :func:`vae` counts classes with (trained on ``data.train``).

    Args:
      data: labelled images from :func:`vae_data`; None for the scikit-learn
        digits' default split.
    """
    data = vae_data(fn="digit_classifier") if data is None else data
    if data.train_labels is None:
        fail(
            "digit_classifier",
            "data",
            "labelled images",
            "images without labels",
            "Pass labels= to vae_data().",
        )
    require_sklearn("digit_classifier", "data")
    digest = _digest(data)  # fitted once per process and data set
    if digest not in _CLASSIFIERS:
        _CLASSIFIERS[digest] = _fit_classifier(data)
    return _CLASSIFIERS[digest]


def vae_training(
    *,
    steps: int = 1000,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    start: str = "scratch",
    **kwargs: Any,
) -> Training:
    """:func:`~collapse_jax.neural.train.training` with the VAE's defaults.

    The paper trains every generation's VAE from scratch; ``start`` takes any
    mode (``"generation0"``, ``"previous"``, ``"scratch"``).
    """
    return training(
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        start=start,
        fn="vae_training",
        **kwargs,
    )


def _pretrain(
    data: DigitImages,
    latent_dim: int,
    hidden: int,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
) -> dict:
    model = VAE(data.train.shape[1:], latent_dim, hidden, rngs=nnx.Rngs(seed))
    graphdef, state, rest = nnx.split(model, nnx.Param, ...)
    start = nnx.to_pure_dict(state)
    settings = training(
        steps=steps, batch_size=batch_size, learning_rate=learning_rate, clip_norm=None
    )

    def objective(w, batch, key):
        return jnp.mean(_loss(nnx.merge(graphdef, w, rest), batch, key))

    @jax.jit
    def run(start, train):
        return train_steps(
            objective,
            start,
            train,
            jnp.ones(train.shape[0]),
            jax.random.key(seed),
            settings,
        )[0]

    return run(start, jnp.asarray(data.train))


_FAMILIES: dict[Any, ModelFamily] = {}


def vae(
    *,
    latent_dim: int = 4,
    hidden: int = 64,
    training: Training | None = None,
    pretrain_steps: int = 3000,
    pretrain_batch_size: int = 64,
    pretrain_learning_rate: float = 1e-3,
    images: Any = None,
    labels: Any = None,
    held_out: float = 0.2,
    eval_samples: int = 500,
    elbo_samples: int = 4,
    grid: int = 16,
    seed: int = 0,
) -> ModelFamily:
    """The VAE chain on real digits (see the module docstring).

    Args:
      latent_dim: latent dimensions.
      hidden: hidden units of the encoder and the decoder.
      training: how each generation trains (default :func:`vae_training`: 1,000
        Adam steps of 64 images, learning rate 1e-3, from scratch).
      pretrain_steps, pretrain_batch_size, pretrain_learning_rate: generation 0's
        pre-training on the real training images (Adam; cached on disk).
      images: ``(N, H, W)`` grey levels in ``[0, 1]``; None for scikit-learn's
        1,797 real 8x8 digits (``pip install 'collapse-jax[digits]'``).
      labels: ``(N,)`` classes of ``images``, or None: the class metrics then need
        labels, and are left out.
      held_out: the share of each class held out (never trained on).
      eval_samples: images of the fixed evaluation sample the metrics use.
      elbo_samples: latent draws of the held-out ELBO's reconstruction term.
      grid: images per generation kept as ``sample_grid`` (0: none).
      seed: generation 0's initialisation and pre-training seed, and the split's.

    Returns:
      The family, cached by its settings (the same call gives the same family);
      ``family.generation0()`` is its truth.

    Examples:
      >>> import collapse_jax as cj
      >>> fam = cj.vae(pretrain_steps=10, training=cj.vae_training(steps=5))
      >>> res = cj.run_chains(fam, fam.generation0(), key=0, num_chains=2,
      ...                     num_generations=2, sample_size=64)
      >>> res.metrics["class_shares"].shape
      (2, 3, 10)
    """
    fn = "vae"
    latent_dim = check_positive_int(fn, "latent_dim", latent_dim)
    hidden = check_positive_int(fn, "hidden", hidden)
    pretrain_steps = check_positive_int(fn, "pretrain_steps", pretrain_steps)
    pretrain_batch_size = check_positive_int(
        fn, "pretrain_batch_size", pretrain_batch_size
    )
    pretrain_learning_rate = check_real(
        fn, "pretrain_learning_rate", pretrain_learning_rate, low=0, low_open=True
    )
    eval_samples = check_positive_int(fn, "eval_samples", eval_samples)
    elbo_samples = check_positive_int(fn, "elbo_samples", elbo_samples)
    if (
        not isinstance(grid, int | np.integer)
        or isinstance(grid, bool)
        or grid < 0
        or grid > eval_samples
    ):
        fail(
            fn,
            "grid",
            f"an integer in [0, eval_samples = {eval_samples}]",
            grid,
            "Pass e.g. grid=16 (0 keeps no images).",
        )
    training = check_training(fn, training, vae_training)
    data = vae_data(images, labels, held_out=held_out, split_seed=seed, fn=fn)
    digest = _digest(data)
    key = (
        digest,
        latent_dim,
        hidden,
        training,
        pretrain_steps,
        pretrain_batch_size,
        pretrain_learning_rate,
        eval_samples,
        elbo_samples,
        int(grid),
        seed,
    )
    if key not in _FAMILIES:  # the key is _build's arguments after the data
        _FAMILIES[key] = _build(data, *key)
    return _FAMILIES[key]


def _build(
    data,
    digest,
    latent_dim,
    hidden,
    training,
    pretrain_steps,
    pretrain_batch_size,
    pretrain_learning_rate,
    eval_samples,
    elbo_samples,
    grid,
    seed,
) -> ModelFamily:
    shape = tuple(data.train.shape[1:])
    labelled = data.train_labels is not None
    classifier = digit_classifier(data) if labelled else None
    config = {
        "model": "mlp-vae",
        "shape": list(shape),
        "latent_dim": latent_dim,
        "hidden": hidden,
        "steps": pretrain_steps,
        "batch_size": pretrain_batch_size,
        "learning_rate": pretrain_learning_rate,
        "seed": seed,
        "data": digest[:32],
    }
    weights0 = cached_weights(
        "vae",
        config,
        lambda: _pretrain(
            data,
            latent_dim,
            hidden,
            pretrain_steps,
            pretrain_batch_size,
            pretrain_learning_rate,
            seed,
        ),
    )

    def make(rngs):
        return VAE(shape, latent_dim, hidden, rngs=rngs)

    module = make(nnx.Rngs(seed))
    state = nnx.state(module, nnx.Param)
    nnx.replace_by_pure_dict(state, jax.tree.map(jnp.asarray, weights0))
    nnx.update(module, state)
    # The evaluation sample at the truth: real training images (fixed rows).
    rows = np.random.default_rng(_EVAL_SEED).integers(
        0, data.train.shape[0], eval_samples
    )
    real_eval = np.asarray(data.train[rows])
    log_prob = _log_prob(elbo_samples)

    def metrics(model, model0, params):
        generated = _generate(model, jax.random.key(_EVAL_SEED), eval_samples)
        images = jnp.where(
            params.real > 0, jnp.asarray(real_eval, generated.dtype), generated
        )
        mean0, _ = model0.encode(images)
        out = {
            "held_out_elbo": jnp.mean(log_prob(model, jnp.asarray(data.held_out))),
            "latent_spread": jnp.mean(jnp.std(mean0, axis=0)),
        }
        if classifier is not None:
            k = classifier.bias.shape[0]
            shares = jnp.mean(
                jax.nn.one_hot(classifier.predict(images), k, dtype=images.dtype),
                axis=0,
            )
            out["class_shares"] = shares
            safe = jnp.where(shares > 0, shares, 1)
            out["class_entropy"] = jnp.sum(-shares * jnp.log(safe))
        if grid:
            out["sample_grid"] = images[:grid]
        return out

    names = ("held_out_elbo", "latent_spread")
    if labelled:
        names += ("class_entropy", "class_shares")
    if grid:
        names += ("sample_grid",)
    fam = learned_family(
        name="vae",
        module=module,
        loss=_loss,
        generate=_generate,
        log_prob=log_prob,
        real_data=data.train,
        training=training,
        make=make,
        held_out=data.held_out,
        metrics=metrics,
        metric_names=names,
    )
    return fam
