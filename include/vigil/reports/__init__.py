"""HTML reports from the results store: one per run, a weekly trend, a monthly review.

Each report is one self-contained file (inline CSS, inline SVG charts, no script, nothing
loaded from the network), rendered by Jinja2 with autoescaping on.
"""

from vigil.reports.data import ReportError, find_runs
from vigil.reports.review import render_review_report, review_report_path, write_review_report
from vigil.reports.run_report import render_run_report, run_report_path, write_run_report
from vigil.reports.trend import render_trend_report, trend_report_path, write_trend_report

__all__ = [
    "ReportError",
    "find_runs",
    "render_review_report",
    "render_run_report",
    "render_trend_report",
    "review_report_path",
    "run_report_path",
    "trend_report_path",
    "write_review_report",
    "write_run_report",
    "write_trend_report",
]
