"""Compare the search runs of a sweep or an experiment: Pareto fronts of accuracy against latency and
arena per method, budget adherence, and predicted against measured costs, one figure per board.

    python -m micronas.report EXPERIMENT_NAME_OR_PARENT_RUN_ID [--out DIR] [--tracking-uri URI]
"""

import argparse
from pathlib import Path

from micronas.console import configure_console
from micronas.errors import exit_on_user_error
from micronas.report.build import format_report, write_report
from micronas.tracking.store import tracking_client


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m micronas.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="an MLflow experiment name (e.g. micronas-basicmotions) or a sweep's "
                                       "parent run id")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: report/TARGET)")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db",
                        help="MLflow store (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the libraries' own output too")
    args = parser.parse_args(argv)
    configure_console(args.verbose)
    out = args.out or Path("report") / args.target
    report = write_report(tracking_client(args.tracking_uri, "--tracking-uri"), args.target, out)
    print(format_report(report))
    logged = f"; logged to parent run {report.parent_run_id}" if report.parent_run_id else ""
    print(f"{len(report.points)} search runs; {len(report.files)} files in {out}{logged}")


if __name__ == "__main__":
    main()
