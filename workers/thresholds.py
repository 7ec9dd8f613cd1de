"""The threshold a map is shown and clustered at: one rule per map type, stated in words on the page.

The slices, the glass brain and the cluster table all use ``choose`` so a
reader sees the same voxels everywhere. The rules:

* Z maps: |z| >= 3.1 (p < 0.001 one-sided, the common cluster-forming level).
* T, F and chi-squared maps with known degrees of freedom: the value with the
  same tail probability as z = 3.1. Without them: the percentile rule.
* P maps: p <= 0.001; "1 - P" maps: 1 - p >= 0.999.
* Maps that are already thresholded (NeuroVault's ``is_thresholded``): their
  non-zero voxels.
* ROI masks, parcellations and anatomical images: no threshold (drawn as
  outlines or label colours, never clustered).
* Anything else (beta, variance, "other", and statistics without degrees of
  freedom): the 95th percentile of |values| over finite, non-zero voxels.

Signed maps (any negative value, for types that can be signed) are two-tailed:
|value| >= threshold, the negative tail shown in cool colours.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

Z_LEVEL = 3.1
P_LEVEL = 0.001
PERCENTILE = 95.0
NO_THRESHOLD_TYPES = frozenset({"R", "Pa", "A"})
ONE_SIDED_TYPES = frozenset({"F", "X2", "V", "P", "IP"})


@dataclass(frozen=True)
class Threshold:
    """Which voxels are suprathreshold, and how to say so.

    ``value`` is compared with |map| when ``two_sided``, with the map itself
    otherwise; ``below`` flips the comparison (P maps: small is significant).
    ``nonzero`` means "every non-zero voxel" (already thresholded maps).
    """

    value: float
    two_sided: bool
    rule: str
    below: bool = False
    nonzero: bool = False

    def mask(self, volume: np.ndarray) -> np.ndarray:
        """Boolean array of the suprathreshold voxels (NaN never counts)."""
        volume = np.asarray(volume)
        with np.errstate(invalid="ignore"):
            if self.nonzero:
                return np.isfinite(volume) & (volume != 0)
            if self.below:
                return (volume <= self.value) & (volume > 0)
            magnitude = np.abs(volume) if self.two_sided else volume
            return magnitude >= self.value


def from_stats(stored: dict | None) -> Threshold | None:
    """The threshold kept in an image's statistics (``stats["threshold"]``), or None when there is none."""
    if not isinstance(stored, dict) or stored.get("value") is None:
        return None
    return Threshold(float(stored["value"]), bool(stored.get("two_sided")), str(stored.get("rule") or ""),
                     below=bool(stored.get("below")), nonzero=bool(stored.get("nonzero")))


def choose(map_type: str | None, values: np.ndarray, *, is_thresholded: bool = False,
           dof: float | tuple[float, float] | None = None) -> Threshold | None:
    """The threshold for a map of this type, or None for masks, parcellations and anatomy.

    ``values`` are the map's finite, non-zero voxels (any shape); ``dof`` the
    degrees of freedom when known (a pair for F maps).
    """
    map_type = map_type or "Other"
    if map_type in NO_THRESHOLD_TYPES:
        return None
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values) & (values != 0)]
    two_sided = map_type not in ONE_SIDED_TYPES and bool(values.size) and bool((values < 0).any())
    if is_thresholded:
        return Threshold(0.0, two_sided, "every non-zero voxel (the map is already thresholded)", nonzero=True)
    if map_type == "Z":
        return Threshold(Z_LEVEL, two_sided, f"{_abs('z', two_sided)} ≥ {Z_LEVEL}")
    if map_type == "P":
        return Threshold(P_LEVEL, False, f"p ≤ {P_LEVEL}", below=True)
    if map_type == "IP":
        return Threshold(1 - P_LEVEL, False, f"1 − p ≥ {1 - P_LEVEL}")
    level = _equivalent_of_z(map_type, dof)
    if level is not None:
        name = {"T": "t", "F": "F", "X2": "χ²"}[map_type]
        return Threshold(level, two_sided, f"{_abs(name, two_sided)} ≥ {level:.3g} (z {Z_LEVEL} with "
                                           f"{_dof_text(dof)} degrees of freedom)")
    return _percentile(values, two_sided)


def _abs(name: str, two_sided: bool) -> str:
    return f"|{name}|" if two_sided else name


