"""The HTML report: self-contained, and every chart really draws its data in headless Chromium.

Two renders of the same page at the same window size: `--dump-dom` of a copy with a probe script
that measures each chart's SVG and its data marks (paths in a series colour with a non-empty box)
after layout, and `--screenshot` of the page itself, where each chart's box must hold pixels of its
series colour. `.ci/test` installs Chromium (Debian's `chromium` package); without it these tests
fail with a message saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib.image import imread

from dashboards.stats.compute import StatsQuery, compute_stats
from dashboards.stats.report import (
    CHARTS,
    DURATION_COLOUR,
    ERROR_COLOUR,
    RATE_COLOUR,
    STATE_COLOURS,
    render_html,
)
from tests.dashboards.stats.support import ReplayedFleet

pytestmark = pytest.mark.integration

WINDOW = (1280, 4000)
CHROMIUM_TIMEOUT_S = 60
# chart -> the colours its data marks are drawn in
DATA_COLOURS: dict[str, tuple[str, ...]] = {
    "failures-over-time": (STATE_COLOURS["failed_unreported"], STATE_COLOURS["stalled"]),
    "failure-rate": (RATE_COLOUR,),
    "top-error-codes": (ERROR_COLOUR,),
    "time-to-detect": (DURATION_COLOUR,),
    "time-to-failure": (DURATION_COLOUR,),
}

PROBE_SCRIPT = """<script>
(function () {
  const wanted = %s;
  const result = {};
  for (const figure of document.querySelectorAll("figure.chart")) {
    const name = figure.dataset.chart;
    const svg = figure.querySelector("svg");
    const box = figure.getBoundingClientRect();
    const svgBox = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    let marks = 0;
    for (const path of figure.querySelectorAll("svg path, svg use")) {
      const style = getComputedStyle(path);
      const colours = [style.fill, style.stroke];
      const size = path.getBBox();
      const drawn = size.width > 0 && size.height > 0;
      if (drawn && colours.some((colour) => wanted[name].includes(colour))) marks++;
    }
    result[name] = {marks: marks, width: svgBox.width, height: svgBox.height,
      box: [box.left, box.top + window.scrollY, box.width, box.height]};
  }
  const out = document.createElement("pre");
  out.id = "render-probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
})();
</script>"""


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _css_rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*_rgb(colour))


def _chromium(*arguments: str, profile: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail(
            "chromium is not installed: run .ci/test as root (it installs it), or apt-get install chromium"
        )
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "--hide-scrollbars",
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT_S,
        check=True,
    )


@pytest.fixture(scope="module")
def report_html(replayed_fleet: ReplayedFleet) -> str:
    plan = replayed_fleet.plan
    return render_html(
        compute_stats(replayed_fleet.store, StatsQuery(start=plan.start, end=plan.end, as_of=plan.end))
    )


def test_report_is_self_contained(report_html: str) -> None:
    assert "<script" not in report_html
    # namespaces are names, not fetches: nothing may be loaded from anywhere
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!#)""", report_html)
    assert "@import" not in report_html
    assert not re.search(r"url\((?!#)", report_html), "only in-page references (clip paths) are allowed"
    assert report_html.count("<svg") == len(CHARTS)


def test_every_chart_draws_its_data_in_headless_chromium(report_html: str, tmp_path: Path) -> None:
    wanted = {name: [_css_rgb(colour) for colour in colours] for name, colours in DATA_COLOURS.items()}
    probed_page = tmp_path / "probed.html"
    probed_page.write_text(
        report_html.replace("</body>", PROBE_SCRIPT % json.dumps(wanted) + "</body>"), encoding="utf-8"
    )
    dom = _chromium("--dump-dom", probed_page.as_uri(), profile=tmp_path / "profile-dom").stdout
    probe = re.search(r'<pre id="render-probe">(.*?)</pre>', dom, re.DOTALL)
    assert probe is not None, "the probe script did not run"
    charts = json.loads(probe.group(1).replace("&quot;", '"'))
    assert set(charts) == set(CHARTS)
    for name, chart in charts.items():
        assert chart["width"] > 300 and chart["height"] > 100, name
        assert chart["marks"] >= 1, f"{name}: no data mark drawn"

    page = tmp_path / "report.html"
    page.write_text(report_html, encoding="utf-8")
    screenshot = tmp_path / "report.png"
    _chromium(f"--screenshot={screenshot}", page.as_uri(), profile=tmp_path / "profile-shot")
    pixels = (imread(screenshot)[:, :, :3] * 255).round().astype(int)
    for name, chart in charts.items():
        left, top, width, height = (round(value) for value in chart["box"])
        assert top + height <= pixels.shape[0], f"{name} is below the screenshot"
        region = pixels[top : top + height, left : left + width]
        coloured = 0
        for colour in DATA_COLOURS[name]:
            distance = abs(region - _rgb(colour)).sum(axis=2)
            coloured += int((distance < 30).sum())
        assert coloured > 100, f"{name}: only {coloured} pixels in its data colours on screen"
