"""Which exported candidates also take the open-source RTL route (config ``export.rtl``), and merging its results.

``export.rtl`` is either a count (that many HGQ points spread over the front; 0: off) or a mapping::

    rtl:
      hgq: 1                       # HGQ points spread in log(EBOPs) over the exported front
      baselines: [jet_tagger_6bit] # QKeras / AutoQKeras candidates (exact conversion); "all": every one
      matched: true                # also the HGQ point matched to each of those baselines (same as the report's
                                   # comparison: the cheapest HGQ point within its accuracy)
      hls_da: true                 # also hls4ml's distributed_arithmetic flavour of each (C-sim checked)

The RTL route needs yosys and Verilator; a baseline with thousands of multiplications (uniform 6-bit weights)
synthesizes far slower than a sparse HGQ point, so the default profile lists one baseline and ``full`` takes
more. :data:`RTL_SPEC` declares the accepted values.
"""

from __future__ import annotations

from trigger_hgq.comparison import DEFAULT_TOLERANCE, matched_names
from trigger_hgq.pareto import thin_front
from trigger_hgq.schema import Bool, Enum, Field, Int, ListOf, Nullable, Obj, OneOf, Str, fail, validate

RTL_MAPPING = Obj({
    "hgq": Field(Int(lo=0), doc="HGQ points spread over the front", default=0),
    "baselines": Field(Nullable(OneOf((Enum(("all",)), ListOf(Str())), doc="a list of candidate names or 'all'")),
                       doc="QKeras / AutoQKeras candidates"),
    "matched": Field(Bool(), doc="also the HGQ point matched to each baseline", default=True),
    "hls_da": Field(Bool(), doc="also hls4ml's distributed_arithmetic flavour", default=False),
}, strict=True)
RTL_SPEC = OneOf((Nullable(Bool()), Int(lo=0), RTL_MAPPING), doc="a count >= 0 or a mapping")
"""The config's ``export.rtl``: off (null, false, 0), a count of HGQ points, or a mapping."""


def rtl_settings(value, source: str = "") -> dict:
    """``export.rtl`` as ``{"hgq": int, "baselines": list[str] | "all", "matched": bool, "hls_da": bool}``;
    problems name ``source`` and the key."""
    value = validate(RTL_SPEC, value, source, "export.rtl")
    if not isinstance(value, dict):
        return {"hgq": int(value or 0), "baselines": [], "matched": False, "hls_da": False}
    return {"hgq": value["hgq"], "baselines": value["baselines"] or [], "matched": value["matched"],
            "hls_da": value["hls_da"]}


def rtl_candidates(settings: dict, models: list[dict], tolerance: float = DEFAULT_TOLERANCE) -> list[str]:
    """Names of the exported ``models`` that take the RTL route, in ``models`` order."""
    by_name = {m["name"]: m for m in models}
    hgq = [m for m in models if m["method"] == "hgq"]
    quantized = [m for m in models if m["method"] in ("qkeras", "autoqkeras")]
    wanted = {m["name"] for m in thin_front(hgq, settings["hgq"])} if settings["hgq"] else set()
    if settings["baselines"] == "all":
        baselines = [m["name"] for m in quantized]
    else:
        missing = [b for b in settings["baselines"] if b not in by_name]
        if missing:
            raise fail("config", "export.rtl.baselines", f"{missing[0]!r} is not an exported candidate "
                                                          f"(have: {', '.join(sorted(by_name))})")
        baselines = list(settings["baselines"])
    wanted.update(baselines)
    if settings["matched"] and baselines:
        wanted.update(matched_names(models, baselines, tolerance))
    return [m["name"] for m in models if m["name"] in wanted]


def merge_rtl(models: list[dict], results: list[dict]) -> list[dict]:
    """The exported model entries with the RTL route's ``yosys``, ``rtl`` (and ``hls_da``) fields (copies)."""
    by_name = {r["name"]: r for r in results}
    return [{**m, **{k: v for k, v in by_name[m["name"]].items() if k != "name"}} if m["name"] in by_name
            else dict(m) for m in models]
