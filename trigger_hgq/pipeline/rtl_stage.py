"""Which exported candidates also take the open-source RTL route (config ``export.rtl``), and merging its results.

``export.rtl`` is either a count (that many HGQ points spread over the front; 0: off) or a mapping::

    rtl:
      hgq: 1                       # HGQ points spread in log(EBOPs) over the exported front
      baselines: [jet_tagger_6bit] # QKeras / AutoQKeras candidates (exact conversion); "all": every one
      matched: true                # also the HGQ point matched to each of those baselines (same as the report's
                                   # comparison: the cheapest HGQ point within its accuracy)
      hls_da: true                 # also hls4ml's distributed_arithmetic flavour of each (C-sim checked)

The RTL route needs yosys and Verilator; a baseline with thousands of multiplications (uniform 6-bit weights)
synthesizes in minutes where an HGQ point takes seconds, so the default profile lists one baseline and ``full``
takes them all.
"""

from __future__ import annotations

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.pipeline.select import compare
from trigger_hgq.training import thin_front

RTL_KEYS = {"hgq", "baselines", "matched", "hls_da"}


def rtl_settings(value) -> dict:
    """``export.rtl`` as ``{"hgq": int, "baselines": list[str] | "all", "matched": bool, "hls_da": bool}``."""
    if value is None or value is False:
        return {"hgq": 0, "baselines": [], "matched": False, "hls_da": False}
    if isinstance(value, bool) or isinstance(value, int):
        if value < 0:
            raise TriggerHGQError(f"config key 'export.rtl': expected a count >= 0 or a mapping, got {value!r}")
        return {"hgq": int(value), "baselines": [], "matched": False, "hls_da": False}
    if not isinstance(value, dict):
        raise TriggerHGQError(f"config key 'export.rtl': expected a count or a mapping, got {value!r}")
    unknown = set(value) - RTL_KEYS
    if unknown:
        raise TriggerHGQError(f"config key 'export.rtl.{sorted(unknown)[0]}': unknown (expected {sorted(RTL_KEYS)})")
    hgq = value.get("hgq", 0)
    if isinstance(hgq, bool) or not isinstance(hgq, int) or hgq < 0:
        raise TriggerHGQError(f"config key 'export.rtl.hgq': expected a count >= 0, got {hgq!r}")
    baselines = value.get("baselines") or []
    if baselines != "all" and not (isinstance(baselines, list) and all(isinstance(b, str) for b in baselines)):
        raise TriggerHGQError(f"config key 'export.rtl.baselines': expected a list of names or 'all', got "
                              f"{baselines!r}")
    return {"hgq": hgq, "baselines": baselines, "matched": bool(value.get("matched", True)),
            "hls_da": bool(value.get("hls_da", False))}


def rtl_candidates(settings: dict, models: list[dict]) -> list[str]:
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
            raise TriggerHGQError(f"config key 'export.rtl.baselines': {missing[0]!r} is not an exported candidate "
                                  f"(have: {sorted(by_name)})")
        baselines = list(settings["baselines"])
    wanted.update(baselines)
    if settings["matched"] and baselines:
        comparison = compare(models) or {"baselines": []}
        wanted.update(row["hgq_model"] for row in comparison["baselines"]
                      if row["baseline"] in baselines and row.get("hgq_model"))
    return [m["name"] for m in models if m["name"] in wanted]


def merge_rtl(models: list[dict], results: list[dict]) -> list[dict]:
    """The exported model entries with the RTL route's ``yosys``, ``rtl`` (and ``hls_da``) fields (copies)."""
    by_name = {r["name"]: r for r in results}
    return [{**m, **{k: v for k, v in by_name[m["name"]].items() if k != "name"}} if m["name"] in by_name
            else dict(m) for m in models]
