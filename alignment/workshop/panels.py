"""Each team's panel: its thresholds, its own levers, its key numbers and the reasons a number is red.

Marketing proposes thresholds and commits to a volume (MQLs a month). Sales proposes thresholds, requires a
minimum win rate (and its capacity, when it differs from the config's) and promises its service levels
(first touch and accept/reject times). Every input changes something on screen: the zone, the key numbers,
the routing line, the promise line or the values to be signed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets as widgets

from alignment.thresholds import WEEKS_PER_MONTH, Proposal, ProposalView, ThresholdMetrics
from alignment.wording import format_count, format_rate

TEAMS = ("marketing", "sales")
TEAM_COLOURS = {"marketing": "#d95f02", "sales": "#1b6ca8"}
THRESHOLDS = (("mql", "MQL at score ≥"), ("fast_track", "Fast-track ≥"), ("recycle", "Recycle below"))
"""The thresholds both teams propose, with their slider labels."""
DESCRIPTION_WIDTH = "8.5em"
LEVER_WIDTH = "62%"


@dataclass(frozen=True)
class Lever:
    """One input a team owns: its name, its label, its unit and its range."""

    name: str
    label: str
    low: float
    high: float
    step: float
    integer: bool = False


LEVERS = {
    "marketing": (Lever("mql_per_month", "We deliver (MQLs/month)", 0, 10_000_000, 10, integer=True),),
    "sales": (Lever("min_win_rate", "We need (win rate %)", 0, 100, 0.5),
              Lever("capacity_per_week", "We can work (MQLs/week)", 1, 1_000_000, 5, integer=True),
              Lever("follow_up_hours", "First touch within (h)", 0.25, 720, 1),
              Lever("accept_within_days", "Accept/reject within (d)", 0.5, 90, 1)),
}
"""Each team's own levers (what it commits to, requires or promises), in the order shown."""


@dataclass
class TeamPanel:
    """One team's controls and what they mean, as widgets."""

    team: str
    sliders: dict[str, widgets.IntSlider]
    levers: dict[str, widgets.Widget]
    readout: widgets.HTML
    """The key numbers, the routing line, sales's promise and the reasons a number is red."""
    box: widgets.VBox

    @property
    def mql(self) -> widgets.IntSlider:
        return self.sliders["mql"]

    @property
    def fast_track(self) -> widgets.IntSlider:
        return self.sliders["fast_track"]

    @property
    def recycle(self) -> widgets.IntSlider:
        return self.sliders["recycle"]

    @property
    def controls(self) -> list[widgets.Widget]:
        return [*self.sliders.values(), *self.levers.values()]

    def thresholds(self) -> dict[str, float]:
        return {name: float(slider.value) for name, slider in self.sliders.items()}

    def lever(self, name: str) -> float:
        """A lever's value in the engine's units (a win rate as a share, not a percentage)."""
        value = float(self.levers[name].value)
        return value / 100 if name == "min_win_rate" else value

    def proposal(self, levels: dict[str, float]) -> Proposal:
        """This panel's thresholds with the service levels both teams set (``levels``)."""
        return Proposal(**self.thresholds(), follow_up_hours=levels["follow_up_hours"],
                        accept_within_days=levels["accept_within_days"],
                        mql_per_month=levels["mql_per_month"], min_win_rate=levels["min_win_rate"])

    def keep_ordered(self, moved: widgets.Widget) -> None:
        """Keep recycle <= MQL <= fast-track by pushing the other sliders along the one moved."""
        mql, fast_track, recycle = self.mql, self.fast_track, self.recycle
        if moved is mql:
            fast_track.value = max(fast_track.value, mql.value)
            recycle.value = min(recycle.value, mql.value)
        elif moved is fast_track:
            mql.value = min(mql.value, fast_track.value)
            recycle.value = min(recycle.value, mql.value)
        elif moved is recycle:
            mql.value = max(mql.value, recycle.value)
            fast_track.value = max(fast_track.value, mql.value)


def team_panel(team: str, thresholds: dict[str, float], levels: dict[str, float]) -> TeamPanel:
    """Build one team's panel, starting from ``thresholds`` and the team's own ``levels``."""
    style = {"description_width": DESCRIPTION_WIDTH}
    sliders = {}
    for name, label in THRESHOLDS:
        slider = widgets.IntSlider(value=int(round(thresholds[name])), min=0, max=100, step=1,
                                   description=label, continuous_update=False, style=style,
                                   layout=widgets.Layout(width="100%"))
        slider.add_class(f"{team}-{name.replace('_', '-')}-slider")
        sliders[name] = slider
    levers = {}
    for lever in LEVERS[team]:
        value = levels[lever.name] * (100 if lever.name == "min_win_rate" else 1)
        kind = widgets.BoundedIntText if lever.integer else widgets.BoundedFloatText
        control = kind(value=int(round(value)) if lever.integer else round(value, 2), min=lever.low,
                       max=lever.high, step=lever.step, description=lever.label, continuous_update=False,
                       style={"description_width": LEVER_WIDTH}, layout=widgets.Layout(width="100%"))
        control.add_class(f"lever-{lever.name.replace('_', '-')}")
        levers[lever.name] = control
    readout = widgets.HTML()
    title = widgets.HTML(f'<div class="panel-title">{team.capitalize()}\'s proposal</div>')
    box = widgets.VBox([title, *sliders.values(), *levers.values(), readout],
                       layout=widgets.Layout(flex="1 1 0", min_width="0"))
    box.add_class(f"{team}-panel")
    box.add_class("team-panel")
    return TeamPanel(team, sliders, levers, readout, box)


