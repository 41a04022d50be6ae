"""The trade-off figure, drawn for the back of the room.

Every threshold as MQLs a month against the win rate we expect, both proposals, the floors of marketing's
commitment and sales's minimum win rate, sales's capacity, the thresholds that meet all three (green) and
the expected-value optimum. The bitmap is twice the size it is shown at (crisp on a projector), the y-axis
spans the win rates that matter (the thresholds that deliver a real volume, the floor and both proposals:
not the near-empty top of the scale), the legend sits outside the plot, and the two proposals' markers
differ in shape and fill so that one never hides the other.

The static parts are drawn once; an update restores that background and draws only the moving artists
(blitting), then swaps the PNG bytes of an ``Image`` widget (nothing is cleared, nothing flickers). When a
floor or a marker leaves the axes, the axes are widened and the background drawn again.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from PIL import Image as PILImage

from alignment.thresholds import WEEKS_PER_MONTH, ProposalView, ThresholdEngine
from alignment.workshop.panels import TEAM_COLOURS, TEAMS

FEASIBLE_COLOUR = "#1a9850"
CAPACITY_COLOUR = "#b42318"
FIGURE_INCHES = (8.0, 5.4)
DPI = 200
"""1600 x 1080 pixels: twice the ~800 px the figure takes on a 1920-wide screen (2.7x at 1280)."""
VOLUME_SHARE_IN_VIEW = 0.4
"""The y-axis covers the win rates of thresholds delivering at least this share of sales capacity."""
MARKERS = {"marketing": {"marker": "o", "ms": 24, "mfc": "none", "mew": 4},
           "sales": {"marker": "s", "ms": 12, "mew": 1.5}}
"""Marketing a ring, sales a filled square: on the same threshold, the square sits inside the ring."""


class TradeOffFigure:
    """The volume–win-rate curve with both proposals, the zone both accept and the optimum.

    Parameters
    ----------
    engine : ThresholdEngine
        Fitted; its curve is drawn once.
    """

    def __init__(self, engine: ThresholdEngine) -> None:
        curve = engine.curve_
        self._volume = curve["leads_per_month"].to_numpy()
        self._rate = curve["expected_win_rate"].to_numpy()
        self._capacity_per_month = engine.capacity_per_week_ * WEEKS_PER_MONTH
        with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=1.45):
            self.figure = Figure(figsize=FIGURE_INCHES, dpi=DPI, layout="constrained")
            ax = self.figure.add_subplot()
            ax.plot(self._volume, self._rate, color="#888", lw=2.5, label="every threshold")
            (self._zone_line,) = ax.plot([], [], color=FEASIBLE_COLOUR, lw=9, alpha=0.55,
                                         solid_capstyle="round", label="both teams accept")
            self._min_rate = ax.axhline(0, color=TEAM_COLOURS["sales"], ls="--", lw=2,
                                        label="sales's minimum win rate")
            self._min_volume = ax.axvline(0, color=TEAM_COLOURS["marketing"], ls="--", lw=2,
                                          label="marketing's commitment")
            self._capacity = ax.axvline(self._capacity_per_month, color=CAPACITY_COLOUR, ls=":", lw=2.5,
                                        label="sales capacity")
            # The star first: a proposal on the optimum sits on top of it, not under it.
            (self._optimum,) = ax.plot([], [], marker="*", ms=26, ls="none", color="gold", mec="black",
                                       label="best expected value")
            self._markers = {}
            for team in TEAMS:
                (self._markers[team],) = ax.plot([], [], ls="none", color=TEAM_COLOURS[team],
                                                 label=f"{team}'s threshold", **MARKERS[team])
            ax.set_xlabel("MQLs a month")
            ax.set_ylabel("Win rate we expect")
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=None))
            ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
            self.figure.legend(loc="outside lower center", ncols=3, fontsize=12, frameon=False,
                               handlelength=1.6, columnspacing=1.2, markerscale=0.7)
            self.axes = ax
        self._moving = [self._zone_line, self._min_rate, self._min_volume, self._capacity, self._optimum,
                        *self._markers.values()]
        for artist in self._moving:
            artist.set_animated(True)
        self.canvas = FigureCanvasAgg(self.figure)
        self._redraw_background(self.limits([]))  # the slow draw, done before any page asks for it
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="100%", height="auto"))
        self.image.add_class("tradeoff-figure")

    def limits(self, points: list[tuple[float, float]]) -> tuple[tuple[float, float], tuple[float, float]]:
        """Axes limits that hold the curve's working range and every point given (floors, markers)."""
        finite = np.isfinite(self._rate) & (self._volume > 0)
        working = finite & (self._volume >= VOLUME_SHARE_IN_VIEW * self._capacity_per_month)
        rates = self._rate[working] if working.any() else self._rate[finite]
        xs = [float(self._volume.max()) if self._volume.size else 1.0, self._capacity_per_month]
        ys = [float(rates.min()), float(rates.max())] if rates.size else [0.0, 1.0]
        for x, y in points:
            if np.isfinite(x):
                xs.append(x)
            if np.isfinite(y):
                ys.append(y)
        low, high = min(ys), max(ys)
        pad = max(high - low, 0.01) * 0.12
        return (0.0, max(xs) * 1.05), (max(0.0, low - pad), min(1.0, high + pad))

    def _redraw_background(self, limits) -> None:
        (x0, x1), (y0, y1) = limits
        self.axes.set_xlim(x0, x1)
        self.axes.set_ylim(y0, y1)
        self.figure.set_layout_engine("constrained")
        self.canvas.draw()
        self.figure.set_layout_engine("none")  # freeze the layout that draw computed
        self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        self._limits = limits

    def _covers(self, limits) -> bool:
        (x0, x1), (y0, y1) = self._limits
        (nx0, nx1), (ny0, ny1) = limits
        # Redraw when something leaves the view, or when the view became far too wide for what it shows.
        inside = nx1 <= x1 and ny0 >= y0 and ny1 <= y1
        too_wide = (y1 - y0) > 2.5 * (ny1 - ny0) or x1 > 2.5 * nx1
        return inside and not too_wide

    def update(self, views: dict[str, ProposalView], zone_mask: np.ndarray, min_volume: float,
               min_rate: float, capacity_per_week: float) -> None:
        """Move the markers, floors, capacity and zone to the current proposals and swap the image."""
        capacity = capacity_per_week * WEEKS_PER_MONTH
        best = views["marketing"].optimum
        points = [(min_volume, min_rate), (capacity, np.nan)]
        points += [(v.mql.leads_per_month, v.mql.expected_win_rate) for v in views.values()]
        if best is not None:
            points.append((best.leads_per_month, best.expected_win_rate))
        limits = self.limits(points)
        if not self._covers(limits):
            self._redraw_background(limits)
        self._zone_line.set_data(np.where(zone_mask, self._volume, np.nan),
                                 np.where(zone_mask, self._rate, np.nan))
        self._min_rate.set_ydata([min_rate, min_rate])
        self._min_volume.set_xdata([min_volume, min_volume])
        self._capacity.set_xdata([capacity, capacity])
        for team, view in views.items():
            self._markers[team].set_data([view.mql.leads_per_month], [view.mql.expected_win_rate])
        self._optimum.set_data(([best.leads_per_month], [best.expected_win_rate]) if best else ([], []))
        self.canvas.restore_region(self._background)
        for artist in self._moving:
            self.axes.draw_artist(artist)
        buffer = io.BytesIO()
        rgb = np.asarray(self.canvas.buffer_rgba())[..., :3]
        PILImage.fromarray(rgb).save(buffer, format="png", compress_level=1)
        self.image.value = buffer.getvalue()
