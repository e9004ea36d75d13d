"""Analytical resource and latency estimate of an hls4ml io_parallel design (no Vivado/Vitis needed).

The model works on the converted hls4ml graph, so it sees exactly the precisions of the generated HLS.

Operand widths. Every tensor element has a width in bits: the per-element mask of a FixedPointQuantizer (HGQ
models: zero-bit elements are constant zero and cost nothing), else the width of the layer's output type. Every
weight has a width: for bit-exact (HGQ) designs the minimal width of its constant value (hls4ml's ``minimal_kif``,
what the HLS compiler sees after constant propagation), else the width of the layer's weight type. Zero weights
and zero-bit inputs are no multiplication (the HLS compiler removes them).

Resources (per multiplication of an input element of ``a`` bits by a weight of ``w`` bits):

* DSP: hls4ml's rule for Vivado/Vitis (``optimization/dsp_aware_pruning/objectives/vivado_objectives.py``: no DSP
  for weights under 9 bits): ``w >= 9`` and ``a >= 2`` (a 1-bit operand is a plain AND) -> one DSP, no LUT.
* otherwise LUTs for the partial products of a constant multiplication: ``C_MUL * a * (w - 1)``
  (a 1-bit or power-of-two weight is a shift: 0 LUT).
* adders: every product (``a + w - 1`` bits) and every non-zero bias enters the accumulation adder tree once:
  one LUT per bit (LUT6 + carry chain), i.e. ``sum(a + w - 1)`` LUTs per output, plus the carry growth of the
  tree, ``(terms - 1) * ceil(log2(terms)) / 2``.
* activations / quantizers: ReLU ``0.5 * b`` (mux), rounding ``b`` (one adder), saturation ``b`` (compare + mux);
  max pooling ``b`` per comparison, average pooling ``b`` per addition, Add ``b`` per addition.
* FF: every pipeline stage registers the outputs of the layer it ends in: ``sum(bits) * cycles`` per layer.
* BRAM: 0 (io_parallel + Latency keeps every weight in logic); softmax tables: one BRAM18 each.

For HLS latency designs LUT + 55 * DSP tracks the EBOPs (HGQ, arXiv 2405.00645); this model gives 0.6-1.1 x EBOPs
for operand widths between 1 and 16 bits.

Latency: each layer is a chain of delays, scheduled greedily at the effective clock ``clock_ns * (1 -
uncertainty)`` (an operation that does not fit in what remains of a cycle starts a new one; chaining across layers
is allowed as in a pipelined io_parallel top function): a DSP multiplication ``T_DSP``, a LUT multiplication
``ceil(log2(ceil(w / 2)))`` adder levels (its partial products), ``ceil(log2(terms))`` adder levels of the
accumulator width, ``T_ADD0 + T_ADD_BIT * bits`` per adder, ``T_MUX`` per ReLU / max, rounding one adder,
saturation one comparison and a mux, ``T_ROM`` per table read (softmax), plus ``IO_CYCLES`` for the
input and output registers. io_parallel + Latency with reuse factor 1 gives II = 1.

Calibration: the hls4ml 16-64-32-32-5 jet tagger at 5 ns (Vivado HLS, 12.5% uncertainty) has 13 cycles with
ap_fixed<16,6> and 15 cycles with the QKeras 6-bit model; this model gives 13 and 15 (tests/test_export_estimate.py).
Expected error: about +-3 cycles (+-30 %) for latency, +-50 % for LUT, DSP exact when the DSP rule holds; FF is
rough (factor 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.da_cost import da_depth
from trigger_hgq.export.estimate_costs import (
    IO_CYCLES,
    T_DSP,
    T_MUX,
    T_ROM,
    LayerEstimate,
    Scheduler,
    cast_delay,
    cast_lut,
    cast_lut_elements,
    fpq_delay,
    levels,
    linear_cost,
    out_shape,
    t_add,
    type_bits,
)


@dataclass
class Estimate:
    """Estimate of a whole design."""

    layers: list[LayerEstimate] = field(default_factory=list)
    lut: int = 0
    dsp: int = 0
    ff: int = 0
    bram: int = 0
    ebops: int = 0
    latency_cycles: int = 0
    latency_ns: float = 0.0
    ii: int = 1
    clock_ns: float = 5.0
    effective_clock_ns: float = 5.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LayerContext:
    """What a per-class estimator sees of one hls4ml layer; it fills ``est``, advances ``sched`` and may narrow
    ``out_bits`` (the widths of the layer's output elements, the next layer's ``in_bits``)."""

    layer: object
    est: LayerEstimate
    sched: Scheduler
    shape: tuple[int, ...]
    precision: object
    width: int
    in_bits: np.ndarray
    out_bits: np.ndarray
    exact: bool

    @property
    def n_out(self) -> int:
        return int(np.prod(self.shape))

    def pass_bits_through(self) -> None:
        """Output elements no wider than the input elements (same count)."""
        if self.in_bits.size == self.n_out:
            self.out_bits = np.minimum(self.out_bits, self.in_bits.reshape(self.shape))

    def cast(self) -> None:
        """The rounding / saturation of the cast into the output type."""
        self.sched.add(cast_delay(self.precision, self.width))
        self.est.lut += cast_lut(self.precision, self.n_out * self.width)


_ESTIMATORS: dict[str, Callable[[LayerContext], None]] = {}


def estimator(*class_names: str):
    """Register the estimator of the hls4ml layer classes ``class_names`` (each once)."""

    def add(fn: Callable[[LayerContext], None]) -> Callable[[LayerContext], None]:
        for name in class_names:
            if name in _ESTIMATORS:
                raise TriggerHGQError(f"hls4ml layer class {name!r} already has an estimator "
                                      f"({_ESTIMATORS[name].__name__})")
            _ESTIMATORS[name] = fn
        return fn

    return add


def estimated_classes() -> list[str]:
    """The hls4ml layer classes with their own estimator (others get the generic one: one adder per output)."""
    return sorted(_ESTIMATORS)


@estimator("Dense", "Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D")
def _linear(c: LayerContext) -> None:
    t_mul, terms = linear_cost(c.layer, c.in_bits, c.exact, c.est)
    acc = c.layer.attributes.get("accum_t")
    acc_bits = type_bits(acc.precision) if acc is not None else c.width
    c.sched.add(t_mul)
    for _ in range(levels(terms)):
        c.sched.add(t_add(acc_bits))
    c.cast()


@estimator("Activation", "ReLU")
def _activation(c: LayerContext) -> None:
    act = str(c.layer.get_attr("activation", "")).lower()
    if act not in ("relu", "linear"):
        _generic(c)
        return
    if act == "relu":
        c.sched.add(T_MUX)
        c.est.lut = int(0.5 * c.n_out * c.width)
    c.cast()
    c.pass_bits_through()


@estimator("Pooling1D", "Pooling2D", "GlobalPooling1D", "GlobalPooling2D")
def _pooling(c: LayerContext) -> None:
    if c.layer.class_name.startswith("Global"):  # one window over every position
        area = int(np.prod(c.layer.get_input_variable().shape[:-1]))
    else:
        area = int(np.prod([c.layer.get_attr(k, 1) for k in ("pool_height", "pool_width")]))
    is_max = c.layer.get_attr("pool_op", "Max") == "Max"
    for _ in range(levels(area)):
        c.sched.add(t_add(c.width) + (T_MUX if is_max else 0.0))
    c.est.lut = int((area - 1) * c.n_out * c.width * (1.5 if is_max else 1.0))
    c.sched.add(cast_delay(c.precision, c.width))


@estimator("Merge")
def _merge(c: LayerContext) -> None:
    c.sched.add(t_add(c.width))
    c.est.lut = int((len(c.layer.inputs) - 1) * c.n_out * c.width)
    c.sched.add(cast_delay(c.precision, c.width))


@estimator("Softmax")
def _softmax(c: LayerContext) -> None:
    n, width = c.n_out, c.width
    c.sched.add(levels(n) * (t_add(width) + T_MUX) + t_add(width))  # max and subtraction
    c.sched.add(T_ROM)  # exp table
    for _ in range(levels(n)):
        c.sched.add(t_add(18))
    c.sched.add(T_ROM)  # inverse table
    c.sched.add(T_DSP)
    c.est.dsp, c.est.bram = n, 2
    c.est.lut = int(n * 18 * 3)


@estimator("Input")
def _input(c: LayerContext) -> None:
    """Registered by the top function's interface (IO_CYCLES)."""


