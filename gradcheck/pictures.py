"""Pictures of a check: where the errors are, and how the finite difference behaves as the step shrinks.

- :func:`grid` lays a tensor of up to 4-D out as one 2-D image (a conv kernel as a grid of channel tiles, a
  batch of sequences as time x feature tiles), with the position of every element;
- :func:`tensor_figure` draws |analytic - numeric| / tolerance on a log scale where 1 is the pass line, the
  worst elements boxed, and for small tensors analytic, numeric and their difference side by side;
- :func:`step_figure` draws |D(h) - analytic| against the step h;
- :func:`report_html` and :func:`write_html` make one self-contained HTML page (images inline) of reports and
  fuzz results, failures first; without matplotlib (the ``plot`` extra) the page has the tables and says how
  to get the pictures.
"""
from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import numpy as np

from gradcheck.report import GradcheckReport, TensorCheck, compared, settings_text, worst_ratio

__all__ = ["grid", "grid_position", "tensor_figure", "step_figure", "report_html", "write_html", "SIDE_BY_SIDE"]

SIDE_BY_SIDE = 4096         # tensors up to this many elements also get analytic, numeric and difference drawn
_GAP = 1                    # empty cells between tiles


def _as_tiles(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(tile rows, tile columns, rows per tile, columns per tile) of a shape of any rank."""
    if len(shape) <= 1:
        return 1, 1, 1, int(np.prod(shape, dtype=int))
    if len(shape) == 2:
        return 1, 1, shape[0], shape[1]
    if len(shape) == 3:
        return 1, shape[0], shape[1], shape[2]
    lead = int(np.prod(shape[:-3], dtype=int))
    return lead, shape[-3], shape[-2], shape[-1]


def grid_position(shape: tuple[int, ...], index: tuple[int, ...]) -> tuple[int, int]:
    """Row and column of element ``index`` in :func:`grid`'s image of a tensor of ``shape``."""
    tr, tc, h, w = _as_tiles(shape)
    flat = int(np.ravel_multi_index(index, shape)) if len(shape) else 0
    tile, inner = divmod(flat, h * w)
    row, col = divmod(inner, w)
    tile_row, tile_col = divmod(tile, tc)
    return tile_row * (h + _GAP) + row, tile_col * (w + _GAP) + col


def grid(values: np.ndarray) -> np.ndarray:
    """The tensor as one 2-D image: 1-D a row, 2-D itself, 3-D its first axis as tiles side by side, 4-D
    (kernels, channels, y, x) a grid of tiles, kernels down and channels across (more axes join the rows);
    NaN between tiles."""
    tr, tc, h, w = _as_tiles(values.shape)
    out = np.full((tr * (h + _GAP) - _GAP, tc * (w + _GAP) - _GAP), np.nan)
    tiles = np.asarray(values, dtype=float).reshape(tr * tc, h, w)
    for t in range(tr * tc):
        r, c = divmod(t, tc)
        out[r * (h + _GAP):r * (h + _GAP) + h, c * (w + _GAP):c * (w + _GAP) + w] = tiles[t]
    return out


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _layout_note(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"tiles: axis 0 ({shape[0]}) across, each {shape[1]} x {shape[2]}"
    if len(shape) >= 4:
        return f"tiles: axis {len(shape) - 4 if len(shape) > 4 else 0} down, axis {len(shape) - 3} across, " \
               f"each {shape[-2]} x {shape[-1]}"
    return ""


def tensor_figure(t: TensorCheck, sides: tuple[str, str] = ("analytic", "numeric")):
    """A matplotlib Figure of one tensor's check (None without matplotlib or element data); ``sides`` name
    what was compared (the layer and its reference, for a reference check)."""
    plt = _pyplot()
    if plt is None or t.elements is None:
        return None
    from matplotlib.colors import TwoSlopeNorm

    e = t.elements
    badness = grid(e.badness)
    small = e.analytic.size <= SIDE_BY_SIDE
    panels = 4 if small else 1
    aspect = badness.shape[1] / max(badness.shape[0], 1)
    width = min(16.0, max(3.5, 2.4 + 2.2 * panels * min(max(aspect, 0.6), 4.0)))
    fig, axes = plt.subplots(1, panels, figsize=(width, 2.6 + (0.3 if badness.shape[0] > 1 else 0)), squeeze=False)
    ax = axes[0, 0]
    # log10 of err/tol, green below the pass line 1 and red above it, up to the tensor's worst: the darkest red
    # is where the error is largest, not only over 1
    with np.errstate(divide="ignore", invalid="ignore"):
        top = max(2.0, float(np.ceil(np.log10(np.nanmax(badness, initial=1.0)))))
        image = ax.imshow(np.log10(np.maximum(badness, 1e-3)), cmap="RdYlGn_r", interpolation="nearest",
                          aspect="auto", norm=TwoSlopeNorm(vmin=-2, vcenter=0, vmax=top))
    ticks = [-2, 0, *sorted({1.0, top / 2, top} if top > 2 else {1.0, 2.0})]
    fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02, ticks=[round(v) for v in ticks],
                 format=lambda v, _: f"{10.0 ** v:g}")
    left, right = sides
    ax.set_title(f"{t.name}: |{left[0]} - {right[0]}| / tolerance", fontsize=9)
    for w in t.worst:
        if len(w.index) == len(t.shape):
            r, c = grid_position(t.shape, w.index)
            ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.5))
    if small:
        scale = float(np.nanmax(np.abs(np.concatenate([e.analytic.ravel(), e.numeric.ravel()])), initial=0.0)) or 1
        for ax, data, title in ((axes[0, 1], e.analytic, left), (axes[0, 2], e.numeric, right),
                                (axes[0, 3], e.analytic - e.numeric, f"{left} - {right}")):
            lim = scale if title != f"{left} - {right}" else (float(np.nanmax(np.abs(data), initial=0.0)) or 1.0)
            img = ax.imshow(grid(data), cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest",
                            aspect="auto")
            fig.colorbar(img, ax=ax, fraction=0.05, pad=0.02)
            ax.set_title(title, fontsize=9)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    note = _layout_note(t.shape)
    if note:
        fig.text(0.01, 0.01, note, fontsize=7)
    fig.tight_layout()
    return fig


