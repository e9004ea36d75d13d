"""hls4ml's distributed-arithmetic (da4ml) figures of a converted model: kernel cost and adder depth."""

from __future__ import annotations

import math
import re

import numpy as np

from trigger_hgq.export.optional import da4ml_trace, has_da4ml


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
    if not has_da4ml():
        return {}
    try:
        from hls4ml.backends.vivado.passes.distributed_arithmetic import get_kernel_inp_kif
    except ImportError:  # an hls4ml without the distributed-arithmetic pass
        return {}
    da = da4ml_trace()
    costs = {}
    for layer in hls_model.get_layers():
        if layer.class_name not in ("Dense", "Conv1D", "Conv2D"):
            continue
        kernel = np.asarray(layer.attributes["weight"].data, np.float64)
        kernel = kernel.reshape(-1, kernel.shape[-1])
        try:
            k, i, f = get_kernel_inp_kif(layer)
            inp = da.FixedVariableArray.from_kif(k, i, f, da.HWConfig(1, -1, -1),
                                              solver_options={"hard_dc": 2, "search_all_decompose_dc": True})
            res = inp @ kernel
            bias = layer.attributes.get("bias")
            if bias is not None:
                res = res + np.asarray(bias.data, np.float64).ravel()
            costs[layer.name] = float(da.comb_trace(inp, res).cost)
        except Exception:  # layers da4ml cannot take (non-fixed inputs, too wide): no DA figure for them
            continue
    return costs