@estimator("Reshape", "Transpose", "Flatten")
def _reshape(c: LayerContext) -> None:
    if c.in_bits.size == c.n_out:
        c.out_bits = c.in_bits.reshape(c.shape)


def _generic(c: LayerContext) -> None:
    """Any other layer: one adder per output element."""
    c.sched.add(t_add(c.width))
    c.est.lut = c.n_out * c.width


def _fixed_point_quantizer(c: LayerContext) -> None:
    _, b, _ = (np.asarray(a) for a in c.layer.mask_kbi)
    out_bits = np.broadcast_to(b[0] if b.ndim > len(c.shape) else b, c.shape).astype(np.int64)
    c.out_bits = np.minimum(out_bits, c.in_bits.reshape(c.shape)) if c.in_bits.size == c.n_out else out_bits
    c.est.lut = cast_lut_elements(c.layer, c.out_bits)
    c.sched.add(fpq_delay(c.layer, int(c.out_bits.max(initial=0))))


def _distributed_arithmetic(c: LayerContext) -> None:
    """A layer hls4ml wrote with its distributed_arithmetic strategy (da4ml kernel)."""
    depth, acc_bits = da_depth(c.layer), int(np.max(c.out_bits, initial=1))
    for _ in range(depth):
        c.sched.add(t_add(acc_bits))
    c.sched.add(cast_delay(c.precision, c.width))
    c.est.lut = int(round(float(c.layer.attributes["da_kernel_cost"]))) + cast_lut(c.precision, c.n_out * c.width)


