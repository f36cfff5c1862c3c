"""The HTML page in a real browser (Debian's chromium, headless): the images render and the verdict shows.

`.ci/run` installs chromium where it is missing; without a browser (and no way to install one) the test is
skipped with that reason."""
import shutil

import pytest

from gradcheck import check_layer
from gradcheck.pictures import write_html
from tests.broken_layers import OneChannelConv

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium on this machine (.ci/run installs Debian's "
                                                        "chromium package; install it to run this test)")
pytest.importorskip("matplotlib", reason="the pictures need the 'plot' extra")

# counts the images the browser decoded, into the page, for --dump-dom to show
_COUNT = ("<script>addEventListener('load', () => { const n = [...document.images].filter(i => i.complete && "
          "i.naturalWidth > 0).length; document.body.insertAdjacentHTML('beforeend', `<p id='decoded'>decoded "
          "${n} of ${document.images.length}</p><p id='width'>page width ${document.documentElement.scrollWidth}"
          "</p>`); });</script>")


def _chromium(processes, *args: str) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=5000"]
    return processes.run([BROWSER, *flags, *args], timeout=120).stdout


def test_a_failing_conv_check_renders_in_chromium(tmp_path, processes):
    report = check_layer(OneChannelConv((1, 1), (3, 3, 3), 2, 0), (2, 3, 5, 5))
    page = tmp_path / "conv.html"
    write_html(str(page), [("conv with one wrong channel", report)])
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", _COUNT + "</body>"))
    dom = _chromium(processes, "--dump-dom", "--window-size=1280,900", probe.as_uri())
    expected = len(report.tensors) + 1          # every tensor, and the failing one's step curve
    assert f"decoded {expected} of {expected}" in dom, dom[-500:]
    # the page fits a 1280 px window: the pictures scale down instead of running off its right edge
    assert "page width 1280<" in dom or int(dom.split("page width ")[1].split("<")[0]) <= 1280, dom[-300:]
    assert "gradcheck Conv((1, 1), (3, 3, 3), 2): " \
        "<span class=\"fail\" style=\"color:#c62828;font-weight:bold\">FAIL</span>" in dom
    shot = tmp_path / "shot.png"
    _chromium(processes, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri())
    from matplotlib.image import imread

    pixels = imread(str(shot))[..., :3]
    assert pixels.std() > 0.05                                   # not a blank page
    red = (pixels[..., 0] > 0.6) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)
    assert red.sum() > 50                                        # the failing cells (and the FAIL verdict) in red