def step_figure(steps: np.ndarray, errors: np.ndarray, *, used: float, tolerance: float, name: str,
                index: tuple[int, ...]):
    """|D(h) - analytic| against h on log axes, the step the check settled at and the tolerance marked, and
    lines of slope 2 (truncation) and -1 (rounding) through the curve's lowest point."""
    plt = _pyplot()
    if plt is None:
        raise ImportError("plotting needs matplotlib: pip install -e '.[plot]'")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    shown = np.where(errors > 0, errors, np.nan)
    ax.loglog(steps, shown, "o-", markersize=3, label="|D(h) - analytic|")
    ax.axhline(tolerance, color="tab:red", linestyle="--", linewidth=1, label=f"tolerance {tolerance:.2g}")
    ax.axvline(used, color="tab:green", linestyle=":", linewidth=1, label=f"step used {used:.2g}")
    if np.isfinite(shown).any():
        k = int(np.nanargmin(shown))
        h0, e0 = steps[k], shown[k]
        span = np.array([steps.min(), steps.max()])
        ax.loglog(span, e0 * (span / h0) ** 2, color="grey", linewidth=0.7, label="slope 2: truncation")
        ax.loglog(span, e0 * (span / h0) ** -1.0, color="grey", linewidth=0.7, linestyle="-.",
                  label="slope -1: rounding")
        finite = shown[np.isfinite(shown)]
        ax.set_ylim(min(finite.min(), tolerance) / 10, max(finite.max(), tolerance) * 10)
    ax.set(xlabel="step h", ylabel="|D(h) - analytic|", title=f"{name}{list(index)}: central difference by step")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    _pyplot().close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_STYLE = ("<style>.gradcheck{font-family:sans-serif;font-size:13px}.gradcheck table{border-collapse:collapse}"
          ".gradcheck td,.gradcheck th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
          ".gradcheck .pass{color:#1a7f37;font-weight:bold}.gradcheck .fail{color:#c62828;font-weight:bold}"
          ".gradcheck figure{margin:8px 0}.gradcheck img{max-width:100%;height:auto}"
          ".gradcheck figcaption{font-size:12px;color:#333}</style>")


_COLOURS = {"pass": "#1a7f37", "fail": "#c62828"}


def _mark(kind: str, text: str, tag: str = "span") -> str:
    """``text`` in the colour of ``kind`` ("pass" or "fail"), styled inline too: a notebook that drops the
    page's <style> (JupyterLab's sanitiser, VS Code, GitHub) still shows FAIL in red."""
    return f'<{tag} class="{kind}" style="color:{_COLOURS[kind]};font-weight:bold">{text}</{tag}>'


