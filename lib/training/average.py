"""A moving average of the generator's weights (Polyak averaging, as an exponential moving average): what convert,
evaluate and the preview use. At the learning rates that train a swap in minutes, the weights jump about from
step to step and the swap with them; their recent average is steadier and nearer the middle of where they jump.

After step t, average = m * average + (1 - m) * weights, with m = min(decay, (1 + t) / (10 + t)): early on the
average forgets fast (it follows a model that changes fast), later it spans about the last t / 9 steps, at most
1 / (1 - decay).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import tensorflow as tf


def momentum(decay: float, step: Any) -> Any:
    """m of the average after step (a number or a tensor), counted from 1."""
    step = tf.cast(step, tf.float32)
    return tf.minimum(tf.constant(decay, tf.float32), (1.0 + step) / (10.0 + step))


class WeightAverage:
    """The average of variables (made under the caller's distribution strategy scope, as the variables were)."""

    def __init__(self, variables: Sequence[Any], decay: float) -> None:
        self.variables = list(variables)
        self.decay = decay
        self.averages = [tf.Variable(np.asarray(v.numpy()), trainable=False, name="average")
                         for v in self.variables]

    def update(self, step: Any) -> None:
        """Fold the variables in after step (inside the compiled training step, outside the replicas)."""
        m = momentum(self.decay, step)
        for average, variable in zip(self.averages, self.variables):
            value = tf.convert_to_tensor(variable)
            average.assign(m * average + (1.0 - m) * tf.cast(value, average.dtype))

    def reset(self) -> None:
        """Start the average from the variables as they are now (a resumed model's weights)."""
        for average, variable in zip(self.averages, self.variables):
            average.assign(variable.numpy())

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The averages in the variables for the duration (to save, preview or score them); the training weights
        back afterwards."""
        kept = [np.asarray(v.numpy()) for v in self.variables]
        for variable, average in zip(self.variables, self.averages):
            variable.assign(average.numpy())
        try:
            yield
        finally:
            for variable, array in zip(self.variables, kept):
                variable.assign(array)
