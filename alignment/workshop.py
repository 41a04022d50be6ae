"""The calibration workshop: both teams' proposals side by side, live, in ipywidgets.

Marketing and sales each get a panel with their proposal (MQL, fast-track and recycle thresholds
and the service levels). Every change re-asks the :class:`~alignment.thresholds.ThresholdEngine`
(well under a millisecond) and updates, in place, the key numbers of each panel, the side-by-side
table, the table by grade and the volume–win-rate trade-off figure (a PNG in an ``Image`` widget
whose bytes are swapped, so nothing is cleared and nothing flickers). Sliders and boxes only
report when released or confirmed (``continuous_update=False``), which debounces updates.

The key numbers carry stable CSS classes for the browser test and for anyone styling the page:
``.marketing-panel`` / ``.sales-panel`` hold ``.mql-volume`` and ``.win-rate`` (with the exact
value in ``data-value``); the record form has ``.signer-marketing``, ``.signer-sales``,
``.agreement-notes``, ``.adopt-choice``, ``.save-agreement`` and ``.save-status``.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage

from alignment.agreement import in_force_on, record_agreement, signed_line
from alignment.config import Config, find_config
from alignment.exceptions import AlignmentError
from alignment.thresholds import (
    WEEKS_PER_MONTH,
    Proposal,
    ProposalView,
    ThresholdEngine,
    companion_thresholds,
)

TEAMS = ("marketing", "sales")
TEAM_COLOURS = {"marketing": "#d95f02", "sales": "#1b6ca8"}
FEASIBLE_COLOUR = "#1a9850"

CSS = """
<style>
.alignment-workshop { font-size: 18px; }
.alignment-workshop .widget-label, .alignment-workshop .widget-readout,
.alignment-workshop input, .alignment-workshop textarea, .alignment-workshop select,
.alignment-workshop button, .alignment-workshop .widget-toggle-button { font-size: 18px !important; }
.alignment-workshop .widget-label { min-width: 15em; }
.alignment-workshop h2 { font-size: 28px; margin: 4px 0; }
.alignment-workshop h3 { font-size: 22px; margin: 4px 0; }
.alignment-workshop .key-numbers { display: flex; gap: 24px; margin: 8px 0; }
.alignment-workshop .key-number { display: flex; flex-direction: column; }
.alignment-workshop .key-number .big { font-size: 32px; font-weight: bold; }
.alignment-workshop .key-number .small { font-size: 15px; color: #555; }
.alignment-workshop table.compare { border-collapse: collapse; font-size: 18px; }
.alignment-workshop table.compare td, .alignment-workshop table.compare th {
  padding: 4px 14px; border-bottom: 1px solid #ddd; text-align: right; }
.alignment-workshop table.compare td:first-child, .alignment-workshop table.compare th:first-child {
  text-align: left; }
.alignment-workshop .ok { color: #1a7f37; font-weight: bold; }
.alignment-workshop .bad { color: #b42318; font-weight: bold; }
.alignment-workshop .marketing-panel { border-top: 6px solid #d95f02; padding: 8px; }
.alignment-workshop .sales-panel { border-top: 6px solid #1b6ca8; padding: 8px; }
</style>
"""


def format_count(value: float) -> str:
    """Whole number with thousands separators ("—" when unknown)."""
    return "—" if value is None or not math.isfinite(value) else f"{value:,.0f}"


def format_rate(value: float) -> str:
    """Percentage with one decimal ("—" when unknown)."""
    return "—" if value is None or not math.isfinite(value) else f"{value:.1%}"


def format_money(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:,.0f}"


def _number(css_class: str, label: str, value: float, text: str, detail: str = "") -> str:
    return (f'<div class="key-number"><span class="small">{html.escape(label)}</span>'
            f'<span class="big {css_class}" data-value="{value!r}">{html.escape(text)}</span>'
            f'<span class="small">{html.escape(detail)}</span></div>')


@dataclass
class TeamPanel:
    """One team's proposal controls and its key numbers."""

    team: str
    mql: widgets.IntSlider
    fast_track: widgets.IntSlider
    recycle: widgets.IntSlider
    follow_up_hours: widgets.BoundedFloatText
    accept_within_days: widgets.BoundedFloatText
    mql_per_month: widgets.BoundedIntText
    min_win_rate: widgets.BoundedFloatText
    numbers: widgets.HTML
    box: widgets.VBox

    @property
    def controls(self) -> list[widgets.Widget]:
        return [self.mql, self.fast_track, self.recycle, self.follow_up_hours, self.accept_within_days,
                self.mql_per_month, self.min_win_rate]

    def proposal(self) -> Proposal:
        return Proposal(mql=self.mql.value, fast_track=self.fast_track.value, recycle=self.recycle.value,
                        follow_up_hours=self.follow_up_hours.value,
                        accept_within_days=self.accept_within_days.value,
                        mql_per_month=self.mql_per_month.value, min_win_rate=self.min_win_rate.value / 100)


def _team_panel(team: str, start: Proposal) -> TeamPanel:
    style = {"description_width": "initial"}
    layout = widgets.Layout(width="95%")

    def slider(description: str, value: float) -> widgets.IntSlider:
        return widgets.IntSlider(value=int(round(value)), min=0, max=100, step=1, description=description,
                                 continuous_update=False, style=style, layout=layout)

    def box(cls, description: str, value: float, low: float, high: float, step: float):
        return cls(value=value, min=low, max=high, step=step, description=description,
                   continuous_update=False, style=style, layout=widgets.Layout(width="60%"))

    mql = slider("MQL threshold (score ≥)", start.mql)
    fast_track = slider("Fast-track (score ≥)", start.fast_track)
    recycle = slider("Recycle to nurture (score <)", start.recycle)
    follow_up = box(widgets.BoundedFloatText, "Follow-up within (hours)", start.follow_up_hours,
                    0.25, 720, 1)
    accept = box(widgets.BoundedFloatText, "Accept/reject within (days)", start.accept_within_days,
                 0.5, 90, 1)
    volume = box(widgets.BoundedIntText, "MQL commitment (per month)", int(start.mql_per_month),
                 0, 10_000_000, 10)
    min_rate = box(widgets.BoundedFloatText, "Minimum win rate (%)", round(start.min_win_rate * 100, 1),
                   0, 100, 0.5)
    for control, name in ((mql, "mql"), (fast_track, "fast-track"), (recycle, "recycle")):
        control.add_class(f"{team}-{name}-slider")
    numbers = widgets.HTML()
    title = widgets.HTML(f"<h2>{team.capitalize()}'s proposal</h2>")
    panel_box = widgets.VBox([title, mql, fast_track, recycle, follow_up, accept, volume, min_rate, numbers],
                             layout=widgets.Layout(width="50%"))
    panel_box.add_class(f"{team}-panel")
    return TeamPanel(team, mql, fast_track, recycle, follow_up, accept, volume, min_rate, numbers, panel_box)


class TradeOffFigure:
    """The volume–win-rate curve with both proposals, the feasible zone and the optimum.

    The figure is built and drawn once; an update restores that background, draws only the moving
    artists (markers, zone, constraint lines) and swaps the PNG bytes of an ``Image`` widget (no
    ``clear_output``, so the page does not flicker).
    """

    def __init__(self, engine: ThresholdEngine) -> None:
        curve = engine.curve_
        self._volume = curve["leads_per_month"].to_numpy()
        self._rate = curve["expected_win_rate"].to_numpy()
        with sns.axes_style("whitegrid"), sns.plotting_context("talk"):
            self.figure = Figure(figsize=(12, 6.5), dpi=80, layout="constrained")
            ax = self.figure.add_subplot()
            ax.plot(self._volume, self._rate, color="#888", lw=2, label="every threshold")
            (self._zone_line,) = ax.plot([], [], color=FEASIBLE_COLOUR, lw=7, alpha=0.6,
                                         solid_capstyle="round", label="both constraints met")
            self._min_rate = ax.axhline(0, color=TEAM_COLOURS["sales"], ls="--", lw=1.5,
                                        label="sales's minimum win rate")
            self._min_volume = ax.axvline(0, color=TEAM_COLOURS["marketing"], ls="--", lw=1.5,
                                          label="marketing's MQL commitment")
            capacity = engine.capacity_per_week_ * WEEKS_PER_MONTH
            ax.axvline(capacity, color="#b42318", ls=":", lw=2, label="sales capacity")
            self._markers = {}
            for team, marker in zip(TEAMS, ("o", "s"), strict=True):
                (self._markers[team],) = ax.plot([], [], marker=marker, ms=16, ls="none",
                                                 color=TEAM_COLOURS[team], label=f"{team}'s MQL threshold")
            (self._optimum,) = ax.plot([], [], marker="*", ms=26, ls="none", color="gold", mec="black",
                                       label="expected-value optimum")
            ax.set_xlabel("MQLs per month")
            ax.set_ylabel("Expected win rate of MQLs")
            ax.yaxis.set_major_formatter(lambda y, _: f"{y:.0%}")
            ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
            finite = np.isfinite(self._rate)
            ax.set_xlim(0, max(self._volume.max(), capacity) * 1.05)
            ax.set_ylim(0, min(1.0, float(np.nanmax(self._rate[finite])) * 1.08) if finite.any() else 1)
            ax.legend(loc="upper right", fontsize=13, framealpha=0.9)
            self.axes = ax
        # Blitting: draw the static parts once, then per update only the moving artists on top.
        self._moving = [self._zone_line, self._min_rate, self._min_volume, *self._markers.values(),
                        self._optimum]
        for artist in self._moving:
            artist.set_animated(True)
        self.canvas = FigureCanvasAgg(self.figure)
        self.canvas.draw()
        self.figure.set_layout_engine("none")  # freeze the constrained layout computed by that draw
        self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="100%", max_width="1100px"))
        self.image.add_class("tradeoff-figure")

    def update(self, engine: ThresholdEngine, views: dict[str, ProposalView], zone_mask: np.ndarray,
               min_volume: float, min_rate: float) -> None:
        self._zone_line.set_data(np.where(zone_mask, self._volume, np.nan),
                                 np.where(zone_mask, self._rate, np.nan))
        self._min_rate.set_ydata([min_rate, min_rate])
        self._min_volume.set_xdata([min_volume, min_volume])
        for team, view in views.items():
            self._markers[team].set_data([view.mql.leads_per_month], [view.mql.expected_win_rate])
        best = views["marketing"].optimum
        self._optimum.set_data(([best.leads_per_month], [best.expected_win_rate]) if best else ([], []))
        self.canvas.restore_region(self._background)
        for artist in self._moving:
            self.axes.draw_artist(artist)
        self.axes.draw_artist(self.axes.get_legend())  # keep the legend above the moving lines
        buffer = io.BytesIO()
        rgb = np.asarray(self.canvas.buffer_rgba())[..., :3]
        PILImage.fromarray(rgb).save(buffer, format="png", compress_level=1)
        self.image.value = buffer.getvalue()


class Workshop(widgets.VBox):
    """The whole workshop screen (returned by :func:`build_workshop`).

    Parameters
    ----------
    engine : ThresholdEngine
        Fitted on the model's scored hold-out.
    config : Config
        The workspace config (service-level defaults, agreements folder).
    """

    def __init__(self, engine: ThresholdEngine, config: Config) -> None:
        self.engine = engine
        self.config = config
        # Read once: the header names it and the panels start from it.
        try:
            self._in_force, self._agreement_error = in_force_on(config.agreements_dir,
                                                                dt.datetime.now(dt.UTC).date()), None
        except AlignmentError as exc:  # an unreadable old version must not block the workshop
            self._in_force, self._agreement_error = None, exc
        starts = self._starting_proposals()
        self.panels = {team: _team_panel(team, starts[team]) for team in TEAMS}
        self.figure = TradeOffFigure(engine)
        self.zone_note = widgets.HTML()
        self.zone_note.add_class("zone-note")
        self.compare = widgets.HTML()
        self.compare.add_class("compare-table")
        self.grades = widgets.HTML()
        self.grades.add_class("grade-table")
        self.form = self._record_form()
        header = widgets.HTML(
            CSS + "<h2>Lead calibration workshop</h2><div>Scoring model "
            f"<b>{html.escape(str(engine.model_version_))}</b> · {engine.n_leads_:,} hold-out leads "
            f"over {engine.months_:.1f} months, "
            f"{engine.n_wins_:,} won · sales capacity {engine.capacity_per_week_:,.0f} MQLs a week "
            f"({engine.capacity_per_week_ * WEEKS_PER_MONTH:,.0f} a month) · deal value "
            f"{format_money(engine.deal_value_)}</div>" + self._agreement_line()
            + _cautions_html(getattr(engine, "cautions_", [])))
        grades_box = widgets.Accordion(children=[self.grades], titles=("The MQL threshold by grade",))
        super().__init__([
            header,
            widgets.HBox([self.panels[t].box for t in TEAMS]),
            self.zone_note,
            self.figure.image,
            widgets.HTML("<h3>What each proposal means</h3>"),
            self.compare,
            grades_box,
            self.form,
        ])
        self.add_class("alignment-workshop")
        self._holding = False
        for panel in self.panels.values():
            for control in panel.controls:
                control.observe(self._on_change(panel, control), names="value")
        self.views: dict[str, ProposalView] = {}
        self.refresh()

    # --- start values ------------------------------------------------------------------------------

    def _agreement_line(self) -> str:
        """Which agreement is in force, who signed it, on which model (and a warning when it is another)."""
        if self._agreement_error is not None:
            return f'<div class="agreement-line bad">{html.escape(self._agreement_error.one_line())}</div>'
        current = self._in_force
        if current is None:
            return ('<div class="agreement-line">No agreement is in force yet: the panels start from each '
                    "team's own service levels.</div>")
        line = (f"In force: agreement v{current.version} from {current.effective_from}, signed by "
                f"{html.escape(current.signed_by.marketing)} (marketing) and "
                f"{html.escape(current.signed_by.sales)} (sales) on model "
                f"{html.escape(current.model_version)}.")
        if current.model_version != str(self.engine.model_version_):
            line += (' <b class="bad">It was signed on another model than this one '
                     f"({html.escape(str(self.engine.model_version_))}): its thresholds may not mean the "
                     "same here — agree and sign them again on this model.</b>")
        return f'<div class="agreement-line">{line}</div>'

    def _starting_proposals(self) -> dict[str, Proposal]:
        """Start from the agreement in force, else each team from its own service-level floor."""
        levels = self.config.service_levels
        current = self._in_force
        if current is not None:
            t, s = current.thresholds, current.service_levels
            agreed = Proposal(mql=t.mql, fast_track=t.fast_track, recycle=t.recycle,
                              follow_up_hours=s.follow_up_hours, accept_within_days=s.accept_within_days,
                              mql_per_month=s.mql_per_month, min_win_rate=s.min_win_rate)
            return dict.fromkeys(TEAMS, agreed)
        curve = self.engine.curve_
        thresholds = curve["threshold"].to_numpy()
        # Marketing: the highest threshold that still delivers its volume; sales: the lowest that
        # reaches its win rate. Each is where that team's own constraint alone would put it.
        delivers = thresholds[curve["leads_per_month"].to_numpy() >= levels.mql_per_month]
        marketing_mql = float(delivers.max()) if delivers.size else float(thresholds.min())
        good = thresholds[np.nan_to_num(curve["expected_win_rate"].to_numpy()) >= levels.min_win_rate]
        sales_mql = float(good.min()) if good.size else float(thresholds.max())
        starts = {}
        for team, mql in (("marketing", marketing_mql), ("sales", sales_mql)):
            mql = float(np.clip(round(mql), 0, 100))
            fast_track, recycle = companion_thresholds(self.engine, mql)
            starts[team] = Proposal(mql=mql, fast_track=fast_track, recycle=recycle,
                                    follow_up_hours=levels.follow_up_hours,
                                    accept_within_days=levels.accept_within_days,
                                    mql_per_month=levels.mql_per_month, min_win_rate=levels.min_win_rate)
        return starts

    # --- updates -----------------------------------------------------------------------------------

    def _on_change(self, panel: TeamPanel, control: widgets.Widget):
        def handler(change) -> None:
            if self._holding:
                return
            self._holding = True
            try:
                # Keep recycle <= MQL <= fast-track by pushing the other sliders along.
                if control is panel.mql:
                    panel.fast_track.value = max(panel.fast_track.value, panel.mql.value)
                    panel.recycle.value = min(panel.recycle.value, panel.mql.value)
                elif control is panel.fast_track:
                    panel.mql.value = min(panel.mql.value, panel.fast_track.value)
                    panel.recycle.value = min(panel.recycle.value, panel.mql.value)
                elif control is panel.recycle:
                    panel.mql.value = max(panel.mql.value, panel.recycle.value)
                    panel.fast_track.value = max(panel.fast_track.value, panel.mql.value)
            finally:
                self._holding = False
            self.refresh()

        return handler

    def constraints(self) -> tuple[float, float]:
        """The feasible zone's floors: marketing's volume commitment and sales's minimum win rate."""
        return (float(self.panels["marketing"].mql_per_month.value),
                self.panels["sales"].min_win_rate.value / 100)

    def refresh(self) -> None:
        """Recompute every number and redraw (numbers first, so they show before the figure)."""
        min_volume, min_rate = self.constraints()
        self.views = {team: self.engine.evaluate(panel.proposal(), min_mql_per_month=min_volume,
                                                 min_win_rate=min_rate)
                      for team, panel in self.panels.items()}
        for team, panel in self.panels.items():
            panel.numbers.value = self._key_numbers(self.views[team])
        zone = self.views["marketing"].zone
        best = self.views["marketing"].optimum
        if zone.empty:
            self.zone_note.value = f'<div class="bad">No threshold meets both teams\' constraints: ' \
                                   f'{html.escape(zone.reason)}.</div>'
        else:
            ranges = ", ".join(f"{lo:g}–{hi:g}" if lo != hi else f"{lo:g}" for lo, hi in zone.intervals)
            optimum = (" The expected-value optimum inside it is an MQL threshold of "
                       f'<b class="optimum">{best.threshold:g}</b> '
                       f"({format_count(best.leads_per_month)} MQLs a month at "
                       f"{format_rate(best.expected_win_rate)})." if best else "")
            self.zone_note.value = (f'<div>MQL thresholds both constraints allow (≥ '
                                    f'{format_count(min_volume)} MQLs a month, ≥ {format_rate(min_rate)} '
                                    f'win rate, within sales capacity): '
                                    f'<b class="ok zone-range">{ranges}</b>.{optimum}</div>')
        self.compare.value = self._comparison_table()
        self.grades.value = self._grade_table()
        mask = np.zeros(len(self.engine.grid_), dtype=bool)
        for lo, hi in zone.intervals:
            mask |= (self.engine.grid_ >= lo) & (self.engine.grid_ <= hi)
        self.figure.update(self.engine, self.views, mask, min_volume, min_rate)

    def _key_numbers(self, view: ProposalView) -> str:
        m = view.mql
        verdict = ('<span class="ok">inside the zone both teams accept</span>' if view.in_zone
                   else '<span class="bad">outside the zone both teams accept</span>')
        return ('<div class="key-numbers">'
                + _number("mql-volume", "MQLs per month", m.leads_per_month,
                          format_count(m.leads_per_month))
                + _number("win-rate", "expected win rate", m.expected_win_rate,
                          format_rate(m.expected_win_rate),
                          f"95%: {format_rate(m.win_rate_low)}–{format_rate(m.win_rate_high)}")
                + _number("wins-captured", "past wins captured", m.wins_captured_share,
                          format_rate(m.wins_captured_share),
                          f"{format_count(m.wins_missed_per_month)} a month missed")
                + _number("capacity-used", "of sales capacity", m.capacity_used,
                          format_rate(m.capacity_used), f"{format_count(m.workload_per_week)} a week")
                + f"</div><div>{verdict}</div>")

    def _comparison_table(self) -> str:
        rows = [
            ("MQL threshold (score ≥)", lambda v: f"{v.proposal.mql:g}"),
            ("MQLs per month", lambda v: format_count(v.mql.leads_per_month)),
            ("Expected win rate", lambda v: format_rate(v.mql.expected_win_rate)),
            ("95% interval (observed wins)",
             lambda v: f"{format_rate(v.mql.win_rate_low)}–{format_rate(v.mql.win_rate_high)}"),
            ("Share of past wins captured", lambda v: format_rate(v.mql.wins_captured_share)),
            ("Wins missed below it, per month", lambda v: format_count(v.mql.wins_missed_per_month)),
            ("Sales workload per week", lambda v: f"{format_count(v.mql.workload_per_week)} of "
                                                  f"{format_count(v.mql.capacity_per_week)}"),
            ("Pipeline handed to sales per month", lambda v: format_money(v.mql.pipeline_per_month)),
            ("Expected revenue per month", lambda v: format_money(v.mql.expected_revenue_per_month)),
            ("Expected value per month (after lead cost)",
             lambda v: format_money(v.mql.expected_value_per_month)),
            ("Fast-track (score ≥)", lambda v: f"{v.proposal.fast_track:g}"),
            ("Fast-track leads per month", lambda v: format_count(v.fast_track.leads_per_month)),
            ("Fast-track expected win rate", lambda v: format_rate(v.fast_track.expected_win_rate)),
            ("Recycle (score <)", lambda v: f"{v.proposal.recycle:g}"),
            ("Recycled to nurture per month", lambda v: format_count(v.recycle.below_per_month)),
            ("Wins among recycled, per month", lambda v: format_count(v.recycle.wins_missed_per_month)),
            ("Follow-up within (hours)", lambda v: f"{v.proposal.follow_up_hours:g}"),
            ("Accept/reject within (days)", lambda v: f"{v.proposal.accept_within_days:g}"),
            ("MQL commitment per month", lambda v: format_count(v.proposal.mql_per_month)),
            ("Minimum win rate", lambda v: format_rate(v.proposal.min_win_rate)),
            ("Inside the zone both accept", lambda v: '<span class="ok">yes</span>' if v.in_zone
             else '<span class="bad">no</span>'),
        ]
        head = "".join(f'<th style="color:{TEAM_COLOURS[t]}">{t.capitalize()}</th>' for t in TEAMS)
        body = "".join(f"<tr><td>{html.escape(label)}</td>"
                       + "".join(f"<td>{cell(self.views[t])}</td>" for t in TEAMS) + "</tr>"
                       for label, cell in rows)
        return f'<table class="compare"><tr><th></th>{head}</tr>{body}</table>'

    def _grade_table(self) -> str:
        tables = {t: self.views[t].by_grade for t in TEAMS}
        head = "".join(f"<th>{t.capitalize()}: MQLs/month</th><th>{t.capitalize()}: win rate</th>"
                       for t in TEAMS)
        body = ""
        for grade in self.engine.grades_:
            cells = "".join(f"<td>{format_count(tables[t].loc[grade, 'leads_per_month'])}</td>"
                            f"<td>{format_rate(tables[t].loc[grade, 'expected_win_rate'])}</td>"
                            for t in TEAMS)
            body += f"<tr><td>{html.escape(grade)}</td>{cells}</tr>"
        return f'<table class="compare"><tr><th>Grade</th>{head}</tr>{body}</table>'

    # --- the agreement -----------------------------------------------------------------------------

    def _record_form(self) -> widgets.VBox:
        style = {"description_width": "initial"}
        self.adopt = widgets.ToggleButtons(options=[("Marketing's proposal", "marketing"),
                                                    ("Sales's proposal", "sales")],
                                           description="Adopt", style={**style, "button_width": "auto"})
        self.adopt.add_class("adopt-choice")
        self.signer = {team: widgets.Text(description=f"Signed for {team}", placeholder="name",
                                          style=style, layout=widgets.Layout(width="60%"))
                       for team in TEAMS}
        for team, text in self.signer.items():
            text.add_class(f"signer-{team}")
        self.notes = widgets.Textarea(description="Notes", style=style,
                                      layout=widgets.Layout(width="80%", height="5em"))
        self.notes.add_class("agreement-notes")
        self.save_button = widgets.Button(description="Record agreement", button_style="success",
                                          icon="check", layout=widgets.Layout(width="16em", height="2.5em"))
        self.save_button.add_class("save-agreement")
        self.status = widgets.HTML()
        self.status.add_class("save-status")
        self.save_button.on_click(lambda _: self.save())
        return widgets.VBox([widgets.HTML("<h3>Record the agreement</h3>"), self.adopt,
                             *self.signer.values(), self.notes, self.save_button, self.status])

    def save(self) -> None:
        """Save the adopted proposal as the next agreement version; show the file or the error."""
        proposal = self.panels[self.adopt.value].proposal()
        try:
            saved = record_agreement(
                self.config.agreements_dir,
                model_version=str(self.engine.model_version_),
                thresholds={"mql": proposal.mql, "fast_track": proposal.fast_track,
                            "recycle": proposal.recycle},
                grade_cutoffs=self.engine.grade_cutoffs_,
                service_levels={"follow_up_hours": proposal.follow_up_hours,
                                "accept_within_days": proposal.accept_within_days,
                                "mql_per_month": int(proposal.mql_per_month),
                                "min_win_rate": proposal.min_win_rate},
                signed_by={team: self.signer[team].value for team in TEAMS},
                notes=self.notes.value)
        except AlignmentError as exc:
            self.status.value = f'<span class="bad save-error">{html.escape(exc.one_line())}</span>'
            return
        self.status.value = (f'<span class="ok save-ok" data-version="{saved.version}" '
                             f'data-path="{html.escape(str(saved.path))}">'
                             f'{html.escape(signed_line(saved)).capitalize()}</span>')


def _cautions_html(cautions: list[str]) -> str:
    """The fit's warnings and leakage findings, folded under one line the room sees at once."""
    if not cautions:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in cautions)
    noun = "caution" if len(cautions) == 1 else "cautions"
    return (f'<details class="cautions"><summary><b>{len(cautions)} {noun} about this scale</b> '
            f"(from the fit: read before trusting the numbers)</summary><ul>{items}</ul></details>")


KERNEL_LOGGERS = ("ipykernel.comm", "ipywidgets", "Comm", "comm")
"""Loggers that report a bad message from the page, traceback and server paths included."""


def keep_kernel_errors_off_the_page() -> None:
    """Send the kernel's comm errors to the server's log file, not to the page.

    A malformed ``comm_open`` (a widget protocol version that does not exist, say) makes ipykernel log the
    traceback; without a handler of its own that lands on the process's standard error, which the kernel
    relays to the page as a ``stream`` message, with the server's file paths. Voilà's
    ``show_tracebacks=False`` does not cover it. Served by ``alignment workshop`` (``ALIGNMENT_KERNEL_LOG``
    set), the loggers write to that file; in JupyterLab nothing changes.
    """
    path = os.environ.get("ALIGNMENT_KERNEL_LOG")
    if not path:
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    for name in KERNEL_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False


def build_workshop(config_path: str | Path | None, model_dir: str | Path | None = None) -> Workshop:
    """The workshop screen for a workspace and a model folder.

    Parameters
    ----------
    config_path : str, Path or None
        Workspace config; None = ``./alignment.toml``.
    model_dir : str, Path or None
        Model folder written by ``alignment fit``; None = the config's ``paths.model``.

    Returns
    -------
    Workshop
        An ``ipywidgets.VBox``; display it in a notebook (or serve it with Voilà).
    """
    config = find_config(config_path)
    engine = ThresholdEngine.from_model_dir(model_dir or config.model_dir, config)
    return Workshop(engine, config)
