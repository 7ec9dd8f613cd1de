"""NeuroVault's vocabularies: the codes clients send and the display strings they read back."""

MAP_TYPES = {
    "T": "T map",
    "Z": "Z map",
    "F": "F map",
    "X2": "Chi squared map",
    "P": "P map (given null hypothesis)",
    "IP": '1-P map ("inverted" probability)',
    "M": "multivariate-beta map",
    "U": "univariate-beta map",
    "R": "ROI/mask",
    "Pa": "parcellation",
    "A": "anatomical",
    "V": "variance",
    "Other": "other",
}

ANALYSIS_LEVELS = {
    "S": "single-subject",
    "G": "group",
    "M": "meta-analysis",
    "Other": "other",
}

MODALITIES = (
    "fMRI-BOLD",
    "fMRI-CBF",
    "fMRI-CBV",
    "Diffusion MRI",
    "Structural MRI",
    "PET FDG",
    "PET [15O]-water",
    "PET other",
    "MEG",
    "EEG",
    "Other",
)

TEMPLATES = ("GenericMNI", "MNI152NLin2009cAsym", "MNI152Lin", "Colin27", "fsaverage", "other")


def code_for(vocabulary, value):
    """The code for a value given either as a code or as its display string (case-insensitive), or None."""
    if value is None:
        return None
    text = str(value).strip()
    for code, label in vocabulary.items():
        if text.lower() in (code.lower(), label.lower()):
            return code
    return None


def map_type_label(code):
    return MAP_TYPES.get(code, MAP_TYPES["Other"])


def analysis_level_label(code):
    return ANALYSIS_LEVELS.get(code) if code else None
