"""The example report in a real browser (headless Chromium): drawn, and nothing leaves the page.

Chromium must be installed (`.ci/run` installs Debian's package); without it these tests
fail with a message saying so, they do not skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import ink, look
from tests.conftest import EXAMPLES
from tests.helpers import EXAMPLE_NOW, cli


@pytest.fixture(scope="module")
def example_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = cli("--config", EXAMPLES / "config.toml", "report", "--now", EXAMPLE_NOW, "--output", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("width", [1280, 375])
def test_example_report_renders_and_fits(example_report: Path, width: int) -> None:
    seen = look(example_report, width)
    assert seen.overflowing == [], f"elements leave the {width} px viewport: {seen.overflowing}"
    png_width, png_height, drawn, colours = ink(seen.png)
    assert png_width == width
    assert png_height > 1200, "the whole page, not only the first screen"
    assert drawn > 0.03, f"page looks blank ({drawn:.1%} of pixels drawn)"
    assert colours > 50, "text, marks and bars, not a flat fill"


def test_the_measure_sees_an_overflow(tmp_path: Path) -> None:
    page = tmp_path / "wide.html"
    page.write_text(
        '<!DOCTYPE html><meta name="viewport" content="width=device-width">'
        '<p>fits</p><div style="width:500px">too wide</div>',
        encoding="utf-8",
    )
    seen = look(page, 375)
    assert any(item.startswith("div ") for item in seen.overflowing), seen.overflowing
    assert look(page, 1280).overflowing == []
