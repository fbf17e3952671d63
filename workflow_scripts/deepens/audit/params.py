"""Comparing two provenance records: the params a job ran with (config slice vs code digest) and the
facts that explain a difference without being one (packages, device)."""
from __future__ import annotations

import json

from .compare import first_json_difference


def compare_params(original: dict | None, rederived: dict | None):
    """Compare the job's params (its config slice) recorded in two provenance records.

    Returns (None, None) when they agree, ("config", detail) when a config-derived param
    differs (the audit ran with another config than the artifact was made with), or
    ("code", detail) when only the `code` param (hash of the library modules) differs.
    """
    if not original or not rederived:
        return None, None
    pa_ = dict((original.get("config") or {}).get("params") or {})
    pb = dict((rederived.get("config") or {}).get("params") or {})
    code_a, code_b = pa_.pop("code", None), pb.pop("code", None)
    found = first_json_difference(pa_, pb, "params")
    if found:
        return "config", found
    wild = first_json_difference((original.get("config") or {}).get("wildcards"),
                                 (rederived.get("config") or {}).get("wildcards"), "wildcards")
    if wild:
        return "config", wild
    if code_a != code_b:
        return "code", f"params.code: {code_a!r} vs {code_b!r} (library modules edited since)"
    return None, None


def provenance_notes(original: dict | None, rederived: dict | None) -> list[str]:
    """Informational differences between two provenance records: packages, device."""
    notes = []
    if not original or not rederived:
        return notes
    pkg_a, pkg_b = original.get("packages") or {}, rederived.get("packages") or {}
    changed = [f"{k} {pkg_a.get(k)} vs {pkg_b.get(k)}" for k in sorted(set(pkg_a) | set(pkg_b))
               if pkg_a.get(k) != pkg_b.get(k)]
    if changed:
        notes.append("packages differ: " + ", ".join(changed))
    dev_a, dev_b = original.get("device"), rederived.get("device")
    if dev_a != dev_b:
        notes.append(f"device {json.dumps(dev_a, sort_keys=True)} vs {json.dumps(dev_b, sort_keys=True)}")
    return notes
