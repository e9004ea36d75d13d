"""The particle blocks compute their equations: the broadcast copies, the interaction layer is
relu(W x_i + b + V mean_j x_j), the particle mixing is a dense layer across the particles (float Keras kit)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from trigger_hgq.baselines.qkeras_models import KerasKit
from trigger_hgq.blocks import broadcast_particles, interaction, mix_particles


@pytest.mark.parametrize("n", [1, 5, 6, 8])
def test_broadcast_copies_the_vector_to_every_particle(n):
    inp = keras.Input((3,))
    model = keras.Model(inp, broadcast_particles(KerasKit(), inp, n, "b"))
    v = np.random.default_rng(n).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(v, verbose=0), np.repeat(v[:, None, :], n, axis=1))
    concatenations = [layer for layer in model.layers if isinstance(layer, keras.layers.Concatenate)]
    # doublings up to the largest power of two in n, then one join per further set bit of n
    assert len(concatenations) == (n.bit_length() - 1) + (bin(n).count("1") - 1)


def test_interaction_layer_is_its_equation_and_equivariant():
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 4))
    model = keras.Model(inp, interaction(KerasKit(), inp, 5, "relu", "int"))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.weights])
    x = rng.normal(size=(16, 8, 4)).astype(np.float32)
    w, b = model.get_layer("int_self").get_weights()
    (v,) = model.get_layer("int_context").get_weights()
    want = np.maximum(x @ w + b + (x.mean(axis=1) @ v)[:, None, :], 0.0)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    perm = rng.permutation(8)
    np.testing.assert_allclose(model.predict(x[:, perm], verbose=0), want[:, perm], rtol=1e-5, atol=1e-5)


def test_mix_particles_is_a_dense_layer_across_the_particles():
    inp = keras.Input((8, 3))
    model = keras.Model(inp, mix_particles(KerasKit(), inp, 4, "relu", "mix"))
    rng = np.random.default_rng(1)
    w, b = (rng.normal(size=w.shape).astype(np.float32) for w in model.get_layer("mix").weights)
    model.get_layer("mix").set_weights([w, b])
    x = rng.normal(size=(16, 8, 3)).astype(np.float32)
    want = np.maximum(np.einsum("bnf,nm->bmf", x, w) + b[None, :, None], 0.0)
    assert model.output_shape == (None, 4, 3)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