def estimate(hls_model, clock_ns: float, uncertainty: float, exact: bool) -> Estimate:
    """Estimate resources and latency of a converted (io_parallel) hls4ml model.

    Args:
        hls_model: the hls4ml ``ModelGraph``.
        clock_ns: target clock period; uncertainty: fraction of it reserved by HLS (0.125 Vivado, 0.27 Vitis).
        exact: bit-exact (HGQ proxy) design: per-constant weight widths and per-element quantizer masks.
    """
    from hls4ml.model.optimizer.passes.hgq_proxy_model import FixedPointQuantizer

    t_eff = clock_ns * (1.0 - uncertainty)
    sched = Scheduler(t_eff)
    bits: dict[str, np.ndarray] = {}
    out = Estimate(clock_ns=clock_ns, effective_clock_ns=t_eff)
    for layer in hls_model.get_layers():
        shape = out_shape(layer)
        precision = layer.get_output_variable().type.precision
        width = type_bits(precision)
        inputs = [bits[name] for name in layer.inputs if name in bits]
        est = LayerEstimate(layer.name, layer.class_name)
        start = sched.mark()
        c = LayerContext(layer, est, sched, shape, precision, width, inputs[0] if inputs else np.full(shape, width),
                         np.full(shape, width, np.int64), exact)
        if isinstance(layer, FixedPointQuantizer):
            _fixed_point_quantizer(c)
        elif "da_kernel_cost" in layer.attributes:
            _distributed_arithmetic(c)
        else:
            _ESTIMATORS.get(layer.class_name, _generic)(c)
        bits[layer.name] = c.out_bits
        est.delay_ns = round((sched.mark() - start) * t_eff, 3)
        est.latency_cycles = int(math.floor(sched.mark()) - math.floor(start))
        est.ff = int(c.out_bits.sum()) * max(est.latency_cycles, 0)
        out.layers.append(est)
    total = sched.cycle + (1 if sched.used > 0 else 0) + IO_CYCLES
    out.latency_cycles = int(total)
    out.latency_ns = round(total * clock_ns, 3)
    for key in ("lut", "dsp", "ff", "bram", "ebops"):
        setattr(out, key, int(sum(getattr(layer, key) for layer in out.layers)))
    return out
