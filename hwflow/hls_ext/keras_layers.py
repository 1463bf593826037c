"""Keras layers that hls4ml 1.3.0 cannot express, and their numpy references.

- `ChannelShuffle(groups)`: ShuffleNet's channel shuffle. Output channel j takes input channel
  (j % groups) * (C / groups) + j // groups, i.e. the usual reshape (g, C/g) -> transpose ->
  flatten. Keras computes it exactly that way; hls4ml converts it (through `hwflow.hls_ext`) to a
  pure wiring permutation, because its own converter refuses the 5-D reshape.
- `ChannelSlice(start, size)`: channels [start, start + size) (ShuffleNet v2's channel split is two
  slices of one tensor).

Both only move values, so a QKeras model containing them stays bit-exact in C-sim. These
classes import only TensorFlow: a model definition can use them without hls4ml.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class ChannelShuffle(tf.keras.layers.Layer):
    """Channel shuffle over the last axis of an NHWC tensor (ShuffleNet, Zhang et al. 2018)."""

    def __init__(self, groups: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def build(self, input_shape):
        c = int(input_shape[-1])
        if self.groups < 1 or c % self.groups:
            raise ValueError(f"{self.name}: {c} channels cannot be shuffled in {self.groups} groups")
        super().build(input_shape)

    def call(self, x):
        shape = tf.shape(x)
        c = x.shape[-1]
        y = tf.reshape(x, tf.concat([shape[:-1], [self.groups, c // self.groups]], 0))
        rank = len(x.shape)
        y = tf.transpose(y, list(range(rank - 1)) + [rank, rank - 1])
        return tf.reshape(y, shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


class ChannelSlice(tf.keras.layers.Layer):
    """Channels [start, start + size) of the last axis."""

    def __init__(self, start: int = 0, size: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.start, self.size = int(start), int(size)

    def build(self, input_shape):
        c = int(input_shape[-1])
        if self.start < 0 or self.size < 1 or self.start + self.size > c:
            raise ValueError(f"{self.name}: slice [{self.start}, {self.start + self.size}) outside {c} channels")
        super().build(input_shape)

    def call(self, x):
        return x[..., self.start:self.start + self.size]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.size,)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "size": self.size}


def shuffle_source(channels: int, groups: int) -> list[int]:
    """Input channel feeding each output channel of a shuffle (the table the C++ unrolls)."""
    per = channels // groups
    return [(j % groups) * per + j // groups for j in range(channels)]


def shuffle_ref(x: np.ndarray, groups: int) -> np.ndarray:
    """Numpy reference of ChannelShuffle, written from the index formula (not reshape/transpose)."""
    return x[..., shuffle_source(x.shape[-1], groups)]


def slice_ref(x: np.ndarray, start: int, size: int) -> np.ndarray:
    return x[..., start:start + size]


CUSTOM_OBJECTS = {"ChannelShuffle": ChannelShuffle, "ChannelSlice": ChannelSlice}
