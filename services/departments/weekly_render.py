"""The weekly report as the district leadership reads it: Chinese HTML with tables and charts (matplotlib, with a
CJK font set explicitly — without one every character is an empty box), and a one-page PDF/PNG summary."""

from __future__ import annotations

import base64
import io
import math
import os
import threading
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
from matplotlib import font_manager
from matplotlib.figure import Figure

from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from services.departments.rates import RateCounts
from services.departments.weekly import WeeklyReport

CJK_FONTS = (  # installed by deploy/local/install-deps.sh (fonts-noto-cjk)
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
)
CJK_FAMILY = "Noto Sans CJK SC"
RATES = (("response_rate", "响应率"), ("resolution_rate", "解决率"), ("satisfaction_rate", "满意率"))
COLOURS = ("#1f5fa8", "#2e8b57", "#d08a1e")
_PYPLOT = threading.Lock()  # pyplot's figures and rcParams are process-wide: one rendering at a time


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("services.departments", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("weekly.html")


class MissingCjkFont(RuntimeError):
    pass


def use_cjk_font() -> None:
    """Register the Noto CJK font with matplotlib and make it the family; refuse to draw boxes without it."""
    found = [path for path in CJK_FONTS if path.exists()]
    if not found:
        raise MissingCjkFont(f"no CJK font at {CJK_FONTS[0]}: run deploy/local/install-deps.sh (fonts-noto-cjk)")
    for path in found:
        font_manager.fontManager.addfont(str(path))
    plt.rcParams["font.family"] = CJK_FAMILY
    plt.rcParams["axes.unicode_minus"] = False


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def department_name(code: str) -> str:
    return DEPARTMENT_NAMES_ZH.get(code, code)


@dataclass(frozen=True)
class Rendered:
    html: str
    summary_png: bytes
    summary_pdf: bytes


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _rate_values(row: RateCounts) -> list[float]:
    return [(getattr(row, attr) or 0.0) * 100 for attr, _ in RATES]


def department_bars(report: WeeklyReport, axes: plt.Axes) -> None:
    rows = [*report.departments, report.district]
    labels = [department_name(r.group) for r in rows]
    width = 0.26
    for i, (attr, name) in enumerate(RATES):
        values = [(getattr(r, attr) or 0.0) * 100 for r in rows]
        bars = axes.bar([x + (i - 1) * width for x in range(len(rows))], values, width, label=name, color=COLOURS[i])
        for bar, row in zip(bars, rows, strict=True):
            axes.annotate(
                percent(getattr(row, attr)),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    axes.set_xticks(range(len(rows)), labels)
    axes.set_ylim(0, 125)  # room above the 100 % labels for the legend, which covered a bar in the lower right
    axes.set_yticks(range(0, 101, 20))
    axes.set_ylabel("%")
    axes.set_title(f"{report.week} 各部门三率")
    axes.legend(loc="upper center", ncol=3, fontsize=8, frameon=False)


def trend_lines(report: WeeklyReport, axes: plt.Axes) -> None:
    weeks = [week for week, _, _ in report.trend]
    positions = range(len(weeks))  # numbers, not categories: a week without cases keeps its place on the axis
    for i, (attr, name) in enumerate(RATES):
        values = [getattr(district, attr) for _, district, _ in report.trend]
        axes.plot(
            positions, [math.nan if v is None else v * 100 for v in values], marker="o", label=name, color=COLOURS[i]
        )
    axes.set_xticks(positions, weeks)
    axes.set_xlim(-0.5, len(weeks) - 0.5)
    axes.set_ylim(0, 105)
    axes.set_ylabel("%")
    axes.set_title("全区三率：本周与前四周")
    axes.legend(loc="lower left", fontsize=8)
    axes.tick_params(axis="x", labelsize=8)


def summary_page(report: WeeklyReport) -> Figure:
    """The report's first page: headline numbers, the department bars and the five-week trend."""
    figure = plt.figure(figsize=(8.27, 11.69))  # A4 portrait
    figure.suptitle(
        f"金牛区网格化服务管理 三率考核周报\n{report.week}（{report.start:%Y年%m月%d日}—"
        f"{report.end - timedelta(days=1):%m月%d日}）",
        fontsize=15,
        y=0.975,
    )
    d = report.district
    headline = (
        f"全区：派发任务 {d.dispatched} 件，应响应 {d.response_due} 件，"
        f"按时响应 {d.signed_on_time} 件（{percent(d.response_rate)}）；"
        f"\n应办结 {d.due} 件，按时办结 {d.resolved_on_time} 件（{percent(d.resolution_rate)}；按原时限 "
        f"{percent(d.resolution_rate_original)}），重新办理 {d.reopened} 件，退单 {d.returned} 件；"
        f"\n评价 {d.rated} 件，满意及基本满意 {d.satisfied} 件（{percent(d.satisfaction_rate)}）。"
        f"\n逾期 {len(report.overdue)} 件，升级督办 {len(report.escalations)} 次，待仲裁 {len(report.arbitration)} 件。"
    )
    figure.text(0.06, 0.9, headline, fontsize=9.5, va="top", linespacing=1.7)
    bars = figure.add_axes((0.09, 0.47, 0.85, 0.3))
    department_bars(report, bars)
    trend = figure.add_axes((0.09, 0.07, 0.85, 0.3))
    trend_lines(report, trend)
    figure.text(
        0.06,
        0.02,
        f"数据截至 {report.now.astimezone(report.start.tzinfo):%Y-%m-%d %H:%M}；口径见 docs/departments.md「三率」规则",
        fontsize=7,
        color="#555555",
    )
    return figure


def render(report: WeeklyReport) -> Rendered:
    with _PYPLOT:
        return _render(report)


def _render(report: WeeklyReport) -> Rendered:
    use_cjk_font()
    page = summary_page(report)
    png = _png(page)
    pdf = io.BytesIO()
    page.savefig(pdf, format="pdf")
    plt.close(page)
    charts = {}
    for name, draw in (("departments", department_bars), ("trend", trend_lines)):
        figure, axes = plt.subplots(figsize=(7.5, 3.6))
        draw(report, axes)
        charts[name] = base64.b64encode(_png(figure)).decode()
        plt.close(figure)
    html = _template().render(
        report=report, charts=charts, percent=percent, department_name=department_name, rates=RATES
    )
    return Rendered(html=html, summary_png=png, summary_pdf=pdf.getvalue())


def write(report: WeeklyReport, rendered: Rendered, directory: Path) -> list[Path]:
    """reports/weekly-2026-W49.html, .pdf (the summary page) and .png; each replaced whole (written beside it, then
    renamed), so that a reader of the directory never sees half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"weekly-{report.week}"
    contents = {".html": rendered.html.encode(), ".pdf": rendered.summary_pdf, ".png": rendered.summary_png}
    paths = []
    for suffix, content in contents.items():
        path = stem.with_suffix(suffix)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(content)
        os.replace(partial, path)
        paths.append(path)
    return paths
