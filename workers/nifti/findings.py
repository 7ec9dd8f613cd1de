"""What a check finds and how a failure is told: findings, the report, the value checks, the limits."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from workers.plain import jsonable

GIB = 2**30
DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * GIB
DEFAULT_MAX_ARRAY_BYTES = 2 * GIB  # ``inspect_and_load``: the whole array; ``open_series``: one volume
DEFAULT_MAX_VOXELS = 2**31

INFO, WARNING, ERROR = "info", "warning", "error"


@dataclass
class Finding:
    """One observation about a file; ``message`` names the field and its value."""

    field: str
    value: Any
    level: str
    message: str

    def to_dict(self) -> dict:
        return {"field": self.field, "value": jsonable(self.value),
                "level": self.level, "message": self.message}


class InvalidNifti(ValueError):
    """The file can't be used; the message says which field, which value and why.

    ``findings`` carries the warnings gathered before the failure, so the
    validation report can be shown for failed files too. ``internal`` is True
    when the failure was an unexpected exception wrapped at the boundary
    rather than one of our checks.
    """

    def __init__(self, field: str, value: Any, message: str, *,
                 findings: list[Finding] | None = None, internal: bool = False):
        super().__init__(message)
        self.field = field
        self.value = value
        self.message = message
        self.findings = list(findings or [])
        self.internal = internal

    @classmethod
    def from_finding(cls, finding: Finding, findings: list[Finding]) -> InvalidNifti:
        return cls(finding.field, finding.value, finding.message, findings=findings)


@dataclass
class Report:
    """What the header says, plus the findings; plain data, stored as JSON."""

    format: str
    endianness: str
    compressed: bool
    shape: list[int]
    dim: list[int]
    zooms: list[float]
    datatype: str
    bitpix: int
    vox_offset: int
    sform_code: int
    qform_code: int
    affine_source: str
    affine: list[list[float]]
    units: dict
    scaling: dict | None
    intent_code: int
    intent_params: list[float]
    intent_name: str
    descrip: str
    file_bytes: int
    decompressed_bytes: int
    data_bytes: int
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["findings"] = [f.to_dict() for f in self.findings]
        return jsonable(out)


def findings_from_counts(n_voxels: int, n_nan: int, n_inf: int, n_values: int) -> list[Finding]:
    """``value_findings`` from counts gathered volume by volume (a series is never in memory whole)."""
    if n_voxels and n_nan == n_voxels:
        return [Finding("data", "all NaN", WARNING, "data=all NaN: every voxel is NaN; the map is empty")]
    findings = []
    if n_inf:
        findings.append(Finding("data", f"{n_inf} infinite", WARNING,
                                f"data={n_inf:,} infinite voxels: shown as the extremes, left out of statistics"))
    if n_voxels - n_nan - n_inf and not n_values:
        findings.append(Finding("data", "all zero", WARNING, "data=all zero: every finite voxel is 0"))
    return findings


def value_findings(data: np.ndarray) -> list[Finding]:
    """Warnings about the values themselves, which the header can't tell.

    Most maps hold no NaN or infinity: then their min and max (two fast
    reductions) are finite and answer everything; the voxel-by-voxel counts
    are made only for the others.
    """
    if data.size and data.dtype.kind == "f":
        low, high = data.min(), data.max()
        if np.isfinite(low) and np.isfinite(high):
            if low == 0 and high == 0:
                return [Finding("data", "all zero", WARNING, "data=all zero: every finite voxel is 0")]
            return []
    finite = np.isfinite(data)
    n_finite = int(np.count_nonzero(finite))
    if n_finite == 0:
        n_nan = int(np.count_nonzero(np.isnan(data)))
        if n_nan == data.size:
            return [Finding("data", "all NaN", WARNING, "data=all NaN: every voxel is NaN; the map is empty")]
    findings = []
    n_inf = int(np.count_nonzero(np.isinf(data))) if n_finite < data.size else 0
    if n_inf:
        findings.append(Finding("data", f"{n_inf} infinite", WARNING,
                                f"data={n_inf:,} infinite voxels: shown as the extremes, left out of statistics"))
    if n_finite and not np.any(data[finite]):
        findings.append(Finding("data", "all zero", WARNING, "data=all zero: every finite voxel is 0"))
    return findings


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def _preview(head: bytes) -> str:
    return repr(head[:16])


def _num(x: float) -> float | str:
    """A float for JSON: NaN and infinities as their names."""
    return x if math.isfinite(x) else str(x)


def _fmt_list(values) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in values) + "]"


def _fmt_matrix(rows) -> str:
    return "[" + ", ".join(_fmt_list(r) for r in rows) + "]"
