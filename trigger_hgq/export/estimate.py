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
import re
from dataclasses import asdict, dataclass, field

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


def t_add(bits: int) -> float:
    """Delay (ns) of an adder of ``bits`` bits."""
    return T_ADD0 + T_ADD_BIT * max(int(bits), 1)


def _levels(n: int) -> int:
    return int(math.ceil(math.log2(n))) if n > 1 else 0


class _Scheduler:
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


def _type_bits(precision) -> int:
    width = getattr(precision, "width", None)
    return int(width) if width is not None else 16


def _out_shape(layer) -> tuple[int, ...]:
    return tuple(int(d) for d in layer.get_output_variable().shape)


def _signed(precision) -> bool:
    return bool(getattr(precision, "signed", True))


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
        frac = _type_bits(precision) - int(getattr(precision, "integer", 0))
        q = np.round(data * 2.0**frac)  # the constant on the weight type's grid
        bits = np.full(data.shape, _type_bits(precision), np.int64)
        bits = np.where(q == 0, 0, bits)
    return np.where(data == 0, 0, np.maximum(bits, 0))


def _im2col_bits(layer, in_bits: np.ndarray) -> np.ndarray:
    """Input bits seen by each kernel tap, (n_positions, n_taps), from hls4ml's own im2col helpers."""
    from hls4ml.model.optimizer.passes.bit_exact import im2col, pad_arrs, stride_arrs

    kernel_shape = layer.attributes["weight"].data.shape
    (padded,) = pad_arrs(layer, 0, in_bits)
    (cols,) = im2col(kernel_shape, padded)
    (cols,) = stride_arrs(layer, cols)
    return cols.reshape(-1, cols.shape[-1])


