"""The fleet statistics as one self-contained HTML page: tiles, charts (inline SVG) and the silent sites.

The page opens offline: no script, no stylesheet or font from anywhere else; every chart is an SVG
drawn by matplotlib (`Figure` objects, no pyplot global state) and written into the page. Text in the
SVGs stays text (`svg.fonttype = none`), so it renders in the page's font and can be searched. Each
chart sits in a `<figure class="chart" data-chart="NAME">`; the series colours are fixed per state so
the same state has the same colour in every chart (and the report's test can find the drawn data).
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Sequence

from matplotlib import rc_context
from matplotlib.figure import Figure

from dashboards.stats.compute import BAD_STATES, DurationStats, FleetStats, Group, SiteRow
from parsers.schema import format_utc_millis

STATE_COLOURS: dict[str, str] = {
    "failed_unreported": "#d62728",
    "stalled": "#ff7f0e",
    "dark": "#6b4c9a",
    "succeeded": "#2ca02c",
    "in_progress": "#1f77b4",
}
RATE_COLOUR = "#c0392b"
ERROR_COLOUR = "#d62728"
DURATION_COLOUR = "#1f77b4"
# name -> title of every chart, in page order (the test checks each of them drew)
CHARTS: dict[str, str] = {
    "failures-over-time": "Failed installs over time, by state",
    "failure-rate": "Failure rate by period",
    "top-error-codes": "Top error codes of failed installs",
    "time-to-detect": "Time from failure to detection",
    "time-to-failure": "Time from start to failure",
}
_WIDTH_IN = 7.2
_MAX_TICK_LABELS = 12
_HINT_CHARS = 48
_SVG_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)


# --------------------------------------------------------------------------- formatting


def format_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def format_duration_s(seconds: float | None) -> str:
    """`42s`, `17m`, `3.5h`, `2.1d`: a duration as a person reads it."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _short(text: str | None, limit: int) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- charts


def _svg(figure: Figure, name: str) -> str:
    """The figure as an inline `<svg>` element (no XML prologue; ids salted per chart so none clash)."""
    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": f"bootwatch-{name}"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return _SVG_PROLOGUE.sub("", buffer.getvalue(), count=1)


def _figure(height_in: float) -> tuple[Figure, object]:
    figure = Figure(figsize=(_WIDTH_IN, height_in), dpi=96)
    axes = figure.subplots()
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    return figure, axes


