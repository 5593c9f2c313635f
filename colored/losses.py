"""Losses and training metrics, in ``keras.ops`` (TF, JAX and torch backends).

- :class:`AbMeanSquaredError` on ab/128 — ColorED's loss; it regresses to the mean colour, hence sepia.
- :class:`SoftEncodedCrossEntropy` — Zhang et al. 2016: cross-entropy between the logits over the ab
  bins and the soft-encoded true ab, weighted per pixel by class rebalancing (the bins, the soft
  encoding and the rebalancing weights are :mod:`colored.bins`).
- :class:`AbAccuracy` — the fraction of pixels whose ab error is within a threshold in Lab units
  (replaces ColorED's "accuracy", which tests float equality and means nothing for regression).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from colored import color
from colored.bins import decode_logits, soft_encode
from colored.config import DEFAULT_TEMPERATURE


def _ab_at(y_true, height: int):
    """The true ab in Lab units at the prediction's resolution: targets (ab/128 or 8-bit RGB) at the
    input size are average-pooled down to the classification head's ``height`` (half the input)."""
    ab = color.ab_target_tensor(y_true) * color.AB_SCALE
    if ab.shape[1] != height:
        factor = ab.shape[1] // height
        ab = ops.average_pool(ab, factor, strides=factor, padding="valid")
    return ab


@keras.saving.register_keras_serializable("colored")
class AbMeanSquaredError(keras.losses.Loss):
    """ColorED's MSE on ab/128; targets may also be RGB (converted in the graph)."""

    def __init__(self, name: str = "ab_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        error = ops.square(ops.cast(y_pred, "float32") - color.ab_target_tensor(y_true))
        return ops.mean(error, axis=(1, 2, 3))


@keras.saving.register_keras_serializable("colored")
class SoftEncodedCrossEntropy(keras.losses.Loss):
    """Zhang et al.'s multinomial loss. ``y_true`` is ab/128 at the input size; ``y_pred`` are
    logits at half size, so the targets are average-pooled ×2 first."""

    def __init__(self, class_weights=None, name: str = "soft_encoded_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = (
            None if class_weights is None else [float(w) for w in np.asarray(class_weights)]
        )

    def call(self, y_true, y_pred):
        target, nearest = soft_encode(_ab_at(y_true, y_pred.shape[1]))
        log_probabilities = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        loss = -ops.sum(target * log_probabilities, axis=-1)
        if self.class_weights is not None:
            loss = loss * ops.take(
                ops.convert_to_tensor(np.asarray(self.class_weights, np.float32)), nearest
            )
        return ops.mean(loss, axis=(1, 2))

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights}


@keras.saving.register_keras_serializable("colored")
class AbAccuracy(keras.metrics.MeanMetricWrapper):
    """Fraction of pixels whose predicted ab is within ``threshold`` Lab units of the truth.

    Works for both heads: classification logits are decoded by annealed mean first.
    """

    def __init__(
        self,
        threshold: float = 10.0,
        temperature: float = DEFAULT_TEMPERATURE,
        name: str | None = None,
        **kwargs,
    ):
        self.threshold = float(threshold)
        self.temperature = float(temperature)
        super().__init__(fn=self._accuracy, name=name or f"ab_acc_{threshold:g}", **kwargs)

    def _accuracy(self, y_true, y_pred):
        if y_pred.shape[-1] == 2:
            ab_pred = ops.cast(y_pred, "float32") * color.AB_SCALE
        else:
            ab_pred = decode_logits(
                y_pred, self.temperature, 0.0
            )  # plain annealed mean: comparable across runs
        ab_true = _ab_at(y_true, ab_pred.shape[1])
        error = ops.sqrt(ops.sum(ops.square(ab_pred - ab_true), axis=-1))
        return ops.mean(ops.cast(error <= self.threshold, "float32"), axis=(1, 2))

    def get_config(self):
        return {
            "threshold": self.threshold,
            "temperature": self.temperature,
            "name": self.name,
            "dtype": self.dtype,
        }
