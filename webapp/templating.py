"""Filters and globals shared by every template."""

from .vocab import ANALYSIS_LEVELS, MAP_TYPES, analysis_level_label, map_type_label


def human_size(size):
    """A byte count as people read it (1.2 MB)."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def human_time(moment):
    """A timestamp in UTC, to the minute."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def number(value, digits=4):
    """A statistic for a table: None as a dash, floats to a few significant digits."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def init_templating(app):
    app.jinja_env.filters["human_size"] = human_size
    app.jinja_env.filters["human_time"] = human_time
    app.jinja_env.filters["number"] = number
    app.jinja_env.globals.update(
        MAP_TYPES=MAP_TYPES,
        ANALYSIS_LEVELS=ANALYSIS_LEVELS,
        map_type_label=map_type_label,
        analysis_level_label=analysis_level_label,
    )