def _linear_cost(layer, in_bits: np.ndarray, exact: bool, est: LayerEstimate) -> tuple[float, int]:
    """Multiplications and adder tree of Dense/Conv: fills ``est``; returns (delay of products, max terms)."""
    wb = weight_bits(layer, exact)
    kernel = wb.reshape(-1, wb.shape[-1])  # (n_taps, n_out)
    a = in_bits.reshape(1, -1) if layer.class_name.startswith("Dense") else _im2col_bits(layer, in_bits)
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
        lut += int(prod_bits.sum()) + int(sum(max(t - 1, 0) * _levels(int(t)) for t in terms) // 2)
        max_terms = max(max_terms, int(terms.max(initial=1)))
        if live.any():
            max_wb = max(max_wb, int(kernel[live].max()))
            max_prod = max(max_prod, int(prod_bits.max()))
            any_dsp = any_dsp or bool(is_dsp.any())
    est.n_mult, est.dsp, est.lut, est.ebops = n_mult, dsp, lut, ebops
    t_mul = T_DSP if any_dsp else _levels(int(math.ceil(max_wb / 2))) * t_add(max_prod)
    return t_mul, max_terms


def _cast_delay(precision, bits: int) -> float:
    """Rounding and saturation of a cast into ``precision`` (truncation and wrap are free)."""
    delay = 0.0
    rnd = str(getattr(precision, "rounding_mode", "TRN") or "TRN").upper()
    sat = str(getattr(precision, "saturation_mode", "WRAP") or "WRAP").upper()
    if "RND" in rnd:
        delay += t_add(bits)
    if "SAT" in sat:
        delay += t_add(bits) + T_MUX
    return delay


def _cast_lut(precision, n_bits: int) -> int:
    rnd = str(getattr(precision, "rounding_mode", "TRN") or "TRN").upper()
    sat = str(getattr(precision, "saturation_mode", "WRAP") or "WRAP").upper()
    return int(n_bits * (("RND" in rnd) + ("SAT" in sat)))


def estimate(hls_model, clock_ns: float, uncertainty: float, exact: bool) -> Estimate:
    """Estimate resources and latency of a converted (io_parallel) hls4ml model.

    Args:
        hls_model: the hls4ml ``ModelGraph``.
        clock_ns: target clock period; uncertainty: fraction of it reserved by HLS (0.125 Vivado, 0.27 Vitis).
        exact: bit-exact (HGQ proxy) design: per-constant weight widths and per-element quantizer masks.
    """
    from hls4ml.model.optimizer.passes.hgq_proxy_model import FixedPointQuantizer

    t_eff = clock_ns * (1.0 - uncertainty)
    sched = _Scheduler(t_eff)
    bits: dict[str, np.ndarray] = {}
    out = Estimate(clock_ns=clock_ns, effective_clock_ns=t_eff)
    for layer in hls_model.get_layers():
        cls = layer.class_name
        shape = _out_shape(layer)
        precision = layer.get_output_variable().type.precision
        width = _type_bits(precision)
        inputs = [bits[name] for name in layer.inputs if name in bits]
        in_bits = inputs[0] if inputs else np.full(shape, width)
        est = LayerEstimate(layer.name, cls)
        start = sched.mark()
        out_bits = np.full(shape, width, np.int64)
        n_out = int(np.prod(shape))
        if isinstance(layer, FixedPointQuantizer):
            _, b, _ = (np.asarray(a) for a in layer.mask_kbi)
            out_bits = np.broadcast_to(b[0] if b.ndim > len(shape) else b, shape).astype(np.int64)
            out_bits = np.minimum(out_bits, in_bits.reshape(shape)) if in_bits.size == n_out else out_bits
            est.lut = _cast_lut_elements(layer, out_bits)
            sched.add(_fpq_delay(layer, int(out_bits.max(initial=0))))
        elif "da_kernel_cost" in layer.attributes:  # hls4ml's distributed_arithmetic strategy (da4ml kernel)
            depth, acc_bits = da_depth(layer), int(np.max(out_bits, initial=1))
            for _ in range(depth):
                sched.add(t_add(acc_bits))
            sched.add(_cast_delay(precision, width))
            est.lut = int(round(float(layer.attributes["da_kernel_cost"]))) + _cast_lut(precision, n_out * width)
        elif cls in ("Dense", "Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D"):
            t_mul, terms = _linear_cost(layer, in_bits, exact, est)
            acc = layer.attributes.get("accum_t")
            acc_bits = _type_bits(acc.precision) if acc is not None else width
            sched.add(t_mul)
            for _ in range(_levels(terms)):
                sched.add(t_add(acc_bits))
            sched.add(_cast_delay(precision, width))
            est.lut += _cast_lut(precision, n_out * width)
        elif cls in ("Activation", "ReLU") and str(layer.get_attr("activation", "")).lower() in ("relu", "linear"):
            if str(layer.get_attr("activation")).lower() == "relu":
                sched.add(T_MUX)
                est.lut = int(0.5 * n_out * width)
            sched.add(_cast_delay(precision, width))
            est.lut += _cast_lut(precision, n_out * width)
            if in_bits.size == n_out:
                out_bits = np.minimum(out_bits, in_bits.reshape(shape))
        elif cls in ("Pooling1D", "Pooling2D"):
            area = int(np.prod([layer.get_attr(k, 1) for k in ("pool_height", "pool_width")]))
            is_max = layer.get_attr("pool_op", "Max") == "Max"
            for _ in range(_levels(area)):
                sched.add(t_add(width) + (T_MUX if is_max else 0.0))
            est.lut = int((area - 1) * n_out * width * (1.5 if is_max else 1.0))
            sched.add(_cast_delay(precision, width))
        elif cls == "Merge":
            sched.add(t_add(width))
            est.lut = int((len(layer.inputs) - 1) * n_out * width)
            sched.add(_cast_delay(precision, width))
        elif cls == "Softmax":
            n = n_out
            sched.add(_levels(n) * (t_add(width) + T_MUX) + t_add(width))  # max and subtraction
            sched.add(T_ROM)  # exp table
            for _ in range(_levels(n)):
                sched.add(t_add(18))
            sched.add(T_ROM)  # inverse table
            sched.add(T_DSP)
            est.dsp, est.bram = n, 2
            est.lut = int(n * 18 * 3)
        elif cls == "Input":
            pass  # registered by the top function's interface (IO_CYCLES)
        elif cls in ("Reshape", "Transpose", "Flatten"):
            if in_bits.size == n_out:
                out_bits = in_bits.reshape(shape)
        else:
            sched.add(t_add(width))
            est.lut = n_out * width
        bits[layer.name] = out_bits
        est.delay_ns = round((sched.mark() - start) * t_eff, 3)
        est.latency_cycles = int(math.floor(sched.mark()) - math.floor(start))
        est.ff = int(out_bits.sum()) * max(est.latency_cycles, 0)
        out.layers.append(est)
    total = sched.cycle + (1 if sched.used > 0 else 0) + IO_CYCLES
    out.latency_cycles = int(total)
    out.latency_ns = round(total * clock_ns, 3)
    for key in ("lut", "dsp", "ff", "bram", "ebops"):
        setattr(out, key, int(sum(getattr(layer, key) for layer in out.layers)))
    return out


def _fpq_delay(layer, bits: int) -> float:
    delay = t_add(bits) if layer.RND in ("RND", "RND_CONV") else 0.0
    return delay + (t_add(bits) + T_MUX if layer.SAT != "WRAP" else 0.0)


def _cast_lut_elements(layer, out_bits: np.ndarray) -> int:
    return int(out_bits.sum()) * ((layer.RND in ("RND", "RND_CONV")) + (layer.SAT != "WRAP"))


def da_depth(layer) -> int:
    """Adder depth of a layer hls4ml wrote with its distributed_arithmetic strategy: the largest latency that
    da4ml prints beside each operation of the generated kernel (``// <latency>``, in adder levels)."""
    source = layer.attributes.get("da_codegen")
    code = getattr(source, "code", str(source or ""))
    depths = [float(v) for v in re.findall(r"//\s*([0-9]+(?:\.[0-9]+)?)\s*$", code, re.M)]
    return int(math.ceil(max(depths, default=0.0)))


def da_costs(hls_model) -> dict[str, float]:
    """hls4ml's distributed-arithmetic cost estimate (da4ml) per Dense/Conv layer; empty without da4ml."""
    done = {layer.name: float(layer.attributes["da_kernel_cost"]) for layer in hls_model.get_layers()
            if "da_kernel_cost" in layer.attributes}  # the distributed_arithmetic strategy computed it already
    if done:
        return done
    try:
        from da4ml.trace import FixedVariableArray, HWConfig, comb_trace
        from hls4ml.backends.vivado.passes.distributed_arithmetic import get_kernel_inp_kif
    except ImportError:
        return {}
    costs = {}
    for layer in hls_model.get_layers():
        if layer.class_name not in ("Dense", "Conv1D", "Conv2D"):
            continue
        kernel = np.asarray(layer.attributes["weight"].data, np.float64)
        kernel = kernel.reshape(-1, kernel.shape[-1])
        try:
            k, i, f = get_kernel_inp_kif(layer)
            inp = FixedVariableArray.from_kif(k, i, f, HWConfig(1, -1, -1),
                                              solver_options={"hard_dc": 2, "search_all_decompose_dc": True})
            res = inp @ kernel
            bias = layer.attributes.get("bias")
            if bias is not None:
                res = res + np.asarray(bias.data, np.float64).ravel()
            costs[layer.name] = float(comb_trace(inp, res).cost)
        except Exception:  # layers da4ml cannot take (non-fixed inputs, too wide): no DA figure for them
            continue
    return costs