def _dof_text(dof) -> str:
    if isinstance(dof, (tuple, list)):
        return ", ".join(f"{d:g}" for d in dof)
    return f"{dof:g}"


def _equivalent_of_z(map_type: str, dof) -> float | None:
    """The T/F/chi-squared value with the same upper-tail probability as z = 3.1, when dof make sense.

    scipy.stats is imported only then: its import takes a second or more, once per worker process.
    """
    if map_type not in ("T", "X2", "F") or dof is None:
        return None
    from scipy import stats as distributions

    p = float(distributions.norm.sf(Z_LEVEL))
    try:
        if map_type == "T" and _positive(dof):
            return float(distributions.t.isf(p, float(dof)))
        if map_type == "X2" and _positive(dof):
            return float(distributions.chi2.isf(p, float(dof)))
        if map_type == "F" and isinstance(dof, (tuple, list)) and len(dof) == 2 and all(map(_positive, dof)):
            return float(distributions.f.isf(p, float(dof[0]), float(dof[1])))
    except (TypeError, ValueError):
        return None
    return None


def _positive(number) -> bool:
    try:
        return math.isfinite(float(number)) and float(number) > 0
    except (TypeError, ValueError):
        return False


def _percentile(values: np.ndarray, two_sided: bool) -> Threshold | None:
    if not values.size:
        return Threshold(np.inf, two_sided, "no non-zero voxel to threshold")
    level = float(np.percentile(np.abs(values) if two_sided else values, PERCENTILE))
    return Threshold(level, two_sided, f"{_abs('value', two_sided)} ≥ {level:.3g} "
                                       f"(the {PERCENTILE:g}th percentile of the map's non-zero values)")


NIFTI_INTENT_TTEST, NIFTI_INTENT_FTEST, NIFTI_INTENT_CHISQ = 3, 4, 6
SPM_DESCRIP = re.compile(r"SPM\{([TF])_\[([0-9.]+)(?:,\s*([0-9.]+))?\]\}")


def dof_from_header(intent_code: int, intent_params, descrip: str = "") -> float | tuple[float, float] | None:
    """Degrees of freedom written in the file: the NIfTI intent (t, F, chi-squared) or SPM's ``SPM{T_[20.0]}``.

    SPM writes its statistic maps with intent 0 and the degrees of freedom in
    ``descrip``; FSL and nibabel users set the intent. None when neither says.
    """
    params = [float(p) for p in intent_params]
    if intent_code in (NIFTI_INTENT_TTEST, NIFTI_INTENT_CHISQ) and _positive(params[0]):
        return params[0]
    if intent_code == NIFTI_INTENT_FTEST and _positive(params[0]) and _positive(params[1]):
        return (params[0], params[1])
    found = SPM_DESCRIP.search(descrip or "")
    if found is None:
        return None
    numbers = [float(g) for g in found.groups()[1:] if g]
    if not all(map(_positive, numbers)):
        return None
    return numbers[0] if len(numbers) == 1 else (numbers[0], numbers[1])


def dof_from_report(report: dict) -> float | tuple[float, float] | None:
    """``dof_from_header`` on a validation report (``workers.nifti.Report.to_dict()``)."""
    return dof_from_header(int(report.get("intent_code") or 0), report.get("intent_params") or [0.0, 0.0, 0.0],
                           report.get("descrip") or "")


#: NeuroVault's map type for each NIfTI intent that names one (nifti1.h): t, F, z, chi-squared, p, labels.
INTENT_MAP_TYPES = {3: ("T", "t-test"), 4: ("F", "F-test"), 5: ("Z", "z-score"), 6: ("X2", "chi-squared"),
                    22: ("P", "p-value"), 1002: ("Pa", "labels")}


def map_type_from_header(report: dict) -> tuple[str, str] | None:
    """(map type, why) when the file says what statistic it holds: its NIfTI intent, or SPM's ``SPM{T_[..]}``.

    A map uploaded as "Other" takes this type before any guess from its values: the header is the
    analysis package's own word (FSL writes ``zstat`` maps with the z-score intent, SPM its ``spmT``
    maps with the statistic in ``descrip``).
    """
    code = int(report.get("intent_code") or 0)
    if code in INTENT_MAP_TYPES:
        map_type, name = INTENT_MAP_TYPES[code]
        return map_type, f"the file's NIfTI intent ({name})"
    found = SPM_DESCRIP.search(report.get("descrip") or "")
    if found is not None:
        return found.group(1), f"the file's description ({found.group(0)})"
    return None
