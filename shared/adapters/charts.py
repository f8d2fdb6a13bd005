"""The weight chart: a PNG for sendPhoto, readable on a phone (large fonts, few date ticks).

matplotlib is imported here only, on first use: the webhook's cold path does not pay for it.
"""
from __future__ import annotations

import io
from datetime import date, timedelta

from shared.adapters.third_party_logs import keep_owner_text_out_of_logs


def weight_chart(points: list[tuple[date, float]], title: str, unit: str = "kg",
                 last_label: str | None = None) -> bytes:
    import matplotlib

    keep_owner_text_out_of_logs()  # the title holds the pet's name: no "Glyph ... missing" with its letters
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import numpy as np

    points = sorted(points, key=lambda p: p[0])  # stable: same-day weighings keep their logged order
    days = [p[0] for p in points]
    kg = [p[1] for p in points]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)  # 960 x 600 px
    try:
        ax.plot(days, kg, color="#2f80ed", linewidth=2.2, marker="o" if len(points) <= 40 else None,
                markersize=5, label=None)
        span = (days[-1] - days[0]).days
        if len(points) >= 3 and span > 0:  # linear trend over the shown period
            x = np.array([d.toordinal() for d in days], dtype=float)
            slope, intercept = np.polyfit(x, np.array(kg), 1)
            ax.plot([days[0], days[-1]], [slope * x[0] + intercept, slope * x[-1] + intercept],
                    linestyle="--", color="#999999", linewidth=1.6)
        ax.scatter([days[-1]], [kg[-1]], s=140, color="#eb5757", zorder=5)
        ax.annotate(last_label or f"{kg[-1]:g} {unit}", (days[-1], kg[-1]), textcoords="offset points",
                    xytext=(-10, 14), ha="right", fontsize=15, fontweight="bold", color="#eb5757")
        ax.set_title(title, fontsize=18, pad=12, parse_math=False)  # "$" in a name is a dollar, not TeX
        ax.set_ylabel(unit, fontsize=14)
        ax.tick_params(labelsize=13)
        if span < 3:  # a few weighings on one or two days: show a week around them, not hours
            ax.set_xlim(days[0] - timedelta(days=3), days[-1] + timedelta(days=3))
        locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d.%m.%y" if (days[-1] - days[0]).days > 300 else "%d.%m"))
        low, high = min(kg), max(kg)
        pad = max((high - low) * 0.15, high * 0.03, 0.05)
        ax.set_ylim(low - pad, high + pad * 2)
        ax.grid(True, alpha=0.3)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(fig)
