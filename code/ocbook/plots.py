"""Plots made from measurements (matplotlib), in the book's look."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"figure.dpi": 110, "axes.spines.top": False, "axes.spines.right": False,
                     "font.size": 10, "svg.fonttype": "none"})


def use_svg() -> bool:
    """Inside IPython, show figures as SVG (sharp on the static site, like the graphviz diagrams); True if so.

    Outside IPython there is nothing to set. Inside it, a failure is raised, not hidden: figures silently
    shown as text (a defect seen before) must not come back unnoticed.
    """
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return False
    if get_ipython() is None:
        return False
    set_matplotlib_formats("svg")
    return True


use_svg()


def label_groups(offsets: list[float], span: float, share: float = 0.04) -> list[tuple[float, str]]:
    """Attempt labels that do not sit on each other: attempts closer than `share` of the span share one label.

    [0, 0.01, 0.02] over a 6 s axis gives [(0, "1-3")]; [0, 1, 3] gives one label per attempt.
    """
    groups: list[list[tuple[int, float]]] = []
    for number, offset in enumerate(sorted(offsets), 1):
        if groups and offset - groups[-1][0][1] < share * max(span, 1e-9):
            groups[-1].append((number, offset))
        else:
            groups.append([(number, offset)])
    return [(group[0][1], str(group[0][0]) if len(group) == 1 else f"{group[0][0]}\u2013{group[-1][0]}")
            for group in groups]


def attempts(series: dict[str, list[float]], title: str = "", unit: str = "s"):
    """Attempt number (1, 2, ...) against time since the first attempt, one marker line per series.

    Attempts too close together to be told apart on the axis (a stream poller's immediate retries) share one
    label, "1\u20133", so the numbers never sit on each other.
    """
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.45 * max(2, len(series))))
    offsets_of = {name: [t - min(times) for t in sorted(times)] if times else [] for name, times in series.items()}
    span = max((max(offsets) for offsets in offsets_of.values() if offsets), default=0.0)
    for row, offsets in enumerate(offsets_of.values()):
        ax.plot(offsets, [row] * len(offsets), marker="o", linestyle="-", linewidth=1)
        for offset, label in label_groups(offsets, span):
            ax.annotate(label, (offset, row), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    ax.set_yticks(range(len(series)), list(series))
    ax.set_ylim(-0.7, len(series) - 0.3)
    ax.set_xlabel(f"time since the first attempt ({unit}); numbers are attempts")
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def intervals(ax, table, figures: list[str], styles: list[str], colours: dict[str, str],
              labels: list[str] | None = None):
    """Bars of estimates with their confidence intervals as error bars: a group per figure, a bar per style.

    `table` has the columns figure, style, estimate, low, high (ocbook.experiment.figures).
    """
    import numpy as np

    width = 0.8 / max(len(styles), 1)
    for n, style in enumerate(styles):
        rows = table[table["style"] == style].set_index("figure").reindex(figures)
        x = np.arange(len(figures)) + (n - (len(styles) - 1) / 2) * width
        error = [(rows["estimate"] - rows["low"]).clip(lower=0), (rows["high"] - rows["estimate"]).clip(lower=0)]
        ax.bar(x, rows["estimate"], width, yerr=error, capsize=3, label=style, color=colours.get(style, "#6b7280"),
               error_kw={"elinewidth": 1, "ecolor": "#111827"})
    ax.set_xticks(range(len(figures)), labels or figures)
    return ax
