"""hls4ml conversion, a fast C-simulation build and the bit-exact check against the Keras model.

* :func:`convert` turns a trigger-hgq model (through its proxy, see :mod:`trigger_hgq.export.proxy`), a QKeras
  model or a float Keras model into an hls4ml ``ModelGraph`` through hls4ml's Keras 3 frontend (every layer by
  a registered handler, :mod:`trigger_hgq.export.handlers`; no fallback converter) and writes the project.
* :func:`compile_csim` builds the C simulation library with g++. hls4ml's own ``build_lib.sh`` compiles three
  translation units at -O3; here the top function and the Python bridge are compiled as one unit at -O1 (the
  same C++ sources and semantics; about half the compile time, and -O1 runs as fast as -O3 for these designs).
* :func:`check` runs the C simulation on real inputs and compares every output bit with Keras. Where they differ,
  hls4ml's layer tracing on the first differing input finds the first layer whose output differs.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.proxy import Proxy, to_proxy
from trigger_hgq.fpga import DEFAULT_PART
from trigger_hgq.graph import model_graph
from trigger_hgq.layers.base import HLayer

BACKENDS = ("Vivado", "Vitis")
IO_TYPES = ("io_parallel", "io_stream")
STRATEGIES = ("Latency", "Resource", "distributed_arithmetic")
CSIM_OPT = "-O1"


@dataclass
class ExportOptions:
    """hls4ml project settings (see :func:`trigger_hgq.to_hls4ml`)."""

    backend: str = "Vitis"
    part: str = DEFAULT_PART
    clock_ns: float = 5.0
    clock_uncertainty: str | None = None  # hls4ml default: 12.5% (Vivado), 27% (Vitis)
    io_type: str = "io_parallel"
    strategy: str = "Latency"
    reuse_factor: int = 1
    project_name: str = "myproject"
    precision: str = "ap_fixed<16,6>"  # float models: every tensor; QKeras: tensors without a quantizer
    input_precision: str | None = None  # float / QKeras models: the model input (default: precision)
    hls_config: dict | None = None  # merged over the generated hls4ml config

    def validate(self) -> None:
        for key, allowed in (("backend", BACKENDS), ("io_type", IO_TYPES), ("strategy", STRATEGIES)):
            if getattr(self, key) not in allowed:
                raise TriggerHGQError(f"export option {key}={getattr(self, key)!r}: expected one of {allowed}")
        if not re.fullmatch(r"[A-Za-z_]\w*", self.project_name):
            raise TriggerHGQError(f"export option project_name={self.project_name!r}: not a C identifier")
        if self.clock_ns <= 0 or self.reuse_factor < 1:
            raise TriggerHGQError(
                f"export options clock_ns={self.clock_ns}, reuse_factor={self.reuse_factor}: must be positive"
            )

    @property
    def uncertainty_fraction(self) -> float:
        """Clock uncertainty as a fraction of the period (hls4ml's defaults per backend)."""
        text = self.clock_uncertainty or ("27%" if self.backend == "Vitis" else "12.5%")
        text = str(text).strip()
        if text.endswith("%"):
            return float(text[:-1]) / 100.0
        return float(text) / self.clock_ns


def model_kind(model: keras.Model) -> str:
    """``hgq`` (trigger-hgq layers), ``qkeras`` (any QKeras layer) or ``float``."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if any(isinstance(layer, HLayer) for layer in layers):
        return "hgq"
    if any(type(layer).__module__.startswith("qkeras") for layer in layers):
        return "qkeras"
    return "float"


def _merge(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _exact_mean_precisions(model: keras.Model) -> dict[str, str]:
    """Per ``GlobalAveragePooling1D`` of a QKeras model fed by a ``QActivation``: the fixed-point type that holds
    the mean of its input type exactly (``log2(steps)`` more integer bits for the sum, as many more fractional
    bits for the division); hls4ml infers none for global pooling and would use its default precision."""
    out = {}
    graph = model_graph(model)
    for node in graph.nodes.values():
        layer = node.layer
        if not isinstance(layer, keras.layers.GlobalAveragePooling1D) or len(node.inputs) != 1:
            continue
        inbound = graph.nodes[node.inputs[0]].layer
        quantizer = getattr(inbound, "activation", None) if type(inbound).__name__ == "QActivation" else None
        bits, integer = getattr(quantizer, "bits", None), getattr(quantizer, "integer", None)
        steps = int(layer.input.shape[1])
        if bits is None or integer is None or steps & (steps - 1):
            continue
        extra = steps.bit_length() - 1
        if type(quantizer).__name__ == "quantized_relu":
            out[layer.name] = f"ap_ufixed<{int(bits) + 2 * extra},{int(integer) + extra}>"
        else:  # quantized_bits: a sign bit beside the integer bits
            out[layer.name] = f"ap_fixed<{int(bits) + 2 * extra},{int(integer) + 1 + extra}>"
    return out


def hls_config_for(model: keras.Model, kind: str, opts: ExportOptions, proxy: Proxy | None) -> dict:
    """The hls4ml config: every layer traced; float models fixed to ``opts.precision`` throughout."""
    import hls4ml

    from trigger_hgq.export.handlers import register

    register()
    model_cfg = {"Precision": opts.precision, "ReuseFactor": opts.reuse_factor, "Strategy": opts.strategy}
    if kind == "hgq":
        # Precisions come from the proxy's quantizers through hls4ml's bit-exact flow.
        config = {"Model": {**model_cfg, "BitExact": True},
                  "LayerName": {layer.name: {"Trace": True} for layer in proxy.model.layers}}
    else:
        with contextlib.redirect_stdout(io.StringIO()):
            config = hls4ml.utils.config_from_keras_model(
                model, granularity="name", backend=opts.backend, default_precision=opts.precision,
                default_reuse_factor=opts.reuse_factor,
            )
        config["Model"]["Strategy"] = opts.strategy
        input_names = set(model_graph(model).inputs)
        if kind == "qkeras":
            for name, precision in _exact_mean_precisions(model).items():
                config["LayerName"].setdefault(name, {})["Precision"] = {"accum": precision, "result": precision}
        for name, layer_cfg in config["LayerName"].items():
            layer_cfg["Trace"] = True
            precision = layer_cfg.get("Precision")
            if kind == "float" and isinstance(precision, dict):
                for key, value in precision.items():
                    if value == "auto":
                        precision[key] = opts.precision
            if opts.input_precision and name in input_names:
                layer_cfg.setdefault("Precision", {})
                if isinstance(layer_cfg["Precision"], dict):
                    layer_cfg["Precision"]["result"] = opts.input_precision
                else:
                    layer_cfg["Precision"] = opts.input_precision
    return _merge(config, opts.hls_config or {})


@contextlib.contextmanager
def _per_particle_kernels_quantized(model: keras.Model):
    """While hls4ml reads ``model``: the kernel and bias of each QKeras ``QDense`` on inputs (particles, features)
    hold their quantized values. hls4ml turns such a layer into a pointwise convolution and drops its quantizers on
    the way, so it would write the float weights wrapped into the weight type; the quantized values are what QKeras
    computes with (its quantizers give them back unchanged), so the C simulation then matches it."""
    saved = []
    for layer in model.layers:
        if type(layer).__name__ != "QDense" or len(layer.input.shape) <= 2:
            continue
        for name in ("kernel", "bias"):
            quantizer = getattr(layer, f"{name}_quantizer_internal", None)
            weight = getattr(layer, name, None)
            if quantizer is not None and weight is not None:
                saved.append((weight, keras.ops.convert_to_numpy(weight)))
                weight.assign(np.asarray(keras.ops.convert_to_numpy(quantizer(weight)), np.float32))
    try:
        yield
    finally:
        for weight, value in saved:
            weight.assign(value)


def convert(model: keras.Model, out_dir: str | os.PathLike, opts: ExportOptions):
    """Convert ``model`` to an hls4ml ``ModelGraph`` writing to ``out_dir``. Returns (hls_model, proxy, kind)."""
    import hls4ml

    from trigger_hgq.export.handlers import register

    register()
    opts.validate()
    kind = model_kind(model)
    proxy = to_proxy(model) if kind == "hgq" else None
    if kind == "hgq" and opts.io_type != "io_parallel":
        raise TriggerHGQError("export option io_type: per-element precision (HGQ models) needs io_parallel")
    config = hls_config_for(model, kind, opts, proxy)
    kwargs = dict(output_dir=str(out_dir), project_name=opts.project_name, backend=opts.backend, part=opts.part,
                  clock_period=opts.clock_ns, io_type=opts.io_type, hls_config=config,
                  bit_exact=config["Model"].get("BitExact"),  # hls4ml takes this flag only as an argument
                  allow_da_fallback=False, allow_v2_fallback=False)  # every layer through a Keras 3 handler
    if opts.clock_uncertainty:
        kwargs["clock_uncertainty"] = opts.clock_uncertainty
    try:
        with contextlib.redirect_stdout(io.StringIO()), _per_particle_kernels_quantized(model):
            hls_model = hls4ml.converters.convert_from_keras_model(proxy.model if proxy else model, **kwargs)
    except TriggerHGQError:
        raise
    except Exception as err:  # hls4ml raises bare Exceptions for unsupported layers and settings
        raise TriggerHGQError(f"hls4ml conversion of model {model.name!r} failed: {err}") from err
    hls_model.config.trace_output = True  # trace hooks are compiled only outside synthesis (#ifndef __SYNTHESIS__)
    return hls_model, proxy, kind


def _build_flags(prj: Path) -> tuple[list[str], list[str]]:
    """CFLAGS and include flags of the project's own build_lib.sh (optimization level replaced)."""
    script = (prj / "build_lib.sh").read_text()
    cflags = re.search(r'^CFLAGS="([^"]*)"', script, re.M)
    incflags = re.search(r'^INCFLAGS="([^"]*)"', script, re.M)
    flags = [f for f in (cflags.group(1).split() if cflags else ["-fPIC", "-std=c++11"]) if not f.startswith("-O")]
    return [CSIM_OPT, *flags, "-fno-gnu-unique"], (incflags.group(1).split() if incflags else ["-Ifirmware/ap_types/"])


def compile_csim(hls_model, timeout_s: float = 1800.0) -> Path:
    """Write nothing new; build the written project's C simulation library and load it into ``hls_model``."""
    prj = Path(hls_model.config.get_output_dir()).resolve()
    name = hls_model.config.get_project_name()
    stamp = hls_model.config.get_config_value("Stamp")
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise TriggerHGQError(f"C++ compiler {cxx!r} not found on PATH (set $CXX): needed for hls4ml's C simulation")
    unity = prj / f"{name}_csim.cpp"
    unity.write_text(
        "// C-simulation library in one translation unit (trigger-hgq); hls4ml's build_lib.sh builds the same.\n"
        f'#include "firmware/{name}.cpp"\n#include "{name}_bridge.cpp"\n'
    )
    lib = prj / "firmware" / f"{name}-{stamp}.so"
    flags, inc = _build_flags(prj)
    cmd = [cxx, *flags, *inc, f'-DWEIGHTS_DIR="{prj / "firmware" / "weights"}"', "-shared", unity.name, "-o", str(lib)]
    try:
        proc = subprocess.run(cmd, cwd=prj, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as err:
        raise TriggerHGQError(f"C simulation build of {prj} timed out after {timeout_s:.0f} s") from err
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "error" in line][:5]
        raise TriggerHGQError(f"C simulation build of {prj} failed: " + " | ".join(errors or [proc.stderr[-500:]]))
    hls_model._top_function_lib = ctypes.cdll.LoadLibrary(str(lib))
    return lib


def _rows(x, n: int | None):
    arrays = x if isinstance(x, list | tuple) else [x]
    arrays = [np.asarray(a) for a in arrays]
    total = len(arrays[0])
    if any(len(a) != total for a in arrays):
        raise TriggerHGQError(f"check inputs: inputs have different numbers of rows {[len(a) for a in arrays]}")
    n = total if n is None else min(n, total)
    return [np.ascontiguousarray(a[:n], dtype=np.float32) for a in arrays], n


def _flat(y, n: int) -> np.ndarray:
    parts = y if isinstance(y, list | tuple) else [y]
    return np.concatenate([np.asarray(p, np.float64).reshape(n, -1) for p in parts], axis=1)


def keras_predict(model: keras.Model, xs: list[np.ndarray], batch_size: int = 16384) -> np.ndarray:
    """Inference-mode outputs of ``model`` (eager calls in large batches; float64, outputs concatenated)."""
    parts = []
    for start in range(0, len(xs[0]), batch_size):
        batch = [a[start:start + batch_size] for a in xs]
        y = model(batch if len(batch) > 1 else batch[0], training=False)
        parts.append(_flat([np.asarray(t) for t in (y if isinstance(y, list | tuple) else [y])], len(batch[0])))
    return np.concatenate(parts, axis=0)


def csim_predict(hls_model, xs: list[np.ndarray]) -> np.ndarray:
    """C-simulation outputs (float64, one row per input row, outputs concatenated)."""
    n = len(xs[0])
    x64 = [np.ascontiguousarray(a, dtype=np.float64) for a in xs]
    y = hls_model.predict(x64[0] if len(x64) == 1 else x64)
    return _flat(y, n)


def csim_trace(hls_model, xs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-layer C-simulation outputs of a few rows through hls4ml's tracing (library already built with hooks)."""
    x64 = [np.ascontiguousarray(a, dtype=np.float64) for a in xs]
    compile_fn = hls_model.compile
    hls_model.compile = lambda: None  # the loaded library already has the trace hooks: do not rebuild
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            _, trace = hls_model.trace(x64[0] if len(x64) == 1 else x64)
    finally:
        hls_model.compile = compile_fn
    n = len(xs[0])
    return {name: np.asarray(v, np.float64).reshape(n, -1) for name, v in trace.items()}


def keras_layer_outputs(model: keras.Model, names: list[str], xs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of the named layers of ``model`` (float64, flattened per row)."""
    layers = [model.get_layer(name) for name in names]
    if not layers:
        return {}
    inputs = model.inputs if len(model.inputs) > 1 else model.inputs[0]
    probe = keras.Model(inputs, [layer.output for layer in layers])
    outs = probe(xs if len(xs) > 1 else xs[0], training=False)
    outs = outs if isinstance(outs, list | tuple) else [outs]
    n = len(xs[0])
    return {name: np.asarray(o, np.float64).reshape(n, -1) for name, o in zip(names, outs, strict=True)}


@dataclass
class LayerCheck:
    """Exactness of one traced layer: fraction of traced rows whose whole layer output is equal."""

    name: str
    source: str
    exact_fraction: float


@dataclass
class CheckResult:
    """Result of the C-simulation check."""

    n_checked: int
    bit_exact_fraction: float
    first_mismatch: int | None = None
    first_mismatch_input: list | None = None
    first_differing_layer: str | None = None
    first_differing_source: str | None = None
    layers: list[LayerCheck] = field(default_factory=list)
    n_traced: int = 0
    logits_bit_exact_fraction: float | None = None  # the input of a final softmax, on the traced rows

    def to_dict(self) -> dict:
        return {
            "n_checked": self.n_checked,
            "bit_exact_fraction": self.bit_exact_fraction,
            "first_mismatch": self.first_mismatch,
            "first_mismatch_input": self.first_mismatch_input,
            "first_differing_layer": self.first_differing_layer,
            "first_differing_source": self.first_differing_source,
            "n_traced": self.n_traced,
            "logits_bit_exact_fraction": self.logits_bit_exact_fraction,
        }


def _compare_layers(hls_model, ref_model: keras.Model, sources: dict[str, str], xs) -> list[LayerCheck]:
    trace = csim_trace(hls_model, xs)
    keras_names = {layer.name for layer in ref_model.layers}
    order = [layer.name for layer in hls_model.get_layers() if layer.name in trace and layer.name in keras_names]
    ref = keras_layer_outputs(ref_model, order, xs)
    checks = []
    for name in order:
        a, b = trace[name], ref[name]
        if a.shape != b.shape:
            continue
        checks.append(LayerCheck(name, sources.get(name, name), float(np.mean(np.all(a == b, axis=1)))))
    return checks


def check(model: keras.Model, hls_model, x, kind: str, proxy: Proxy | None, n_rows: int | None = None,
          n_trace: int = 1000) -> CheckResult:
    """Compare C simulation and Keras on the rows of ``x``; trace layers to locate differences.

    HGQ models are compared with the trigger-hgq model (and the proxy model must equal it exactly); the first
    differing row is traced. QKeras and float models get per-layer exactness on the first ``n_trace`` rows.
    """
    xs, n = _rows(x, n_rows)
    if n == 0:
        raise TriggerHGQError("check inputs: no rows to check")
    y_keras = keras_predict(model, xs)
    if proxy is not None:
        y_proxy = keras_predict(proxy.model, xs)
        bad = np.where(~np.all(y_proxy == y_keras, axis=1))[0]
        if len(bad):
            raise TriggerHGQError(
                f"proxy model of {model.name!r} differs from the model on input row {int(bad[0])}: "
                "the proxy construction does not reproduce the model (please report)"
            )
    y_hls = csim_predict(hls_model, xs)
    equal = np.all(y_hls == y_keras, axis=1)
    result = CheckResult(n_checked=n, bit_exact_fraction=float(equal.mean()))
    if not equal.all():
        first = int(np.where(~equal)[0][0])
        result.first_mismatch = first
        result.first_mismatch_input = [a[first].ravel().tolist() for a in xs]
    if kind == "hgq":
        if result.first_mismatch is not None:
            rows = [a[result.first_mismatch:result.first_mismatch + 1] for a in xs]
            result.layers = _compare_layers(hls_model, proxy.model, proxy.source, rows)
            result.n_traced = 1
    else:
        rows = [a[:n_trace] for a in xs]
        result.layers = _compare_layers(hls_model, model, {}, rows)
        result.n_traced = len(rows[0])
        hls_layers = list(hls_model.get_layers())
        if hls_layers and hls_layers[-1].class_name == "Softmax" and len(result.layers) >= 2:
            if result.layers[-1].name == hls_layers[-1].name:
                result.logits_bit_exact_fraction = result.layers[-2].exact_fraction
        if result.first_mismatch is not None:
            one = [a[result.first_mismatch:result.first_mismatch + 1] for a in xs]
            first_checks = _compare_layers(hls_model, model, {}, one)
            differing = next((c for c in first_checks if c.exact_fraction < 1.0), None)
            if differing is not None:
                result.first_differing_layer = result.first_differing_source = differing.name
    if kind == "hgq" and result.first_mismatch is not None:
        differing = next((c for c in result.layers if c.exact_fraction < 1.0), None)
        if differing is not None:
            result.first_differing_layer = differing.name
            result.first_differing_source = differing.source
    return result