def readout_html(view: ProposalView, broken: list[str], levels: dict[str, float], team: str) -> str:
    """Everything under a panel's inputs: key numbers, routing, sales's promise, the reasons."""
    parts = [key_numbers(view, broken),
             f'<div class="routing">{html.escape(routing_line(view))}</div>']
    if team == "sales":
        promise = promise_line(view.mql, levels["follow_up_hours"], levels["accept_within_days"])
        parts.append(f'<div class="promise">{html.escape(promise)}</div>')
    parts.append(f'<div class="constraint-reasons">'
                 f'{reason_lines(view.mql, broken, levels["mql_per_month"], levels["min_win_rate"])}</div>')
    return "".join(parts)


def key_number(css_class: str, label: str, value: float, text: str, detail: str = "",
               broken: bool = False) -> str:
    """One big number with its label and detail (red, with class ``broken``, when it breaks a constraint)."""
    state = " bad broken" if broken else ""
    return (f'<div class="key-number"><span class="small">{html.escape(label)}</span>'
            f'<span class="big {css_class}{state}" data-value="{value!r}">{html.escape(text)}</span>'
            f'<span class="small">{html.escape(detail)}</span></div>')


def key_numbers(view: ProposalView, broken: list[str]) -> str:
    """The four numbers of a proposal's MQL threshold, each red where it breaks a constraint."""
    m = view.mql
    return ('<div class="key-numbers">'
            + key_number("mql-volume", "MQLs a month", m.leads_per_month, format_count(m.leads_per_month),
                         f"{format_count(m.wins_missed_per_month)} wins a month left below",
                         broken="commitment" in broken or "no_leads" in broken)
            + key_number("win-rate", "win rate we expect", m.expected_win_rate,
                         format_rate(m.expected_win_rate),
                         f"95%: {format_rate(m.win_rate_low)}–{format_rate(m.win_rate_high)}",
                         broken="win_rate" in broken)
            + key_number("wins-captured", "of last period's wins, this threshold would have caught",
                         m.wins_captured_share, format_rate(m.wins_captured_share))
            + key_number("capacity-used", "of sales capacity", m.capacity_used, format_rate(m.capacity_used),
                         f"{format_count(m.workload_per_week)} of {format_count(m.capacity_per_week)} a week",
                         broken="capacity" in broken)
            + "</div>")


def reason_lines(m: ThresholdMetrics, broken: list[str], commitment: float, min_rate: float) -> str:
    """One line per broken constraint, in words the room reads aloud; a green line when none is broken."""
    words = {
        "no_leads": "no lead scores this high: no MQLs at all",
        "commitment": f"below marketing's commitment: {format_count(m.leads_per_month)} of "
                      f"{format_count(commitment)} MQLs a month",
        "win_rate": f"below sales's minimum win rate: {format_rate(m.expected_win_rate)} expected, "
                    f"{format_rate(min_rate)} needed",
        "capacity": f"over sales capacity: {format_count(m.workload_per_week)} MQLs a week, capacity "
                    f"{format_count(m.capacity_per_week)}",
    }
    if not broken:
        return '<div class="ok in-zone">inside the zone both teams accept</div>'
    items = "".join(f'<li class="broken-{name.replace("_", "-")}">{html.escape(words[name])}</li>'
                    for name in broken)
    return f'<ul class="bad reasons">{items}</ul>'


def routing_line(view: ProposalView) -> str:
    """What the fast-track and recycle thresholds route."""
    fast, recycle = view.fast_track, view.recycle
    return (f"Fast-track ≥ {view.proposal.fast_track:g}: {format_count(fast.leads_per_month)} a month at "
            f"{format_rate(fast.expected_win_rate)} · recycled below {view.proposal.recycle:g}: "
            f"{format_count(recycle.below_per_month)} a month ({format_count(recycle.wins_missed_per_month)} "
            "wins a month among them)")


def promise_line(m: ThresholdMetrics, follow_up_hours: float, accept_within_days: float) -> str:
    """Sales's promise, in words, for the MQLs its threshold hands over."""
    per_week = m.leads_per_month / WEEKS_PER_MONTH
    return (f"Sales promises: every one of the {format_count(per_week)} MQLs a week touched within "
            f"{follow_up_hours:g} hours, accepted or rejected within {accept_within_days:g} days")
