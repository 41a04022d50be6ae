"""Signing the agreement: the values to be signed, each difference resolved, one click, one version.

The form lists what will be signed. Where the two proposals still differ on a threshold, that row asks
the room to resolve it (marketing's value, sales's value, or a value typed in); "Sign" stays disabled,
with one line saying what is missing, until every difference is resolved and both signers are named.
While saving the button is disabled, and a second click on the same values saves nothing (a double-click
is one version). The result reads "Agreement v3 signed — in force from 2026-12-01".
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets as widgets

from alignment.agreement import Agreement, effective_date
from alignment.exceptions import AlignmentError
from alignment.thresholds import threshold_order_problem
from alignment.wording import format_count, format_rate
from alignment.workshop.panels import TEAMS, THRESHOLDS

THRESHOLD_WORDS = {"mql": "MQL threshold (score ≥)", "fast_track": "Fast-track (score ≥)",
                   "recycle": "Recycle to nurture (score <)"}
LEVEL_WORDS = (("mql_per_month", "MQLs marketing delivers a month", "marketing"),
               ("min_win_rate", "Win rate sales needs", "sales"),
               ("follow_up_hours", "First touch within (hours)", "sales"),
               ("accept_within_days", "Accept or reject within (days)", "sales"))
"""Service levels as they are signed, with the team that sets each."""
TYPED = "typed"


@dataclass
class Difference:
    """One threshold the proposals differ on, and how the room resolved it."""

    name: str
    choice: widgets.ToggleButtons
    typed: widgets.BoundedIntText
    row: widgets.HBox
    values: tuple[float, float] | None = None

    def resolved(self) -> float | None:
        """The agreed value, or None while it is still open."""
        if self.values is None:
            return None
        if self.choice.value == TYPED:
            return float(self.typed.value)
        if self.choice.value in TEAMS:
            return self.values[TEAMS.index(self.choice.value)]
        return None


def _difference(name: str, on_change: Callable[[], None]) -> Difference:
    choice = widgets.ToggleButtons(options=[("", "marketing")], value=None, style={"button_width": "auto"})
    choice.add_class(f"resolve-{name.replace('_', '-')}")
    typed = widgets.BoundedIntText(value=0, min=0, max=100, step=1, layout=widgets.Layout(width="5em"),
                                   disabled=True)
    typed.add_class(f"typed-{name.replace('_', '-')}")
    label = widgets.HTML(f"<b>{html.escape(THRESHOLD_WORDS[name])}</b>: the proposals differ —",
                         layout=widgets.Layout(width="auto"))
    row = widgets.HBox([label, choice, typed], layout=widgets.Layout(display="none", align_items="center"))
    row.add_class("difference")
    difference = Difference(name, choice, typed, row)

    def changed(_change) -> None:
        typed.disabled = choice.value != TYPED
        on_change()

    choice.observe(changed, names="value")
    typed.observe(lambda _change: on_change(), names="value")
    return difference


class SigningForm:
    """The record form (a ``VBox`` in :attr:`box`); :meth:`update` feeds it both proposals.

    Parameters
    ----------
    sign : callable
        ``sign(thresholds, service_levels, signed_by, notes) -> Agreement``; raises ``AlignmentError``.
    """

    def __init__(self, sign: Callable[..., Agreement]) -> None:
        self._sign = sign
        self._saving = False
        self._last_signed: tuple | None = None
        self._proposals: dict[str, dict[str, float]] = {}
        self._levels: dict[str, float] = {}
        self._extra_notes = ""
        self.differences = {name: _difference(name, self.refresh) for name, _ in THRESHOLDS}
        self.summary = widgets.HTML()
        self.summary.add_class("to-sign")
        self.signer = {}
        for team in TEAMS:
            text = widgets.Text(description=f"Signed for {team}", placeholder="name",
                                style={"description_width": "9em"}, layout=widgets.Layout(width="28em"))
            text.add_class(f"signer-{team}")
            text.observe(lambda _change: self.refresh(), names="value")
            self.signer[team] = text
        self.notes = widgets.Textarea(description="Notes", style={"description_width": "9em"},
                                      layout=widgets.Layout(width="40em", height="3.5em"))
        self.notes.add_class("agreement-notes")
        self.button = widgets.Button(description="Sign the agreement", button_style="success", icon="check",
                                     disabled=True, layout=widgets.Layout(width="16em", height="2.4em"))
        self.button.add_class("save-agreement")
        self.button.on_click(lambda _button: self.save())
        self.missing = widgets.HTML()
        self.missing.add_class("sign-missing")
        self.status = widgets.HTML()
        self.status.add_class("save-status")
        self.box = widgets.VBox([self.summary, *(d.row for d in self.differences.values()),
                                 widgets.HBox([self.signer["marketing"], self.signer["sales"]]),
                                 self.notes, widgets.HBox([self.button, self.missing]), self.status])
        self.box.add_class("record-form")

    # --- what is to be signed ----------------------------------------------------------------------

    def update(self, proposals: dict[str, dict[str, float]], levels: dict[str, float],
               extra_notes: str = "") -> None:
        """Both proposals' thresholds and the service levels each team set; re-lists the differences."""
        self._proposals, self._levels, self._extra_notes = proposals, levels, extra_notes
        for name, difference in self.differences.items():
            values = (proposals["marketing"][name], proposals["sales"][name])
            if values[0] == values[1]:
                difference.values = None
                difference.row.layout.display = "none"
                continue
            if values != difference.values:  # new values: the room decides again
                difference.values = values
                options = [(f"Marketing's {values[0]:g}", "marketing"), (f"Sales's {values[1]:g}", "sales"),
                           ("Type it", TYPED)]
                difference.choice.options = options
                difference.choice.value = None
                difference.typed.value = int(round(sum(values) / 2))
                difference.typed.disabled = True
            difference.row.layout.display = "flex"
        self.refresh()

    def thresholds(self) -> dict[str, float | None]:
        """The thresholds to be signed (None where the proposals differ and nobody resolved it)."""
        agreed = {}
        for name, difference in self.differences.items():
            agreed[name] = (self._proposals["marketing"][name] if difference.values is None
                            else difference.resolved())
        return agreed

    def missing_items(self) -> list[str]:
        """What stands between the room and signing, in words (empty = ready)."""
        if not self._proposals:
            return ["no proposals yet"]
        agreed = self.thresholds()
        items = []
        for name, value in agreed.items():
            if value is None:
                low, high = self.differences[name].values
                items.append(f"choose the {THRESHOLD_WORDS[name].split(' (')[0]} ({low:g} or {high:g})")
        if not items and threshold_order_problem(agreed["recycle"], agreed["mql"], agreed["fast_track"]):
            items.append("keep recycle ≤ MQL ≤ fast-track in the agreed values")
        unnamed = [team for team in TEAMS if not self.signer[team].value.strip()]
        if unnamed:
            items.append("type the name of who signs for " + " and for ".join(unnamed))
        return items

    def _terms(self) -> tuple:
        agreed = self.thresholds()
        return (tuple(agreed.items()), tuple(sorted(self._levels.items())),
                tuple(self.signer[t].value.strip() for t in TEAMS), self.notes.value, self._extra_notes)

    def refresh(self) -> None:
        """Redraw the values to be signed and enable "Sign" only when nothing is missing."""
        if not self._proposals:
            return
        agreed = self.thresholds()
        rows = []
        for name, words in THRESHOLD_WORDS.items():
            value = agreed[name]
            shown = "<span class='bad'>to be resolved</span>" if value is None else f"{value:g}"
            rows.append(f"<tr><td>{html.escape(words)}</td><td>both teams</td><td>{shown}</td></tr>")
        for name, words, team in LEVEL_WORDS:
            value = self._levels[name]
            shown = format_rate(value) if name == "min_win_rate" else (
                format_count(value) if name == "mql_per_month" else f"{value:g}")
            rows.append(f"<tr><td>{html.escape(words)}</td><td>{team}</td><td>{shown}</td></tr>")
        extra = (f"<div class='extra-notes'>Added to the notes: {html.escape(self._extra_notes)}</div>"
                 if self._extra_notes else "")
        self.summary.value = ("<div class='panel-title'>To be signed</div><table class='compare sign-values'>"
                              "<tr><th>value</th><th>set by</th><th>signed</th></tr>" + "".join(rows)
                              + "</table>" + extra)
        missing = self.missing_items()
        unchanged = self._last_signed is not None and self._terms() == self._last_signed
        self.button.disabled = bool(missing) or self._saving or unchanged
        if missing:
            self.missing.value = f"<span class='bad'>To sign: {html.escape('; '.join(missing))}.</span>"
        elif unchanged:
            self.missing.value = "<span>Signed. Change a value to sign a new version.</span>"
        else:
            self.missing.value = ""

    # --- signing -----------------------------------------------------------------------------------

    def save(self) -> Agreement | None:
        """Sign the resolved values as the next version; show "Agreement vN signed — in force from …"."""
        if self._saving or self.missing_items():
            return None
        terms = self._terms()
        if terms == self._last_signed:  # a second click on the same values (a double-click)
            return None
        self._saving = True
        self.button.disabled = True
        try:
            notes = "\n".join(filter(None, [self.notes.value.strip(), self._extra_notes]))
            saved = self._sign(thresholds=self.thresholds(), service_levels=dict(self._levels),
                               signed_by={team: self.signer[team].value.strip() for team in TEAMS},
                               notes=notes)
        except AlignmentError as exc:
            self._saving = False
            self.status.value = f'<span class="bad save-error">{html.escape(exc.one_line())}</span>'
            self.refresh()
            return None
        self._saving = False
        self._last_signed = terms
        self.status.value = (f'<span class="ok save-ok" data-version="{saved.version}">Agreement '
                             f"v{saved.version} signed — in force from {effective_date(saved)}</span>")
        self.refresh()
        return saved
