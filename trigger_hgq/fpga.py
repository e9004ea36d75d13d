"""FPGA conventions shared by export, selection and the report (one home each): the default part, the DSP cost
in LUTs, the resources of common trigger parts and the trigger budget."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from trigger_hgq.schema import Enum, Float, Nullable, Obj, Str, fail, validate

DEFAULT_PART = "xcvu13p-flga2577-2-e"
"""The FPGA part of exports, RTL projects and budgets when none is given (a Virtex UltraScale+ VU13P)."""

DSP_LUT_EQUIV = 55
"""LUT-equivalent of one DSP48 (the convention of the HGQ paper: EBOPs ~ LUT + 55 * DSP)."""

PART_RESOURCES: dict[str, dict[str, int]] = {
    "xcvu13p": {"lut": 1_728_000, "dsp": 12_288},
    "xcvu9p": {"lut": 1_182_240, "dsp": 6_840},
    "xcvu7p": {"lut": 788_160, "dsp": 4_560},
    "xcku115": {"lut": 663_360, "dsp": 5_520},
    "xcvu19p": {"lut": 4_085_760, "dsp": 3_840},
}
"""Resources of common trigger FPGAs (Xilinx data sheets), by part family: LUTs and DSP slices."""

IMPLEMENTATIONS = ("hls", "rtl")
"""Whose figures selection uses: ``hls`` (the hls4ml route: estimate, or Vivado/Vitis reports) or ``rtl`` (the
open-source RTL route: yosys resources, da4ml pipeline latency, Verilator check)."""

_FRACTION = dict(positive=True, hi=1.0, hint=" (a fraction of the part)")
BUDGET_SPEC = Obj({
    "latency_ns": (Float(positive=True), False, "the latency budget in ns"),
    "clock_ns": (Float(positive=True), False, "the clock period in ns"),
    "part": (Str(), False, "the FPGA part"),
    "lut_fraction": (Nullable(Float(**_FRACTION)), False, "at most this fraction of the part's LUTs"),
    "dsp_fraction": (Nullable(Float(**_FRACTION)), False, "at most this fraction of the part's DSPs"),
    "implementation": (Enum(IMPLEMENTATIONS), False, "whose figures selection checks"),
}, strict=True)
"""The ``budget`` section of a pipeline config (and the fields of :class:`Budget`)."""


def check_budget(values: dict, source: str = "", path: str = "budget") -> dict:
    """``values`` (budget keys) checked against :data:`BUDGET_SPEC` and the part table; the normalised copy
    (without defaults filled in)."""
    out = validate(BUDGET_SPEC, values, source, path)
    out = {k: out[k] for k in values}
    part = values.get("part", DEFAULT_PART)
    if (out.get("lut_fraction") or out.get("dsp_fraction")) and part_resources(part) is None:
        raise fail(source, f"{path}.part", f"resources of {part!r} unknown (known: {', '.join(PART_RESOURCES)})")
    return out


def part_resources(part: str) -> dict[str, int] | None:
    """LUTs and DSPs of ``part`` (by its family, e.g. ``xcvu13p``); None when the part is not in the table."""
    return PART_RESOURCES.get(part.lower().split("-")[0])


@dataclass
class Budget:
    """The trigger budget: latency in ns at a clock period in ns, optional LUT/DSP fractions of the part, and the
    implementation route whose figures are checked against it."""

    latency_ns: float = 100.0
    clock_ns: float = 5.0
    part: str = DEFAULT_PART
    lut_fraction: float | None = None
    dsp_fraction: float | None = None
    implementation: str = "hls"

    def __post_init__(self):
        for key, value in check_budget(asdict(self)).items():
            setattr(self, key, value)

    @property
    def latency_cycles(self) -> int:
        """The largest latency in clock cycles that fits."""
        return int(self.latency_ns // self.clock_ns + 1e-9)

    def available(self) -> dict[str, int] | None:
        return part_resources(self.part)

    def to_report(self) -> dict:
        avail = self.available() or {}
        return {"latency_ns": self.latency_ns, "clock_ns": self.clock_ns, "part": self.part,
                "lut_fraction": self.lut_fraction, "dsp_fraction": self.dsp_fraction,
                "lut_available": avail.get("lut"), "dsp_available": avail.get("dsp"),
                "implementation": self.implementation}


def lut_equiv(model: dict) -> float | None:
    """LUT + :data:`DSP_LUT_EQUIV` x DSP of a model's figures (``lut``, ``dsp``); ``None`` without a LUT count."""
    if model.get("lut") is None:
        return None
    return float(model["lut"]) + DSP_LUT_EQUIV * float(model.get("dsp") or 0)