def _tensor_rows(report: GradcheckReport) -> str:
    head = ("<tr><th>tensor</th><th>shape</th><th>method</th><th>checked</th><th>failed</th><th>kinks</th>"
            "<th>skipped</th><th>max rel err</th><th></th></tr>")
    rows = []
    for t in report.tensors:
        verdict = _mark("pass", "ok") if t.ok else _mark("fail", "FAIL")
        rows.append(f"<tr><td style='text-align:left'>{html.escape(t.name)}</td><td>{t.shape}</td><td>{t.method}</td>"
                    f"<td>{t.checked}</td><td>{t.failed}</td><td>{t.kinks}</td><td>{t.skipped_count}</td>"
                    f"<td>{t.max_rel_error:.3g}</td><td>{verdict}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _caption(t: TensorCheck, sides: tuple[str, str] = ("analytic", "numeric")) -> str:
    parts = [f"<b>{html.escape(t.name)}</b> {t.shape}: {t.failed} wrong of {t.checked} checked"]
    if t.worst and not t.ok:
        head = "".join(f"<th>{c}</th>" for c in ("index (boxed)", *sides, "abs err", "tolerance", "err / tol"))
        rows = "".join(f"<tr><td>{list(w.index)}</td><td>{w.analytic:.6g}</td><td>{w.numeric:.6g}</td>"
                       f"<td>{w.abs_error:.3g}</td><td>{w.tolerance:.2g}</td><td>{worst_ratio(w):.3g}</td></tr>"
                       for w in t.worst[:5])
        parts.append(f'<table class="worst">{head}{rows}</table>')
    if t.pattern:
        parts.append(f"pattern: {html.escape(t.pattern)}")
    if t.hint:
        parts.append(f"hint: {html.escape(t.hint)}")
    return "<br>".join(parts)


def _worst_step_curve(report: GradcheckReport, t: TensorCheck):
    """The step curve of a failing tensor's worst element, where the report can evaluate it again."""
    full = [w for w in t.worst if len(w.index) == len(t.shape)]
    if not full or (getattr(report, "_differences", None) is None and not getattr(report, "_curves", None)):
        return None
    try:
        return report.plot_steps(t.name, full[0].index)
    except Exception:  # noqa: BLE001 - a layer that no longer runs: the page keeps its other pictures
        return None


def report_html(report: GradcheckReport, *, pictures: bool = True, context: str | None = None) -> str:
    """One report as an HTML fragment: verdict, settings, tensor table, problems and warnings, and a
    picture of every tensor (failing tensors first)."""
    verdict = _mark("pass", "PASS") if report.ok else _mark("fail", "FAIL")
    parts = [f'<div class="gradcheck"><h3>gradcheck {html.escape(report.target)}: {verdict}</h3>',
             f"<p>{html.escape(settings_text(report))}</p>"]
    if context:
        parts.append(f"<pre>{html.escape(context)}</pre>")
    parts.append(_tensor_rows(report))
    parts += [_mark("fail", f"PROBLEM: {html.escape(p)}", "p") for p in report.problems]
    parts += [f"<p>warning: {html.escape(w)}</p>" for w in report.warnings]
    plt = _pyplot() if pictures else None
    if pictures and plt is None:
        parts.append("<p>The pictures need matplotlib: <code>pip install -e '.[plot]'</code></p>")
    for t in sorted(report.tensors, key=lambda t: t.ok):
        sides = compared(report, t)[:2]
        fig = tensor_figure(t, sides) if plt is not None else None
        image = f'<img alt="{html.escape(t.name)}" src="data:image/png;base64,{_png(fig)}">' if fig else ""
        parts.append(f"<figure>{image}<figcaption>{_caption(t, sides)}</figcaption></figure>")
        curve = _worst_step_curve(report, t) if plt is not None and not t.ok else None
        if curve is not None:
            parts.append(f'<figure><img alt="{html.escape(t.name)} step curve" src="data:image/png;base64,'
                         f'{_png(curve)}"><figcaption>the worst element of {html.escape(t.name)} by step</figcaption>'
                         "</figure>")
    parts.append("</div>")
    return "".join(parts)


def write_html(path: str, items: Sequence[tuple[str, object]], *, title: str = "gradcheck") -> None:
    """One self-contained page (images inline, no network) of (label, report or fuzz result) pairs,
    failures first."""
    ordered = sorted(items, key=lambda item: bool(getattr(item[1], "ok", True)))
    body = []
    for label, item in ordered:
        report = getattr(item, "report", item)
        context = item.example_text() if hasattr(item, "example_text") else None
        body.append(f"<h2>{html.escape(label)}</h2>")
        if isinstance(report, GradcheckReport):
            body.append(report_html(report, context=context))
        else:
            body.append(f"<pre>{html.escape(str(item))}</pre>")
    failed = sum(not getattr(item, "ok", True) for _, item in items)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{_STYLE}</head>"
            f"<body class='gradcheck'><h1>{html.escape(title)}: {len(items)} check(s), {failed} failed</h1>"
            f"{''.join(body)}</body></html>")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(page)
