"""The workshop screen: both proposals and the trade-off on one projector screen, the rest in tabs.

First screen (1280x720 and up, no scrolling): a one-line header (model, hold-out, capacity, deal value,
the agreement in force), the zone sentence in large type, then marketing's panel, the trade-off figure and
sales's panel side by side. Below, in tabs: what each proposal means (results only), the MQL threshold by
grade, the points scale in words, and the signing form.

Every change re-asks the :class:`~alignment.thresholds.ThresholdEngine` (well under a millisecond) and
updates the numbers in place, then the figure. Sliders and boxes report when released or confirmed
(``continuous_update=False``), which debounces updates.

Stable CSS classes for the browser tests and for anyone styling the page: ``.marketing-panel`` /
``.sales-panel`` hold ``.mql-volume``, ``.win-rate``, ``.wins-captured`` and ``.capacity-used`` (exact value
in ``data-value``; class ``broken`` when red), ``.constraint-reasons``, ``.routing`` and ``.promise``; the
zone sentence is ``.zone-note``; the form has ``.signer-marketing``, ``.signer-sales``, ``.agreement-notes``,
``.resolve-mql`` (…), ``.save-agreement``, ``.sign-missing`` and ``.save-status``.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import os
from pathlib import Path
from typing import NamedTuple

import ipywidgets as widgets
import numpy as np
import pandas as pd

from alignment.agreement import Agreement, effective_date, in_force_on, record_agreement
from alignment.config import Config, find_config
from alignment.exceptions import AlignmentError
from alignment.labels import TOP_ATTRIBUTES, biggest_movers
from alignment.model import POINTS
from alignment.scorecard import ENGAGEMENT_GRADES, FIT_GRADES
from alignment.thresholds import (
    ProposalView,
    ThresholdEngine,
    broken_constraints,
    companion_thresholds,
)
from alignment.wording import format_count, format_money, format_rate
from alignment.workshop.figure import FEASIBLE_COLOUR, TradeOffFigure
from alignment.workshop.panels import (
    TEAM_COLOURS,
    TEAMS,
    TeamPanel,
    readout_html,
    team_panel,
)
from alignment.workshop.signing import SigningForm

CSS = """
<style>
.alignment-workshop { --ws-font: clamp(13px, 1.02vw, 20px); font-size: var(--ws-font);
  --jp-widgets-font-size: var(--ws-font); --jp-widgets-inline-height: clamp(24px, 1.9vw, 36px);
  --jp-widgets-inline-label-width: 8.5em; }
