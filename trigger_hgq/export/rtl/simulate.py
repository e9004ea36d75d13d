"""Cycle-accurate simulation of the written Verilog with Verilator, driven through ctypes.

The project's ``sim/<top>_wrapper_binder.cc`` (written by da4ml) clocks the pipeline once per sample and exposes
``inference(int32 *in, int32 *out, size_t n, size_t threads)``; every value travels as an int32 aligned to the
largest fractional bits of its side. We build it ourselves rather than with da4ml's makefile, which expects a
newer Verilator than Debian's 5.006: that makefile reads an empty ``VERILATOR_ROOT`` from ``verilator -V`` and
links ``libverilated.a`` / ``libV<top>.a``, which 5.006's ``--build`` does not produce. Here the runtime
(``verilated.cpp``, ``verilated_threads.cpp``) is compiled into the shared library directly.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from trigger_hgq.atomic import atomic_path
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.optional import da4ml

_CXXFLAGS = ["-std=c++17", "-fPIC", "-O0"]
# Unoptimized C++: compiling dominates (-Os costs ~10x the compile time); 10k samples still simulate in < 1 s.
_MAKEFLAGS = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"


def verilator_root() -> Path:
    """Verilator's install root: ``$VERILATOR_ROOT`` or the first non-empty ``VERILATOR_ROOT`` of ``verilator -V``."""
    if shutil.which("verilator") is None:
        raise TriggerHGQError("verilator is not on PATH: install the Debian package 'verilator' (see .ci/apt-packages)")
    candidates = [os.environ.get("VERILATOR_ROOT", "")]
    text = subprocess.run(["verilator", "-V"], capture_output=True, text=True, check=False).stdout
    candidates += [line.split("=", 1)[1].strip() for line in text.splitlines()
                   if line.strip().startswith("VERILATOR_ROOT")]
    for cand in candidates:
        if cand and (Path(cand) / "include" / "verilated.h").is_file():
            return Path(cand)
    raise TriggerHGQError("verilator -V names no VERILATOR_ROOT with include/verilated.h; set $VERILATOR_ROOT")


def _run(cmd: list[str], cwd: Path, what: str, timeout_s: float) -> None:
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        raise TriggerHGQError(f"{what} in {cwd}: timed out after {timeout_s:.0f} s") from err
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise TriggerHGQError(f"{what} in {cwd} failed (exit {r.returncode}):\n{tail}")


def build_simulator(prj: str | os.PathLike, top: str, jobs: int = 2, timeout_s: float = 1800) -> Path:
    """Verilate ``<top>_wrapper`` and link the binder into ``sim/lib<top>_sim.so``; returns its path."""
    prj = Path(prj)
    sim = prj / "sim"
    root = verilator_root()
    wrapper = f"{top}_wrapper"
    obj = sim / "obj_dir"
    shutil.rmtree(obj, ignore_errors=True)
    _run(["verilator", "--cc", "--build", "-j", str(jobs), "-Wno-fatal", "--Mdir", "obj_dir", "--prefix", f"V{wrapper}",
          "-CFLAGS", " ".join(_CXXFLAGS), "-MAKEFLAGS", _MAKEFLAGS, "-I../src", "-I../src/static",
          f"../src/{wrapper}.v"], sim, "verilator", timeout_s)
    lib = sim / f"lib{top}_sim.so"
    inc = root / "include"
    runtime = [str(inc / "verilated.cpp"), str(inc / "verilated_threads.cpp")]
    with atomic_path(lib) as tmp:
        _run(["g++", *_CXXFLAGS, "-shared", "-pthread", "-Wl,--no-undefined", "-Iobj_dir", f"-I{inc}",
              f"-I{inc / 'vltstd'}", "-o", tmp.name, f"{wrapper}_binder.cc", *runtime,
              f"obj_dir/V{wrapper}__ALL.a"], sim, "g++ (simulation library)", timeout_s)
    shutil.rmtree(obj, ignore_errors=True)
    return lib


def port_format(qints) -> tuple[int, int, int]:
    """``(k, i, f)`` of the int32 fields on one side: the largest sign, integer and fractional bits."""
    minimal_kif = da4ml("da4ml.cmvm.types")._minimal_kif

    kif = np.array([tuple(minimal_kif(q)) for q in qints], dtype=np.int64).reshape(-1, 3)
    return int(kif[:, 0].max()), int(kif[:, 1].max()), int(kif[:, 2].max())


def check_port_widths(pipeline) -> None:
    for side, qints in (("input", pipeline.inp_qint), ("output", pipeline.out_qint)):
        k, i, f = port_format(qints)
        if k + i + f > 32:
            raise TriggerHGQError(
                f"RTL {side} fields need {k + i + f} bits once aligned (sign {k}, integer {i}, fractional {f}); "
                "the simulation harness carries at most 32: narrow the model's input/output quantizers"
            )


def simulate(lib_path: str | os.PathLike, pipeline, x_fixed: np.ndarray) -> np.ndarray:
    """Run the compiled simulation on ``x_fixed`` (rows of RTL input values, already on their fixed-point grids);
    returns the RTL outputs as float64 rows."""
    check_port_widths(pipeline)
    n_in, n_out = pipeline.shape
    x_fixed = np.asarray(x_fixed, np.float64).reshape(len(x_fixed), -1)
    if x_fixed.shape[1] != n_in:
        raise TriggerHGQError(f"simulation: {x_fixed.shape[1]} input values per row, the RTL takes {n_in}")
    _, _, f_in = port_format(pipeline.inp_qint)
    scaled = x_fixed * 2.0**f_in
    if not np.array_equal(scaled, np.floor(scaled)):
        raise TriggerHGQError("simulation: inputs are not on the RTL input grid (pass the input quantizer's outputs)")
    inp = np.ascontiguousarray(scaled.astype(np.int64).astype(np.int32).ravel())
    out = np.zeros(len(x_fixed) * n_out, dtype=np.int32)
    lib = ctypes.CDLL(str(Path(lib_path).resolve()))
    i32p = ctypes.POINTER(ctypes.c_int32)
    lib.inference.argtypes = [i32p, i32p, ctypes.c_size_t, ctypes.c_size_t]
    lib.inference.restype = None
    lib.inference(inp.ctypes.data_as(i32p), out.ctypes.data_as(i32p), len(x_fixed), 1)
    k, i, f = port_format(pipeline.out_qint)
    width, offset = 2.0 ** (k + i + f), k * 2.0 ** (i + f)  # sign-extend the (k + i + f)-bit fields
    return ((out.reshape(len(x_fixed), n_out).astype(np.float64) + offset) % width - offset) * 2.0**-f