def _period_ticks(axes: object, periods: Sequence[Group]) -> None:
    step = max(1, -(-len(periods) // _MAX_TICK_LABELS))
    positions = list(range(0, len(periods), step))
    axes.set_xticks(
        positions, [periods[index].key[5:] if len(periods) > 7 else periods[index].key for index in positions]
    )
    axes.tick_params(axis="x", labelrotation=45 if len(positions) > 6 else 0, labelsize=8)
    axes.set_xlim(-0.6, len(periods) - 0.4)


def failures_over_time_chart(stats: FleetStats) -> str:
    figure, axes = _figure(3.0)
    positions = range(len(stats.timeline))
    bottom = [0] * len(stats.timeline)
    for state in BAD_STATES:
        heights = [getattr(period.counts, state) for period in stats.timeline]
        axes.bar(positions, heights, bottom=bottom, color=STATE_COLOURS[state], label=state, width=0.8)
        bottom = [below + height for below, height in zip(bottom, heights, strict=True)]
    _period_ticks(axes, stats.timeline)
    axes.set_ylabel("install attempts")
    axes.set_xlabel(f"attempt started ({stats.timeline_interval}, UTC)")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(frameon=False, fontsize=8, loc="upper left")
    return _svg(figure, "failures-over-time")


def failure_rate_chart(stats: FleetStats) -> str:
    figure, axes = _figure(2.6)
    # NaN where no attempt ended: the line breaks there instead of inventing a trend across the gap
    rates = [
        math.nan if period.counts.failure_rate is None else period.counts.failure_rate * 100
        for period in stats.timeline
    ]
    axes.plot(range(len(rates)), rates, color=RATE_COLOUR, marker="o", linewidth=1.8, markersize=4)
    if stats.totals.failure_rate is not None:
        overall = stats.totals.failure_rate * 100
        axes.axhline(overall, color="#888888", linestyle="--", linewidth=1)
        axes.annotate(
            f"whole window {overall:.1f}%",
            (1, overall),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=8,
            color="#555555",
        )
    _period_ticks(axes, stats.timeline)
    axes.set_ylim(0, 105)  # room above 100% so a full-failure marker is not cut in half
    axes.set_yticks(range(0, 101, 20))
    axes.set_ylabel("% of ended attempts")
    axes.set_xlabel(f"attempt started ({stats.timeline_interval}, UTC)")
    return _svg(figure, "failure-rate")


def top_error_codes_chart(stats: FleetStats) -> str:
    errors = list(reversed(stats.top_errors))  # barh draws bottom-up: most frequent on top
    figure, axes = _figure(0.9 + 0.3 * max(len(errors), 1))
    counts = [error.attempts for error in errors]
    axes.barh(range(len(errors)), counts, color=ERROR_COLOUR, height=0.7)
    axes.set_yticks(range(len(errors)), [error.code for error in errors], fontsize=9, family="monospace")
    axes.grid(axis="y", visible=False)
    axes.grid(axis="x", color="#dddddd", linewidth=0.6)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_xlabel("failed attempts (first error code)")
    for position, count in enumerate(counts):
        axes.annotate(
            str(count), (count, position), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8
        )
    return _svg(figure, "top-error-codes")


def _error_hints(stats: FleetStats) -> str:
    """The known cause of each charted code, under the chart (too long for axis labels)."""
    rows = "".join(
        f"<tr><td><code>{html.escape(error.code)}</code></td><td>{error.attempts}</td>"
        f"<td>{error.sites}</td><td>{html.escape(error.hint or '')}</td></tr>"
        for error in stats.top_errors
    )
    return (
        '<table class="hints"><thead><tr><th>code</th><th>attempts</th><th>sites</th><th>known cause</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def duration_chart(durations: DurationStats, name: str, what: str) -> str:
    figure, axes = _figure(2.6)
    counts = [duration_bin.count for duration_bin in durations.bins]
    axes.bar(range(len(counts)), counts, color=DURATION_COLOUR, width=0.8)
    axes.set_xticks(range(len(counts)), [duration_bin.label for duration_bin in durations.bins], fontsize=8)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_ylabel("failed attempts")
    axes.set_xlabel(
        f"{what}  (median {format_duration_s(durations.median_s)}, p90 {format_duration_s(durations.p90_s)})"
    )
    return _svg(figure, name)


# --------------------------------------------------------------------------- page


def _tile(label: str, value: str, colour: str | None = None) -> str:
    style = f' style="border-top-color:{colour}"' if colour else ""
    return (
        f'<div class="tile"{style}><div class="value">{html.escape(value)}</div>'
        f'<div class="label">{html.escape(label)}</div></div>'
    )


def _time(moment: object) -> str:
    return format_utc_millis(moment)[:16].replace("T", " ") if moment else ""  # type: ignore[arg-type]


def _site_table(rows: Sequence[SiteRow], *, with_bad: bool) -> str:
    if not rows:
        return '<p class="empty">None.</p>'
    head = [
        "site",
        "host",
        "state",
        *(["bad attempts"] if with_bad else []),
        "attempt #",
        "started",
        "last record",
        "error",
        "known cause / last record",
    ]
    lines = ["<table><thead><tr>", *(f"<th>{column}</th>" for column in head), "</tr></thead><tbody>"]
    for row in rows:
        cause = row.hint or _short(row.last_message, 120)
        cells: list[str | tuple[str, str]] = [
            html.escape(row.site),
            (html.escape(row.host or ""), "nowrap"),
            f'<span class="state" style="background:{STATE_COLOURS[row.state]}">{row.state}</span>',
            *([str(row.bad_attempts)] if with_bad else []),
            str(row.attempts),
            (_time(row.started_at), "time"),
            (_time(row.last_event_at), "time"),
            (html.escape(row.error_code or ""), "nowrap"),
            html.escape(cause),
        ]
        lines.append("<tr>" + "".join(_cell(cell) for cell in cells) + "</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def _cell(cell: str | tuple[str, str]) -> str:
    """A table cell; a (text, class) pair gets the class."""
    if isinstance(cell, tuple):
        text, css_class = cell
        return f'<td class="{css_class}">{text}</td>'
    return f"<td>{cell}</td>"


def _figure_block(name: str, svg: str, note: str = "") -> str:
    caption = html.escape(CHARTS[name]) + (f' <span class="note">{html.escape(note)}</span>' if note else "")
    return f'<figure class="chart" data-chart="{name}"><figcaption>{caption}</figcaption>{svg}</figure>'


_CSS = """
body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;
 background:#fff;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;font-size:13px;margin-bottom:16px}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.tile{flex:1 1 0;border:1px solid #ddd;border-top:4px solid #999;border-radius:4px;padding:8px 12px;
 min-width:96px}
.tile .value{font-size:24px;font-weight:bold}.tile .label{font-size:12px;color:#555}
.charts{display:grid;align-items:start;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:18px}
figure.chart{margin:0;border:1px solid #e4e4e4;border-radius:4px;padding:10px}
figure.chart svg{width:100%;height:auto;display:block}
figcaption{font-weight:bold;font-size:14px;margin-bottom:6px}.note{font-weight:normal;color:#666;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top;overflow-wrap:anywhere}
th{background:#f5f5f5;white-space:nowrap}td.time,td.nowrap{white-space:nowrap}
table.hints{margin-top:8px;font-size:12px}table.hints td:first-child{white-space:nowrap}
.state{color:#fff;border-radius:3px;padding:1px 6px;white-space:nowrap}
.empty{color:#666}footer{margin-top:28px;color:#888;font-size:12px}
"""


def render_html(stats: FleetStats) -> str:
    """The whole report page for `stats`."""
    totals = stats.totals
    window = f"{_time(stats.window_start)} to {_time(stats.window_end)} UTC"
    tiles = "".join(
        (
            _tile("installs started", str(totals.started)),
            _tile("succeeded", str(totals.succeeded), STATE_COLOURS["succeeded"]),
            _tile("failed, unreported", str(totals.failed_unreported), STATE_COLOURS["failed_unreported"]),
            _tile("stalled", str(totals.stalled), STATE_COLOURS["stalled"]),
            _tile("gone dark", str(totals.dark), STATE_COLOURS["dark"]),
            _tile("in progress", str(totals.in_progress), STATE_COLOURS["in_progress"]),
            _tile("failure rate", format_rate(totals.failure_rate), RATE_COLOUR),
            _tile("sites silent now", str(len(stats.silent_sites)), STATE_COLOURS["failed_unreported"]),
        )
    )
    no_code = f"{stats.failed_without_code} failed without a code" if stats.failed_without_code else ""
    charts = "".join(
        (
            _figure_block("failures-over-time", failures_over_time_chart(stats)),
            _figure_block(
                "failure-rate", failure_rate_chart(stats), "failed + stalled + dark / ended attempts"
            ),
            _figure_block("top-error-codes", top_error_codes_chart(stats) + _error_hints(stats), no_code),
            _figure_block(
                "time-to-detect",
                duration_chart(stats.time_to_detect, "time-to-detect", "failure -> detection"),
                f"{stats.time_to_detect.count} failed attempts",
            ),
            _figure_block(
                "time-to-failure",
                duration_chart(stats.time_to_failure, "time-to-failure", "start -> failure"),
                f"{stats.time_to_failure.count} failed attempts",
            ),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bootwatch: install statistics {html.escape(window)}</title>
<style>{_CSS}</style></head>
<body>
<h1>bootwatch: secondary site installs</h1>
<div class="sub">Attempts started {html.escape(window)} across {stats.sites} sites,
as of {_time(stats.as_of)} UTC.
States: failed_unreported = the log shows a failure the parent never heard of; stalled = no record for longer
than the stall window while the shipper is alive; dark = the shipper stopped reporting mid-install.</div>
<div class="tiles">{tiles}</div>
<div class="charts">{charts}</div>
<h2>Sites silent now ({len(stats.silent_sites)})</h2>
{_site_table(stats.silent_sites, with_bad=False)}
<h2>Worst sites in the window</h2>
{_site_table(stats.worst_sites, with_bad=True)}
<footer>Generated by bootwatch stats. Counts are install attempts by the time they started; the same figures
as the Kibana dashboard's charts.</footer>
</body></html>
"""
