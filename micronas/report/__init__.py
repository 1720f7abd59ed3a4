"""Sweep analysis from MLflow: Pareto fronts per search method, constraint adherence, predictor error.

    python -m micronas.report EXPERIMENT_NAME_OR_PARENT_RUN_ID [--out DIR] [--tracking-uri URI]
"""

from micronas.report.build import Report, write_report
from micronas.report.runs import SearchPoint, collect_points

__all__ = ["Report", "SearchPoint", "collect_points", "write_report"]
