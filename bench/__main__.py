"""``python -m bench [figure ...]``: run the figures (all by default) and print one table."""

import argparse
import importlib
import json
import sys
import traceback

from bench.common import Row, table

FIGURES = {
    "processing": "bench.processing",
    "latency": "bench.latency",
    "scaling": "bench.scaling",
    "pages": "bench.pages",
    "uploads": "bench.uploads",
    "series": "bench.series",
    "similar": "bench.similar",
    "archives": "bench.archives",
}


def run_figure(name: str) -> list[Row]:
    """A figure's rows; a figure that breaks becomes one row saying so, and the others still run."""
    try:
        return importlib.import_module(FIGURES[name]).run()
    except Exception as exc:  # noqa: BLE001 - one broken figure must not hide the others
        traceback.print_exc(file=sys.stderr)
        return [Row(name, "failed", None, note=f"{type(exc).__name__}: {str(exc)[:200]}")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("figures", nargs="*", choices=[[], *FIGURES], default=[], metavar="figure",
                        help=f"any of {', '.join(FIGURES)} (default: all)")
    parser.add_argument("--json", help="also write the rows to this file as JSON")
    args = parser.parse_args(argv)
    rows = []
    for name in args.figures or list(FIGURES):
        figure_rows = run_figure(name)
        print(table(figure_rows) + "\n", file=sys.stderr, flush=True)
        rows += figure_rows
    print(table(rows))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump([row.to_dict() for row in rows], handle, indent=1)
    return 0 if all(row.what != "failed" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