.alignment-workshop .widget-label, .alignment-workshop .widget-readout, .alignment-workshop input,
.alignment-workshop textarea, .alignment-workshop button { font-size: var(--ws-font) !important; }
.alignment-workshop .widget-inline-hbox { margin: 1px 0; }
.alignment-workshop .ws-header { font-size: clamp(12px, 0.85vw, 17px); color: #333; line-height: 1.35; }
.alignment-workshop .ws-header b.title { font-size: clamp(15px, 1.2vw, 24px); color: #111; }
.alignment-workshop .zone-note { font-size: clamp(17px, 1.45vw, 30px); line-height: 1.25;
  margin: 2px 0 4px 0; }
.alignment-workshop .panel-title { font-size: clamp(16px, 1.3vw, 26px); font-weight: bold; margin: 2px 0; }
.alignment-workshop .key-numbers { display: grid; grid-template-columns: 1fr 1fr; gap: 2px 12px;
  margin: 4px 0; }
.alignment-workshop .key-number { display: flex; flex-direction: column; line-height: 1.15; }
.alignment-workshop .key-number .big { font-size: clamp(22px, 1.9vw, 38px); font-weight: bold; }
.alignment-workshop .key-number .small { font-size: clamp(11px, 0.8vw, 16px); color: #555; }
.alignment-workshop .routing, .alignment-workshop .promise { font-size: clamp(11px, 0.8vw, 16px);
  color: #333; line-height: 1.3; }
.alignment-workshop .widget-html-content { line-height: inherit; }
.alignment-workshop ul.reasons { margin: 2px 0; padding-left: 1.1em; font-size: clamp(12px, 0.9vw, 18px); }
.alignment-workshop .in-zone { font-size: clamp(12px, 0.9vw, 18px); }
.alignment-workshop table.compare { border-collapse: collapse; }
.alignment-workshop table.compare td, .alignment-workshop table.compare th {
  padding: 3px 12px; border-bottom: 1px solid #ddd; text-align: right; }
.alignment-workshop table.compare td:first-child, .alignment-workshop table.compare th:first-child {
  text-align: left; }
.alignment-workshop .ok { color: #1a7f37; font-weight: bold; }
.alignment-workshop .bad { color: #b42318; font-weight: bold; }
.alignment-workshop .team-panel { padding: 0 6px; }
.alignment-workshop .marketing-panel { border-top: 6px solid #d95f02; }
.alignment-workshop .sales-panel { border-top: 6px solid #1b6ca8; }
.alignment-workshop .figure-box { align-items: center; }
.alignment-workshop img.tradeoff-figure { max-height: calc(100vh - 9.5em); object-fit: contain; }
.alignment-workshop .lm-TabBar-tab { flex: 0 0 auto !important; min-width: max-content !important;
  font-size: var(--ws-font) !important; }
.alignment-workshop .grade-key, .alignment-workshop .scale-key { color: #444; margin: 4px 0; }
.alignment-workshop details.folded-attributes summary { cursor: pointer; font-weight: bold; }
body { margin: 0 !important; }
#rendered_cells, .jp-Notebook, .jp-Cell { padding: 0 !important; margin: 0 !important; }
.jp-OutputArea-output, .jp-Cell-outputWrapper { padding: 0 6px !important; }
</style>
"""

GRADE_KEY = (f"Grades: fit {FIT_GRADES[0]} = best fit … {FIT_GRADES[-1]} = weakest fit; engagement "
             f"{ENGAGEMENT_GRADES[0]} = most engaged … {ENGAGEMENT_GRADES[-1]} = least engaged (A1 is best).")
SIGN_TAB = "Sign the agreement"
TAB_TITLES = ("What each proposal means", "By grade", "The points scale", SIGN_TAB)


class Workshop(widgets.VBox):
    """The whole workshop screen (returned by :func:`build_workshop`).

    Parameters
    ----------
    engine : ThresholdEngine
        Fitted on the model's scored hold-out.
    config : Config
        The workspace config (service-level defaults, agreements folder, currency).
    points : DataFrame or None
        The model's points table (``points.csv``); None = not shown, with the reason.
    figure : TradeOffFigure, optional
        Drawn already (:func:`load_workshop` draws it before a page asks); default: drawn here.
    """

    def __init__(self, engine: ThresholdEngine, config: Config, points: pd.DataFrame | None = None,
                 figure: TradeOffFigure | None = None) -> None:
        self.engine = engine
        self.config = config
        self.currency = config.sales.currency
        self._read_agreement()
        thresholds, levels = self._starting_values()
        self.panels: dict[str, TeamPanel] = {team: team_panel(team, thresholds[team], levels)
                                             for team in TEAMS}
        self.figure = figure or TradeOffFigure(engine)
        self.header = widgets.HTML()  # the page's style rules ride with it (one widget fewer to load)
        self.zone_note = widgets.HTML()
        self.zone_note.add_class("zone-note")
        self.zone_tracks = widgets.HTML()  # the zone drawn on each MQL slider's track (a style rule)
        self.compare = widgets.HTML()
        self.compare.add_class("compare-table")
        self.grades = widgets.HTML()
        self.grades.add_class("grade-table")
        self.scale = widgets.HTML(points_html(points, config))
        self.scale.add_class("points-scale")
        self._form: SigningForm | None = None  # built when its tab is first opened (fewer widgets to load)
        figure_box = widgets.VBox([self.figure.image], layout=widgets.Layout(flex="1.5 1 0", min_width="0"))
        figure_box.add_class("figure-box")
        main = widgets.HBox([self.panels["marketing"].box, figure_box, self.panels["sales"].box],
                            layout=widgets.Layout(width="100%", align_items="flex-start"))
        main.add_class("workshop-main")
        self.tabs = widgets.Tab(children=[self.compare, widgets.VBox([self.grades]), self.scale,
                                          widgets.HTML("Opening the form…")], titles=TAB_TITLES)
        self.tabs.add_class("workshop-tabs")
        self.tabs.observe(self._on_tab, names="selected_index")
        super().__init__([self.header, self.zone_tracks, self.zone_note, main, self.tabs])
        self.add_class("alignment-workshop")
        self._holding = False
        for panel in self.panels.values():
            for control in panel.controls:
                control.observe(self._on_change(panel, control), names="value")
        self.views: dict[str, ProposalView] = {}
        self._draw_header()
        self.refresh()

    # --- start values ------------------------------------------------------------------------------

    def _read_agreement(self) -> None:
        """The agreement in force today (read once; an unreadable old version must not block the room)."""
        try:
            self._in_force = in_force_on(self.config.agreements_dir, dt.datetime.now(dt.UTC).date())
            self._agreement_error = None
        except AlignmentError as exc:
            self._in_force, self._agreement_error = None, exc

    def _starting_values(self) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """Both panels from the agreement in force; without one, each team where its own floor puts it."""
        config_levels = self.config.service_levels
        levels = {"mql_per_month": float(config_levels.mql_per_month),
                  "min_win_rate": float(config_levels.min_win_rate),
                  "follow_up_hours": float(config_levels.follow_up_hours),
                  "accept_within_days": float(config_levels.accept_within_days),
                  "capacity_per_week": float(self.engine.capacity_per_week_)}
        current = self._in_force
        if current is not None:
            t, s = current.thresholds, current.service_levels
            agreed = {"mql": t.mql, "fast_track": t.fast_track, "recycle": t.recycle}
            levels.update(mql_per_month=float(s.mql_per_month), min_win_rate=float(s.min_win_rate),
                          follow_up_hours=float(s.follow_up_hours),
                          accept_within_days=float(s.accept_within_days))
            return dict.fromkeys(TEAMS, agreed), levels
        curve = self.engine.curve_
        grid = curve["threshold"].to_numpy()
        # Marketing: the highest threshold that still delivers its volume; sales: the lowest that reaches
        # its win rate. Each is where that team's own constraint alone would put it.
        delivers = grid[curve["leads_per_month"].to_numpy() >= levels["mql_per_month"]]
        good = grid[np.nan_to_num(curve["expected_win_rate"].to_numpy()) >= levels["min_win_rate"]]
        starts = {"marketing": float(delivers.max()) if delivers.size else float(grid.min()),
                  "sales": float(good.min()) if good.size else float(grid.max())}
        thresholds = {}
        for team, mql in starts.items():
            mql = float(np.clip(round(mql), 0, 100))
            fast_track, recycle = companion_thresholds(self.engine, mql)
            thresholds[team] = {"mql": mql, "fast_track": fast_track, "recycle": recycle}
        return thresholds, levels

    # --- the header --------------------------------------------------------------------------------

    def _draw_header(self) -> None:
        engine = self.engine
        cautions = cautions_html(getattr(engine, "cautions_", []))
        self.header.value = CSS + (
            f'<div class="ws-header"><b class="title">Lead calibration workshop</b> · scoring model '
            f"<b>{html.escape(str(engine.model_version_))}</b> · {engine.n_leads_:,} hold-out leads over "
            f"{engine.months_:.1f} months, {engine.n_wins_:,} won · deal value "
            f"{html.escape(format_money(engine.deal_value_, self.currency))}<br>{self._agreement_line()}"
            f"{cautions}</div>")

    def _agreement_line(self) -> str:
        """Which agreement is in force, who signed it, on which model (and a warning when it is another)."""
        if self._agreement_error is not None:
            return f'<span class="agreement-line bad">{html.escape(self._agreement_error.one_line())}</span>'
        current = self._in_force
        if current is None:
            return ('<span class="agreement-line">No agreement is in force yet: each panel starts where '
                    "its team's own service level puts it.</span>")
        line = (f"In force: <b>agreement v{current.version}</b> from {effective_date(current)}, signed by "
                f"{html.escape(current.signed_by.marketing)} (marketing) and "
                f"{html.escape(current.signed_by.sales)} (sales) on model "
                f"{html.escape(current.model_version)}; both panels start from it.")
        if current.model_version != str(self.engine.model_version_):
            line += (' <b class="bad">It was signed on another model than this one '
                     f"({html.escape(str(self.engine.model_version_))}): its thresholds may not mean the "
                     "same here — agree and sign them again on this model.</b>")
        return f'<span class="agreement-line">{line}</span>'

    # --- updates -----------------------------------------------------------------------------------

    def _on_change(self, panel: TeamPanel, control: widgets.Widget):
        def handler(_change) -> None:
            if self._holding:
                return
            self._holding = True
            try:
                panel.keep_ordered(control)
            finally:
                self._holding = False
            self.refresh()

        return handler

    def levels(self) -> dict[str, float]:
        """The service levels as the two teams set them: marketing's volume, sales's rate and promises."""
        marketing, sales = self.panels["marketing"], self.panels["sales"]
        return {"mql_per_month": marketing.lever("mql_per_month"),
                "min_win_rate": sales.lever("min_win_rate"),
                "follow_up_hours": sales.lever("follow_up_hours"),
                "accept_within_days": sales.lever("accept_within_days")}

    def capacity_per_week(self) -> float:
        """Sales's capacity as sales states it (the config's unless changed in its panel)."""
        return max(self.panels["sales"].lever("capacity_per_week"), 1.0)

    def refresh(self) -> None:
        """Recompute every number and redraw (numbers first, so they show before the figure)."""
        levels = self.levels()
        min_volume, min_rate = levels["mql_per_month"], levels["min_win_rate"]
        capacity = self.capacity_per_week()
        self.views = {team: self.engine.evaluate(panel.proposal(levels), min_mql_per_month=min_volume,
                                                 min_win_rate=min_rate, capacity_per_week=capacity)
                      for team, panel in self.panels.items()}
        for team, panel in self.panels.items():
            view = self.views[team]
            broken = broken_constraints(view.mql, min_volume, min_rate)
            panel.readout.value = readout_html(view, broken, levels, team)
        zone = self.views["marketing"].zone
        self.zone_note.value = zone_sentence(zone, self.views["marketing"].optimum, capacity)
        self.zone_tracks.value = zone_track_style(zone.intervals)
        self.compare.value = comparison_table(self.views, self.currency)
        self.grades.value = grade_table(self.engine.grades_, self.views)
        if self._form is not None:
            self._update_form()
        mask = np.zeros(len(self.engine.grid_), dtype=bool)
        for lo, hi in zone.intervals:
            mask |= (self.engine.grid_ >= lo) & (self.engine.grid_ <= hi)
        self.figure.update(self.views, mask, min_volume, min_rate, capacity)

    @property
    def form(self) -> SigningForm:
        """The signing form (built on first use: opening its tab, or from code)."""
        if self._form is None:
            self._form = SigningForm(self._sign)
            self._update_form()
            children = list(self.tabs.children)
            children[TAB_TITLES.index(SIGN_TAB)] = self._form.box
            self.tabs.children = tuple(children)
            self.tabs.titles = TAB_TITLES
        return self._form

    def _on_tab(self, change) -> None:
        if change["new"] == TAB_TITLES.index(SIGN_TAB):
            self.form  # noqa: B018 (building it is the point)

    def _update_form(self) -> None:
        levels = self.levels()
        self._form.update({team: panel.thresholds() for team, panel in self.panels.items()}, levels,
                          extra_notes=self._capacity_note(self.capacity_per_week()))

    def _capacity_note(self, capacity: float) -> str:
        configured = self.engine.capacity_per_week_
        if abs(capacity - configured) < 0.5:
            return ""
        return (f"Agreed assuming sales can work {format_count(capacity)} MQLs a week (the config says "
                f"{format_count(configured)}).")

    # --- the agreement -----------------------------------------------------------------------------

    def _sign(self, *, thresholds: dict, service_levels: dict, signed_by: dict, notes: str) -> Agreement:
        saved = record_agreement(
            self.config.agreements_dir, model_version=str(self.engine.model_version_), thresholds=thresholds,
            grade_cutoffs=self.engine.grade_cutoffs_,
            service_levels={**service_levels, "mql_per_month": int(round(service_levels["mql_per_month"]))},
            signed_by=signed_by, notes=notes)
        self._read_agreement()
        self._draw_header()
        return saved

    def save(self) -> Agreement | None:
        """Sign what the form shows (as the "Sign" button does)."""
        return self.form.save()


def zone_sentence(zone, best, capacity_per_week: float) -> str:
    """The most important line on the screen: which MQL thresholds both teams accept, and the best one."""
    if zone.empty:
        return (f'<div class="bad">No MQL threshold meets both teams: {html.escape(zone.reason)}.</div>')
    ranges = ", ".join(f"{lo:g}–{hi:g}" if lo != hi else f"{lo:g}" for lo, hi in zone.intervals)
    optimum = (f" Best expected value: <b class='optimum'>{best.threshold:g}</b> "
               f"({format_count(best.leads_per_month)} a month at {format_rate(best.expected_win_rate)})."
               if best else "")
    return (f'<div>Both teams accept an MQL threshold of <b class="ok zone-range">{ranges}</b> '
            f"<span class='zone-terms'>(≥ {format_count(zone.min_mql_per_month)} MQLs a month, ≥ "
            f"{format_rate(zone.min_win_rate)} win rate, ≤ {format_count(capacity_per_week)} a week for "
            f"sales)</span>.{optimum}</div>")


TRACK_COLOUR = "#bdbdbd"
"""The sliders' own track colour (ipywidgets), outside the zone."""


def zone_track_style(intervals: list[tuple[float, float]]) -> str:
    """A style rule that paints the zone on both MQL sliders' tracks (the sliders run from 0 to 100)."""
    stops = [f"{TRACK_COLOUR} 0%"]
    for lo, hi in intervals:
        stops += [f"{TRACK_COLOUR} {lo:.2f}%", f"{FEASIBLE_COLOUR} {lo:.2f}%", f"{FEASIBLE_COLOUR} {hi:.2f}%",
                  f"{TRACK_COLOUR} {hi:.2f}%"]
    stops.append(f"{TRACK_COLOUR} 100%")
    selector = ", ".join(f".{team}-mql-slider .noUi-connects" for team in TEAMS)
    return (f'<style class="zone-track" data-intervals="{html.escape(repr(intervals))}">{selector} '
            f"{{ background: linear-gradient(to right, {', '.join(stops)}) !important; }}</style>")


def comparison_table(views: dict[str, ProposalView], currency: str) -> str:
    """What each proposal means, side by side: results only (the inputs are on the panels)."""
    money = lambda value: format_money(value, currency)  # noqa: E731
    rows = [
        ("MQLs a month", lambda v: format_count(v.mql.leads_per_month)),
        ("Win rate we expect", lambda v: format_rate(v.mql.expected_win_rate)),
        ("Win rates compatible with last period (95%)",
         lambda v: f"{format_rate(v.mql.win_rate_low)}–{format_rate(v.mql.win_rate_high)}"),
        ("Of last period's wins, this threshold would have caught",
         lambda v: format_rate(v.mql.wins_captured_share)),
        ("Wins a month it would have left below", lambda v: format_count(v.mql.wins_missed_per_month)),
        ("Sales workload a week", lambda v: f"{format_count(v.mql.workload_per_week)} of "
                                            f"{format_count(v.mql.capacity_per_week)}"),
        ("Pipeline handed to sales a month", lambda v: money(v.mql.pipeline_per_month)),
        ("Revenue we expect a month", lambda v: money(v.mql.expected_revenue_per_month)),
        ("Expected value a month (after the cost of working MQLs)",
         lambda v: money(v.mql.expected_value_per_month)),
        ("Fast-tracked a month", lambda v: format_count(v.fast_track.leads_per_month)),
        ("Win rate we expect when fast-tracked", lambda v: format_rate(v.fast_track.expected_win_rate)),
        ("Recycled to nurture a month", lambda v: format_count(v.recycle.below_per_month)),
        ("Wins a month among the recycled", lambda v: format_count(v.recycle.wins_missed_per_month)),
        ("Inside the zone both teams accept",
         lambda v: '<span class="ok">yes</span>' if v.in_zone else '<span class="bad">no</span>'),
    ]
    head = "".join(f'<th style="color:{TEAM_COLOURS[t]}">{t.capitalize()}</th>' for t in TEAMS)
    body = "".join(f"<tr><td>{html.escape(label)}</td>"
                   + "".join(f"<td>{cell(views[t])}</td>" for t in TEAMS) + "</tr>"
                   for label, cell in rows)
    return f'<table class="compare"><tr><th></th>{head}</tr>{body}</table>'


def grade_table(grades: list[str], views: dict[str, ProposalView]) -> str:
    """MQLs a month and the win rate we expect per grade, at each team's MQL threshold, with the key."""
    head = "".join(f"<th>{t.capitalize()}: MQLs a month</th><th>{t.capitalize()}: win rate we expect</th>"
                   for t in TEAMS)
    body = ""
    for grade in grades:
        cells = "".join(f"<td>{format_count(views[t].by_grade.loc[grade, 'leads_per_month'])}</td>"
                        f"<td>{format_rate(views[t].by_grade.loc[grade, 'expected_win_rate'])}</td>"
                        for t in TEAMS)
        body += f"<tr><td>{html.escape(grade)}</td>{cells}</tr>"
    return (f'<div class="grade-key">{html.escape(GRADE_KEY)}</div>'
            f'<table class="compare"><tr><th>Grade</th>{head}</tr>{body}</table>')


def points_html(points: pd.DataFrame | None, config: Config) -> str:
    """The points scale in words: the biggest movers open, the rest folded."""
    if points is None:
        return ("<div class='not-measured'>The points table is not shown: the model folder has no "
                f"{POINTS} (run <code>alignment fit</code> again).</div>")
    table = biggest_movers(points)
    half_life = config.scoring.default_half_life_days
    key = ("A lead's score is the sum of its points, one band per attribute (0–100). Attributes are in "
           "order of how far they move a score. \"Recent\" counts weigh each activity 1 on its day and "
           f"½ after {half_life:g} days (the half-life of <code>scoring</code>), so 0.9 is one visit a few "
           "days ago.")
    sections = []
    for rank, (attribute, bands) in enumerate(table.groupby("attribute", sort=False, observed=True)):
        rows = "".join(f"<tr><td>{html.escape(str(r.label))}</td><td class='points'>{r.points:+d}</td>"
                       f"<td>{r.leads:,}</td></tr>" for r in bands.itertuples())
        spread = int(bands["spread"].iloc[0])
        block = (f"<table class='compare scale-attribute'><tr><th>{html.escape(str(attribute))} "
                 f"(moves a score by up to {spread} points)</th><th>points</th><th>leads in training</th>"
                 f"</tr>{rows}</table>")
        sections.append((rank, block))
    shown = "".join(block for rank, block in sections if rank < TOP_ATTRIBUTES)
    folded = "".join(block for rank, block in sections if rank >= TOP_ATTRIBUTES)
    more = (f"<details class='folded-attributes'><summary>{len(sections) - TOP_ATTRIBUTES} more attributes "
            f"that move a score less</summary>{folded}</details>" if folded else "")
    return (f"<div class='scale-key'>{key}</div><div class='scale-columns' style='columns: 2 32em;'>"
            f"{shown}</div>{more}")


def cautions_html(cautions: list[str]) -> str:
    """The fit's warnings and leakage findings, folded under one line the room sees at once."""
    if not cautions:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in cautions)
    noun = "caution" if len(cautions) == 1 else "cautions"
    return (f' · <details class="cautions" style="display:inline"><summary style="display:inline">'
            f'<b class="bad">{len(cautions)} {noun} about this scale</b> (read before trusting the numbers)'
            f"</summary><ul>{items}</ul></details>")


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


def read_points(model_dir: Path) -> pd.DataFrame | None:
    """The model's points table, or None when the folder has none (the tab then says why)."""
    path = Path(model_dir) / POINTS
    try:
        return pd.read_csv(path, dtype={"band": str}, keep_default_na=False,
                           na_values={"low": [""], "high": [""], "win_rate_train": [""],
                                      "points_ci_low": [""], "points_ci_high": [""]})
    except (OSError, pd.errors.ParserError, ValueError):
        return None


class WorkshopParts(NamedTuple):
    """What a :class:`Workshop` is built from, and that does not depend on the agreement in force."""

    engine: ThresholdEngine
    config: Config
    points: pd.DataFrame | None
    figure: TradeOffFigure


def load_workshop(config_path: str | Path | None, model_dir: str | Path | None = None) -> WorkshopParts:
    """The slow part of opening the workshop: config, engine on the model's hold-out, points, the figure.

    Parameters
    ----------
    config_path : str, Path or None
        Workspace config; None = ``./alignment.toml``.
    model_dir : str, Path or None
        Model folder written by ``alignment fit``; None = the config's ``paths.model``.

    Returns
    -------
    WorkshopParts
        ``Workshop(*parts)`` is the screen.
    """
    config = find_config(config_path)
    folder = Path(model_dir or config.model_dir)
    engine = ThresholdEngine.from_model_dir(folder, config)
    return WorkshopParts(engine, config, read_points(folder), TradeOffFigure(engine))


def wait_for_the_page() -> None:
    """In a kernel Voilà preheated, wait until a page takes it (so the screen reads the agreement in force
    when the page opens, not when the kernel started); elsewhere (JupyterLab, papermill) return at once."""
    from voila.utils import wait_for_request

    wait_for_request()


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
    return Workshop(*load_workshop(config_path, model_dir))


__all__ = ["Workshop", "build_workshop", "keep_kernel_errors_off_the_page", "load_workshop",
           "wait_for_the_page"]
