"""Keras' window padding, for code that rebuilds a convolution or pooling window by window (numpy, da4ml)."""

from __future__ import annotations


def window_padding(spatial: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...],
                   padding: str) -> tuple[list[tuple[int, int]], list[int]]:
    """``(pads, out_sizes)`` per spatial axis as Keras pads for ``padding`` (``valid`` or ``same``): the zeros
    before and after the input, and the number of output positions."""
    pads, out_sizes = [], []
    for n, k, s in zip(spatial, window, strides, strict=True):
        if padding == "same":
            out = -(-n // s)
            total = max((out - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        else:
            out = (n - k) // s + 1
            pads.append((0, 0))
        out_sizes.append(out)
    return pads, out_sizes
