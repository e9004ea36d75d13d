"""The cost model's parts behind :mod:`trigger_hgq.export.estimate`: calibrated delays and LUT costs, operand
widths, the greedy cycle scheduler, and the cost of a linear layer (the model itself is described there)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# ---- calibrated constants (UltraScale+ -2, Vivado/Vitis HLS delay estimates) ----
C_MUL = 0.5  # LUT per partial-product bit of a constant multiplication
DSP_MIN_WEIGHT_BITS = 9  # hls4ml: "Vivado doesn't use DSP when precision < 9"
T_DSP = 2.4  # ns, DSP48 multiplication (combinational, as scheduled by HLS)
T_ADD0 = 0.55  # ns, adder base delay
T_ADD_BIT = 0.02  # ns per bit of carry chain
T_MUX = 0.4  # ns
T_ROM = 1.8  # ns, read of a table in LUT ROM (softmax exp / inverse tables)
IO_CYCLES = 1  # input/output registers of the top function


@dataclass
class LayerEstimate:
    """Estimate of one hls4ml layer."""

    name: str
    class_name: str
    n_mult: int = 0
    lut: int = 0
    dsp: int = 0
    ff: int = 0
    bram: int = 0
    latency_cycles: int = 0
    delay_ns: float = 0.0
    ebops: int = 0
    da_cost: float | None = None


def t_add(bits: int) -> float:
    """Delay (ns) of an adder of ``bits`` bits."""
    return T_ADD0 + T_ADD_BIT * max(int(bits), 1)


def levels(n: int) -> int:
    return int(math.ceil(math.log2(n))) if n > 1 else 0


class Scheduler:
    """Greedy chaining of delays into clock cycles."""

    def __init__(self, t_eff: float):
        self.t_eff = t_eff
        self.cycle = 0
        self.used = 0.0

    def add(self, delay: float) -> None:
        if delay <= 0:
            return
        if self.used + delay <= self.t_eff:
            self.used += delay
            return
        if delay <= self.t_eff:
            self.cycle += 1
            self.used = delay
            return
        extra = int(math.ceil(delay / self.t_eff))
        self.cycle += extra - (1 if self.used == 0 else 0)
        self.used = delay - (extra - 1) * self.t_eff

    def register(self, cycles: int = 1) -> None:
        """A registered operation (a table read): ends the current cycle and takes ``cycles`` more."""
        if self.used > 0:
            self.cycle += 1
        self.cycle += cycles - 1
        self.used = self.t_eff  # the next operation starts a new cycle

    def mark(self) -> float:
        return self.cycle + self.used / self.t_eff


def type_bits(precision) -> int:
    width = getattr(precision, "width", None)
    return int(width) if width is not None else 16


def out_shape(layer) -> tuple[int, ...]:
    return tuple(int(d) for d in layer.get_output_variable().shape)


def weight_bits(layer, exact: bool) -> np.ndarray:
    """Widths (bits) of the weights of a Dense/Conv layer: per constant (bit-exact designs) or the type width."""
    from hls4ml.utils.qinterval import minimal_kif

    var = layer.attributes["weight"]
    data = np.asarray(var.data, np.float64)
    precision = var.type.precision
    if exact:
        k, i, f = minimal_kif(data)
        bits = (k.astype(np.int64) + i + f)
    else:
        frac = type_bits(precision) - int(getattr(precision, "integer", 0))
        q = np.round(data * 2.0**frac)  # the constant on the weight type's grid
        bits = np.full(data.shape, type_bits(precision), np.int64)
        bits = np.where(q == 0, 0, bits)
    return np.where(data == 0, 0, np.maximum(bits, 0))


def im2col_bits(layer, in_bits: np.ndarray) -> np.ndarray:
    """Input bits seen by each kernel tap, (n_positions, n_taps), from hls4ml's own im2col helpers."""
    from hls4ml.model.optimizer.passes.bit_exact import im2col, pad_arrs, stride_arrs

    kernel_shape = layer.attributes["weight"].data.shape
    (padded,) = pad_arrs(layer, 0, in_bits)
    (cols,) = im2col(kernel_shape, padded)
    (cols,) = stride_arrs(layer, cols)
    return cols.reshape(-1, cols.shape[-1])


def linear_cost(layer, in_bits: np.ndarray, exact: bool, est: LayerEstimate) -> tuple[float, int]:
    """Multiplications and adder tree of Dense/Conv: fills ``est``; returns (delay of products, max terms)."""
    wb = weight_bits(layer, exact)
    kernel = wb.reshape(-1, wb.shape[-1])  # (n_taps, n_out)
    a = in_bits.reshape(1, -1) if layer.class_name.startswith("Dense") else im2col_bits(layer, in_bits)
    bias_var = layer.attributes.get("bias")
    bias = np.asarray(bias_var.data, np.float64).ravel() if bias_var is not None else np.zeros(kernel.shape[1])
    lut = dsp = n_mult = ebops = 0
    max_terms, max_wb, any_dsp, max_prod = 1, 0, False, 1
    for row in a:  # each output position
        aa = row[:, None]
        live = (kernel > 0) & (aa > 0)
        is_dsp = live & (kernel >= DSP_MIN_WEIGHT_BITS) & (aa >= 2)
        n_mult += int(live.sum())
        dsp += int(is_dsp.sum())
        ebops += int((aa * kernel)[live].sum())
        lut_mul = C_MUL * aa * np.maximum(kernel - 1, 0)
        lut += int(np.ceil(lut_mul[live & ~is_dsp].sum()))
        prod_bits = np.where(live, aa + kernel - 1, 0)
        terms = live.sum(axis=0) + (bias != 0)
        # adder tree: every product bit once, plus the carry growth of one bit per adder level
        lut += int(prod_bits.sum()) + int(sum(max(t - 1, 0) * levels(int(t)) for t in terms) // 2)
        max_terms = max(max_terms, int(terms.max(initial=1)))
        if live.any():
            max_wb = max(max_wb, int(kernel[live].max()))
            max_prod = max(max_prod, int(prod_bits.max()))
            any_dsp = any_dsp or bool(is_dsp.any())
    est.n_mult, est.dsp, est.lut, est.ebops = n_mult, dsp, lut, ebops
    t_mul = T_DSP if any_dsp else levels(int(math.ceil(max_wb / 2))) * t_add(max_prod)
    return t_mul, max_terms


def cast_delay(precision, bits: int) -> float:
    """Rounding and saturation of a cast into ``precision`` (truncation and wrap are free)."""
    delay = 0.0
    rnd = str(getattr(precision, "rounding_mode", "TRN") or "TRN").upper()
    sat = str(getattr(precision, "saturation_mode", "WRAP") or "WRAP").upper()
    if "RND" in rnd:
        delay += t_add(bits)
    if "SAT" in sat:
        delay += t_add(bits) + T_MUX
    return delay


def cast_lut(precision, n_bits: int) -> int:
    rnd = str(getattr(precision, "rounding_mode", "TRN") or "TRN").upper()
    sat = str(getattr(precision, "saturation_mode", "WRAP") or "WRAP").upper()
    return int(n_bits * (("RND" in rnd) + ("SAT" in sat)))


def fpq_delay(layer, bits: int) -> float:
    delay = t_add(bits) if layer.RND in ("RND", "RND_CONV") else 0.0
    return delay + (t_add(bits) + T_MUX if layer.SAT != "WRAP" else 0.0)


def cast_lut_elements(layer, out_bits: np.ndarray) -> int:
    return int(out_bits.sum()) * ((layer.RND in ("RND", "RND_CONV")) + (layer.SAT != "WRAP"))
