"""The monthly review: load what a month needs, render it with papermill, keep an index of every month.

``alignment report`` calls :func:`run_report`. Each month is rendered into a temporary folder beside its
target (``<reports>/.YYYY-MM.<random>.rendering/``) and swapped into ``<reports>/YYYY-MM/`` only when the
executed notebook, the code-free HTML and ``metrics.json`` are all complete, so a failing or killed run never
leaves a half-written month and never destroys the previous render of that month. ``index.html`` is rebuilt
(atomically) from every month's ``metrics.json`` after each run.

The notebook (``notebooks/03_monthly_review.ipynb``) calls :func:`review_month`, which loads the workspace
once, scores only the months the review needs (the month and its trend window) and computes the numbers with
:mod:`alignment.review`.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alignment import review
from alignment.exceptions import AlignmentError, ReportError
from alignment.files import writable_folder
from alignment.notebook import REVIEW_NOTEBOOK as TEMPLATE
from alignment.review.sections import SCORE_COLUMNS, in_months, join_scores, no_value

FILES = ("review.html", "review.ipynb", "metrics.json", "summary.md", "review.pdf")
REPORTS_MARKER = ".alignment-reports"
"""The file that marks a reports folder as alignment's own (written when the folder is made or adopted)."""
RENDER_LOCK = ".render.lock"
INDEX_SIGNATURE = "<title>Monthly lead reviews</title>"
"""What the index alignment writes carries near its top (an index without it is someone else's file)."""
TREND_MONTHS = 6
LATEST = "latest"
"""Name of the temporary render folder while the month is still to be chosen by the notebook."""
PII_HINTS = ("name", "email", "e_mail", "mail", "phone", "mobile", "address", "contact")
"""Attribute names that suggest personal data: never shown in a report."""


# --- what a month needs -----------------------------------------------------------------------


@dataclass
class MonthReview:
    """Everything the review notebook shows for one month.

    Attributes
    ----------
    month : str
        ``YYYY-MM``.
    metrics : dict
        The JSON-ready numbers (``metrics.json``).
    cohort : DataFrame or None
        The month's scored leads without identifiers: ``score, probability, grade, campaign, source`` and
        the outcome (for figures only).
    baseline_scores : Series or None
        The model's validation-window scores (the drift baseline).
    """

    month: str
    metrics: dict
    cohort: pd.DataFrame | None = None
    baseline_scores: pd.Series | None = None
    notes: list[str] = field(default_factory=list)


def default_month(as_of: pd.Timestamp) -> str:
    """The last full month of the data: the last month that ended by ``as_of`` (the export moment).

    An export stamped at the month's last second (``2026-10-31 23:59:59``) covers October in full.
    """
    return str((pd.Timestamp(as_of) + pd.Timedelta(seconds=1)).to_period("M") - 1)


def months_with_data(leads: pd.DataFrame) -> list[str]:
    """Every month in which a lead was created or handed over, oldest first."""
    stamps = [leads[c] for c in ("created_at", "mql_at") if c in leads.columns]
    if not stamps:
        return []
    months = pd.concat(stamps).dropna().dt.to_period("M").unique()
    return sorted(str(m) for m in months)


def missing_months(leads: pd.DataFrame, done: set[str], as_of: pd.Timestamp) -> list[str]:
    """Full months with data (up to the last one that ended by ``as_of``) that have no render yet."""
    last = default_month(as_of)
    return [m for m in months_with_data(leads) if m not in done and m <= last]


def leads_in_month(leads: pd.DataFrame, month: str) -> int:
    """How many leads were created or handed over in ``month``."""
    period = review.month_period(month)
    hit = pd.Series(False, index=leads.index)
    for column in ("created_at", "mql_at"):
        if column in leads.columns:
            hit |= leads[column].dt.to_period("M") == period
    return int(hit.sum())


def _load_workspace(config_path: str | Path | None) -> tuple:
    """The review's first load step: the config and its workspace (checked before the slower model)."""
    from alignment.config import find_config
    from alignment.loader import load_workspace

    config = find_config(config_path)
    # A demo's ground truth is for checking a fit: a review never reads it (a million rows at 1M leads).
    without_truth = config.model_copy(update={"source": config.source.model_copy(update={"truth": None})})
    return config, load_workspace(without_truth)


def _load_model(config: Any, model_dir: str | Path | None) -> Any:
    """The review's second load step: the model folder (the config's unless one is given)."""
    from alignment.model import load_model

    return load_model(Path(model_dir) if model_dir else config.model_dir)


def _score_window(workspace: Any, model: Any, first: pd.Period, last: pd.Period) -> pd.DataFrame:
    """Score only the leads whose scoring moment (the scale's own) falls between ``first`` and ``last``."""
    leads = workspace.leads
    scoring = model.config.scoring
    at = review.scoring_moment(leads, scoring.moment, scoring.days_after_created)
    wanted = in_months(at, first, last)
    subset = leads[wanted]
    if subset.empty:
        return pd.DataFrame(columns=["lead_id", "score", "probability", "grade"])
    # The engine joins the events onto these leads: the rest of the history is never read into pandas. The
    # review shows no lead's reasons, so none are written.
    return model.score(subset, workspace.activities, n_reasons=0)


def agreement_for_month(folder: Path, period: pd.Period, version: str | int | None = None
                        ) -> tuple[Any, dict]:
    """The agreement a month is held to, and what the folder says of it.

    The version in force on the month's first day (or ``version`` when given); a version taking effect
    inside the month is named, not applied. The record holds the SHA-256 of the agreement's file, whether
    the history of versions is intact, and that sentence.

    Returns
    -------
    (Agreement or None, dict)
    """
    from alignment.agreement import (
        file_sha256,
        in_force_on,
        load_agreement,
        taking_effect_between,
        verify_history,
    )

    first, last = period.start_time.date(), (period.end_time).date()
    agreement = load_agreement(folder, version) if version is not None else in_force_on(folder, first)
    _, problem = verify_history(folder)
    record: dict[str, Any] = {"history": "agreement history intact" if problem is None else
                              f"agreement history NOT intact: {problem}"}
    if agreement is not None:
        record["sha256"] = file_sha256(agreement.path)
    later = taking_effect_between(folder, first, last)
    if later and version is None:
        held = f"v{agreement.version}" if agreement is not None else "no agreement"
        effects = "; ".join(f"v{a.version} takes effect on {a.effective_from}" for a in later)
        record["taking_effect"] = f"{effects}; this month is held to {held}"
    return agreement, record


def review_month(config_path: str | Path | None, month: str | None = None,
                 model_dir: str | Path | None = None, agreement_version: str | int | None = None,
                 trend_months: int = TREND_MONTHS) -> MonthReview:
    """Load the workspace, the scale and the agreement in force, and compute one month's review.

    Parameters
    ----------
    config_path : str or Path, optional
        The workspace config (default: ``./alignment.toml``).
    month : str, optional
        ``YYYY-MM``; default the last full month before the export date.
    model_dir : str or Path, optional
        The model folder (default: the config's ``paths.model``).
    agreement_version : str or int, optional
        An agreement version; default the one in force (the latest). None in force is allowed.
    trend_months : int
        Months before ``month`` shown in the trend.

    Returns
    -------
    MonthReview
    """
    if trend_months < 0:
        raise ValueError(f"trend_months must be >= 0, got {trend_months}")
    # In the review's kernel a progress bar would become a widget in the page: progress is for terminals.
    os.environ["TQDM_DISABLE"] = "1"

    config, workspace = _load_workspace(config_path)
    review.require_dates(workspace.leads, config.path)
    month = str(review.month_period(month)) if month else default_month(workspace.as_of)
    if not leads_in_month(workspace.leads, month):
        raise ReportError(f"no leads in {month}: nothing to review", file=str(config.path),
                          hint=_coverage_hint(workspace.leads))
    model = _load_model(config, model_dir)
    period = review.month_period(month)
    agreement, agreement_record = agreement_for_month(config.agreements_dir, period, agreement_version)
    # The moment and horizon the scale was fitted with (notebook 01 may override the config's): its
    # probabilities are wins within that horizon of that moment.
    scoring = model.config.scoring
    baseline = model.validation["score"] if model.validation is not None else None
    windows = (model.card.get("split") or {}).get("windows") or {}
    fitted = [pd.Timestamp(w["to"]) for name, w in windows.items() if name != "validation" and w.get("to")]
    # The engine aggregates the window's events on its own threads while pandas computes the sections that
    # need no score (the review only reads the leads: both threads may).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_score_window, workspace, model, period - trend_months, period)
        metrics = review.monthly_metrics(
            workspace.leads, period, as_of=workspace.as_of, scores=pending.result, baseline_scores=baseline,
            agreement=agreement, service_levels=config.service_levels.model_dump(),
            horizon_days=scoring.horizon_days, moment=scoring.moment,
            days_after_created=scoring.days_after_created, trend_months=trend_months,
            model_version=model.version, fitted_until=max(fitted) if fitted else None,
            validation=model.validation, agreement_record=agreement_record)
        scores = pending.result()
    cohort = review.scored_cohort(workspace.leads, scores, period, moment=scoring.moment,
                                  days_after_created=scoring.days_after_created)
    shown = [c for c in ("score", "probability", "grade", "campaign", "source", "outcome") if c in cohort]
    return MonthReview(month=month, metrics=metrics, cohort=cohort[shown].reset_index(drop=True),
                       baseline_scores=baseline)


@dataclass
class ScoredWindow:
    """The leads of a window of months, scored, for analysts (notebook 04).

    Attributes
    ----------
    leads : DataFrame
        Leads whose scoring moment falls in the window, with ``score, probability, grade, fit_grade,
        engagement_grade`` joined; contact details and the columns the config ignores are dropped.
    first, last : str
        The window, ``YYYY-MM``.
    mature : bool
        True when every lead's horizon has passed (win rates are final).
    demographics : list of str
        The config's demographics family present in the leads (for buyer personas).
    as_of : Timestamp
        The export moment.
    horizon_days : int
        The label horizon the scale was fitted with (wins count within it).
    """

    leads: pd.DataFrame
    first: str
    last: str
    mature: bool
    demographics: list[str]
    as_of: pd.Timestamp
    horizon_days: int


def last_mature_month(as_of: pd.Timestamp, horizon_days: int) -> str:
    """The last month whose leads have all had ``horizon_days`` to close by ``as_of``."""
    return str((pd.Timestamp(as_of) - pd.Timedelta(days=horizon_days) + pd.Timedelta(seconds=1))
               .to_period("M") - 1)


def scored_window(config_path: str | Path | None, model_dir: str | Path | None = None,
                  last_month: str | None = None, months: int = 12) -> ScoredWindow:
    """Load the workspace and the scale and score the leads of ``months`` months ending at ``last_month``.

    Parameters
    ----------
    config_path : str or Path, optional
        The workspace config.
    model_dir : str or Path, optional
        The model folder (default: the config's).
    last_month : str, optional
        ``YYYY-MM``; default the last month old enough for every lead's horizon to have passed, so that
        win rates are final rather than wins-so-far.
    months : int
        Length of the window.
    """
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    config, workspace = _load_workspace(config_path)
    model = _load_model(config, model_dir)
    scoring = model.config.scoring  # as the scale was fitted (see review_month)
    horizon = scoring.horizon_days
    last = review.month_period(last_month or last_mature_month(workspace.as_of, horizon))
    first = last - (months - 1)
    scores = _score_window(workspace, model, first, last)
    at = review.scoring_moment(workspace.leads, scoring.moment, scoring.days_after_created)
    in_window = in_months(at, first, last)
    leads = workspace.leads[in_window].assign(scored_at=at[in_window])
    # the loader's own list (the config's ignore list and contact details), and a wider net by name
    private = set(workspace.ignored) - {"lead_id"}
    private |= {c for c in leads.columns if any(h in c.lower() for h in PII_HINTS)}
    leads = leads.drop(columns=sorted(private & set(leads.columns)))
    leads = join_scores(leads, scores, [c for c in SCORE_COLUMNS if c in scores.columns])
    latest = at[in_window].max()
    mature = bool(len(leads)) and bool(latest + pd.Timedelta(days=horizon) <= workspace.as_of)
    demographics = [c for c in config.families.demographics if c in leads.columns]
    return ScoredWindow(leads=leads, first=str(first), last=str(last), mature=mature,
                        demographics=demographics, as_of=workspace.as_of, horizon_days=horizon)


def _coverage_hint(leads: pd.DataFrame) -> str:
    months = months_with_data(leads)
    return f"the data covers {months[0]} to {months[-1]}" if months else "the data has no dated leads"


def save_metrics(metrics: dict, path: str | Path) -> Path:
    """Write ``metrics.json`` deterministically (sorted keys, fixed indentation), atomically."""
    from alignment.notebook import write_atomic

    text = json.dumps(review.to_plain(metrics), sort_keys=True, indent=2, allow_nan=False) + "\n"
    write_atomic(path, text)
    return Path(path)


# --- what the notebook shows ------------------------------------------------------------------

STAGE_NAMES = {"inquiry": "Inquiries", "mql": "MQL", "sal": "SAL (accepted)", "sql": "SQL (qualified)",
               "won": "Won"}


VERDICT_MEANING = {
    "keep": ("Keep", "the scale and the agreement hold: nothing judged this month calls for a change."),
    "watch": ("Watch", "something is moving: nothing to change yet, look again next month."),
    "recalibrate": ("Recalibrate", "the scale or the thresholds no longer fit what sales sees: refit the "
                                   "scale and agree the thresholds again in a workshop."),
    "not judged": ("Not judged", "too little could be measured this month to say whether the agreement "
                                 "holds."),
}
"""The verdict's word and what it asks of the reader, for the banner at the top of the review."""


def held_line(metrics: dict) -> str:
    """What the month was held against (HTML): the agreement in force, a version taking effect inside the
    month, a model other than the one it was signed on, and whether the history of versions is intact."""
    agreement = metrics["agreement"]
    if agreement["in_force"]:
        # Signed by both teams; the signers' names stay in the agreement file and metrics.json, not on a page
        # that is mailed around.
        held = (f"Held against agreement v{agreement['version']}, in force from "
                f"{agreement.get('effective_from')}, signed by marketing and sales on model "
                f"{html.escape(str(agreement['model_version']))}.")
        if metrics.get("model_version") and agreement["model_version"] != metrics["model_version"]:
            held += (f" <b>The scores come from another model ({html.escape(str(metrics['model_version']))})"
                     "</b>: its thresholds may not mean what was agreed; agree them again in a workshop.")
    else:
        held = ("<b>No agreement is in force</b>: the service levels below are the workspace defaults, not "
                "judged.")
    if agreement.get("taking_effect"):
        held += f" {html.escape(agreement['taking_effect'].capitalize())}."
    if agreement.get("history"):
        held += f" {html.escape(agreement['history'].capitalize())}."
    return held


def first_screen(metrics: dict) -> str:
    """The top of the review as HTML: the verdict banner, why, each team's commitments, the next steps, and
    what the month was held against (the rest of the page is detail)."""
    word, meaning = VERDICT_MEANING[metrics["verdict"]]
    verdict_class = metrics["verdict"].replace(" ", "-")
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in metrics["reasons"])
    banner = f'<div class="verdict {verdict_class}"><h2>{metrics["month"]}: {word}</h2><p>{meaning}</p></div>'
    parts = [banner,
             f'<div class="why"><h3>Why</h3><ul>{reasons}</ul></div>', commitments_and_actions(metrics)]
    not_judged = "".join(f"<li><i>{html.escape(item['rule'].capitalize())}</i>: {html.escape(item['why'])}"
                         "</li>" for item in metrics.get("not_judged") or [])
    if not_judged:
        parts.append(f"<details><summary>Not judged this month, and why</summary><ul>{not_judged}</ul>"
                     "</details>")
    parts.append(f'<p class="held">{held_line(metrics)}</p>')
    return "\n".join(parts)


def commitments_and_actions(metrics: dict) -> str:
    """Each team's commitments (met / missed / not measured) side by side, then the next actions (HTML)."""
    items = metrics.get("commitments") or []
    parts = []
    if items:
        mark = {"met": "✔ met", "missed": "✘ missed", "not measured": "– not measured"}
        columns = []
        for team in ("marketing", "sales"):
            rows = "".join(
                f'<li class="{item["status"].replace(" ", "-")}"><b>{mark[item["status"]]}</b>: '
                f'{html.escape(item["commitment"])}{_delivered(item)}'
                + (f' <i>({html.escape(item["why"])})</i>' if item.get("why") else "") + "</li>"
                for item in items if item["team"] == team)
            columns.append(f'<div class="team"><h3>{team.capitalize()} promised</h3><ul>{rows}</ul></div>')
        parts.append('<div class="commitments" style="display:flex;gap:3em">' + "".join(columns) + "</div>")
    actions = metrics.get("actions") or []
    if actions:
        rows = "".join(f"<li><b>{html.escape(a['team'].capitalize())}</b>: {html.escape(a['action'])}</li>"
                       for a in actions)
        parts.append(f'<div class="actions"><h3>Next steps</h3><ul>{rows}</ul></div>')
    elif items:
        parts.append('<div class="actions"><h3>Next steps</h3>'
                     "<p>Nothing to do: every commitment measured was met.</p></div>")
    return "\n".join(parts)


def _delivered(item: dict) -> str:
    delivered = item.get("delivered")
    if delivered is None:
        return ""
    if isinstance(delivered, float) and delivered <= 1:
        return f" — delivered {delivered:.0%}" + (f" (agreed ≥ {item['promised']:.0%})"
                                                  if isinstance(item.get("promised"), float) else "")
    return f" — delivered {delivered:,}"


def summary_markdown(metrics: dict) -> str:
    """About fifteen lines of plain Markdown to paste into an e-mail or a chat channel: the verdict, why,
    each team's commitments and the next steps."""
    word, meaning = VERDICT_MEANING[metrics["verdict"]]
    lines = [f"**Lead review {metrics['month']}: {word}** — {meaning}", ""]
    lines += [f"- {reason}" for reason in metrics["reasons"][:3]]
    if len(metrics["reasons"]) > 3:
        lines.append(f"- … and {len(metrics['reasons']) - 3} more in the full review")
    commitments = metrics.get("commitments") or []
    if commitments:
        lines += ["", "**Commitments**"]
        for team in ("marketing", "sales"):
            own = [f"{c['commitment']}: {c['status']}" for c in commitments if c["team"] == team]
            lines.append(f"- {team.capitalize()}: " + "; ".join(own))
    else:
        lines += ["", "No agreement is in force: no commitment was judged."]
    actions = metrics.get("actions") or []
    lines += ["", "**Next steps**"] + ([f"- {a['team'].capitalize()}: {a['action']}" for a in actions]
                                      or ["- None this month."])
    return "\n".join(lines) + "\n"


def chromium_executable() -> str | None:
    """Chromium for printing the review to PDF: ``ALIGNMENT_CHROMIUM``, else ``chromium`` on the PATH."""
    candidate = (os.environ.get("ALIGNMENT_CHROMIUM") or shutil.which("chromium")
                 or shutil.which("chromium-browser"))
    return candidate if candidate and os.access(candidate, os.X_OK) else None


def print_pdf(html_path: Path, pdf_path: Path, *, paper: str = "A4", timeout: float = 120) -> Path | None:
    """Print the review to PDF with headless Chromium on A4 or Letter pages (no figure or table cut across a
    page); None without Chromium.

    Nothing is fetched: the page is self-contained and Chromium starts with its network features off.
    """
    import subprocess

    executable = chromium_executable()
    if executable is None:
        return None
    if paper not in ("A4", "Letter"):
        raise ValueError(f"paper must be 'A4' or 'Letter', got {paper!r}")
    with tempfile.TemporaryDirectory(prefix="alignment-pdf-") as profile:
        # The page's own @page rule is A4; a copy carries the paper asked for.
        printed = Path(profile) / "print.html"
        page = Path(html_path).read_text(encoding="utf-8")
        printed.write_text(page.replace("</head>", f"<style>@page {{ size: {paper}; }}</style></head>", 1),
                           encoding="utf-8")
        command = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={profile}/chromium", "--no-pdf-header-footer",
                   f"--print-to-pdf={pdf_path}", printed.as_uri()]
        try:
            subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
    if pdf_path.is_file() and pdf_path.read_bytes()[:4] == b"%PDF":
        return pdf_path
    pdf_path.unlink(missing_ok=True)  # never a half-printed file beside the review
    return None


FIGURE_SIZE = (7.5, 3.2)
"""Inches at 100 dpi: a chart about 750 px wide and 320 high, so that a section fits beside its words."""


def use_review_style() -> None:
    """Figures of the review: small, readable, embedded at a size that does not fill a screen each."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update({"figure.figsize": FIGURE_SIZE, "figure.dpi": 100, "savefig.bbox": "tight"})


def too_early(metrics: dict) -> str | None:
    """For a month whose leads have not all had their horizon: the sentence that replaces observed zeros."""
    calibration = metrics.get("calibration") or {}
    if not calibration.get("leads") or calibration.get("mature"):
        return None
    return (f"**Too early to judge the wins**: {calibration.get('leads_past_horizon', 0):,} of "
            f"{calibration['leads']:,} leads scored this month have reached their horizon "
            f"({calibration.get('days_to_maturity')} days until all have). The wins so far are a lower "
            "bound, not a verdict on the scale.")


def unusually_low_note() -> str:
    """The footnote of the campaign table, from the channel test's own constants."""
    from alignment.review.sections import CAMPAIGN_ACCEPTANCE_GAP, CAMPAIGN_P_VALUE

    return ("---\n¹ *Unusually low*: Fisher's exact test against the other campaigns of the month, below the "
            f"significance level ({CAMPAIGN_P_VALUE:g}) divided by the number of campaigns tested, and at "
            f"least {CAMPAIGN_ACCEPTANCE_GAP * 100:.0f} points below.")


def verdict_rules_text() -> str:
    """How the verdict is decided, in words, from the rules' own constants (the page states no number by
    hand)."""
    r = review
    return (
        "**How the verdict is decided.** *Recalibrate* when the month's scores have clearly drifted from the "
        f"leads the scale was checked on (a drift index of {r.PSI_DRIFTED:g} or more, beyond chance), "
        f"sales rejects more than {r.REJECTION_RECALIBRATE:.0%} of the MQLs it decided on, or a month whose "
        "leads have all had their horizon wins clearly fewer or more deals than promised. *Watch* when the "
        f"scores shift (a drift index of {r.PSI_WATCH:g} or more, beyond chance), more than "
        f"{r.REJECTION_WATCH:.0%} are rejected, a new or worsening campaign is accepted unusually rarely, or "
        f"— under an agreement — volume or speed of follow-up falls below {r.VOLUME_WATCH_SHARE:.0%} of what "
        "was agreed. *Not judged* when too little could be measured to say. Otherwise *keep*.")


def not_measured(metrics: dict, section: str) -> str | None:
    """The sentence saying why a section could not be measured from this export, or None."""
    return (metrics.get("not_measured") or {}).get(section)


def unmeasured_stages(stages) -> str:
    """One sentence naming the funnel stages the export has no dates for."""
    names = ", ".join(str(stage) for stage in stages)
    return (f"Not measured: {names} — the export has no date for these stages. Map the export's stage dates "
            "onto mql_at, sal_at and sql_at in the config [mapping] to follow leads through them.")


def table(rows: list[dict] | pd.DataFrame, columns: dict[str, str], percent: tuple[str, ...] = (),
          decimals: int = 1):
    """A table for a sales director: chosen columns, plain headings, percentages as ``42%``.

    Parameters
    ----------
    rows : list of dict or DataFrame
        The section of the metrics.
    columns : dict
        Column -> heading, in display order.
    percent : tuple of str
        Columns holding shares (0-1) shown as percentages.
    decimals : int
        Decimals of the other floats.
    """
    frame = pd.DataFrame(rows)
    frame = frame[[c for c in columns if c in frame.columns]].rename(columns=columns)
    # Campaign, source, team and reason values come from the export: shown as text, never as markup.
    # Booleans read as words, never as Python's True/False.
    frame = frame.apply(lambda column: column.map(
        lambda v: html.escape(v) if isinstance(v, str) else ({True: "yes", False: "no"}[v]
                                                             if isinstance(v, bool) else v)))
    formats = {h: f"{{:.{decimals}f}}" for c, h in columns.items()
               if h in frame and pd.api.types.is_float_dtype(frame[h])}
    formats.update({columns[c]: _percent for c in percent if c in columns and columns[c] in frame})
    # one call: a second Styler.format(dict) would reset the columns the first one formatted
    return frame.style.hide(axis="index").format(formats, na_rep="–")


def folded(summary: str, table) -> str:
    """A long table folded under one line the reader can open (``<details>``), as HTML."""
    body = table.to_html() if hasattr(table, "to_html") else str(table)
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


SPEED_CHART_MAX_BARS = 20
"""Up to this many teams or reps, speed-to-lead is a bar per group; beyond it a histogram of the groups'
medians (276 bars of reps are neither readable nor quick to draw) and the table folded."""


def _named_groups(speed: dict) -> pd.DataFrame:
    """The teams or reps of a speed-to-lead section, without the MQLs that have none (not a rep)."""
    groups = pd.DataFrame(speed["groups"])
    return groups[groups["group"] != no_value(speed["group_by"])]


def speed_chart(speed: dict):
    """Speed-to-lead by group against the agreed follow-up: a bar per group, or, for many groups, how many
    groups took how long (a histogram of their median hours). Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    group, agreed = speed["group_by"], speed["follow_up_hours"]
    fig, ax = plt.subplots()
    if len(speed["groups"]) <= SPEED_CHART_MAX_BARS:
        sns.barplot(data=pd.DataFrame(speed["groups"]), y="group", x="median_hours", color="seagreen", ax=ax)
        ax.set(xlabel="median hours to first touch", ylabel="", title=f"Speed to lead by {group}")
    else:
        named = _named_groups(speed)
        medians = pd.to_numeric(named["median_hours"], errors="coerce").dropna()
        sns.histplot(medians, bins=30, color="seagreen", ax=ax)
        ax.set(xlabel=f"median hours to first touch (one per {group})", ylabel=f"{group}s",
               title=f"{int((medians > agreed).sum())} of {len(named)} {group}s slower than the agreed "
                     f"{agreed:g} hours")
    ax.axvline(agreed, color="grey", ls="--", label=f"agreed: {agreed:g} hours")
    ax.legend()
    return fig


def speed_table(speed: dict) -> str:
    """The groups' speed-to-lead as an HTML table, folded under one line when there are many."""
    group = speed["group_by"]
    shown = table(speed["groups"], {"group": group.title(), "mqls": "MQLs", "median_hours": "Median hours",
                                    "share_within": "Touched in time"}, percent=("share_within",))
    if len(speed["groups"]) <= SPEED_CHART_MAX_BARS:
        return shown.to_html()
    named = len(_named_groups(speed))
    without = " and the MQLs without one" if named < len(speed["groups"]) else ""
    return folded(f"Every {group} ({named}){without}", shown)


def _percent(value: float | str) -> str:
    """``42%``; a rounding to zero is ``0%``, never ``-0%``; a word (why a figure is missing) as it is."""
    if isinstance(value, str):
        return value
    return f"{value + 0.0:.0%}".replace("-0%", "0%")


def channel_table(rows: list[dict], channel: str):
    """The campaign (or source) quality table, with a plain-words flag column."""
    frame = pd.DataFrame(rows)

    def flag(row: pd.Series) -> str:
        if not row["poor"]:
            return ""
        if row["new"]:
            return "poor, new"
        return "poor, worse than before" if row["worse"] else "poor, as before"

    frame["flag"] = frame.apply(flag, axis=1)
    # No closed lead yet is not a win rate of zero: say why the figure is missing.
    frame["win_rate"] = frame["win_rate"].astype(object).where(frame["win_rate"].notna(), "too early")
    before = frame["history_acceptance_rate"].astype(object)
    frame["history_acceptance_rate"] = before.where(before.notna(), "new: no history")
    return table(frame, {channel: channel.title(), "mqls": "MQLs", "acceptance_rate": "Accepted",
                         "history_acceptance_rate": "Accepted before", "win_rate": "Won (of closed so far)",
                         "mean_score": "Mean score", "flag": "Flag"},
                 percent=("acceptance_rate", "history_acceptance_rate", "win_rate"))


# --- rendering --------------------------------------------------------------------------------


def render_month(config: Any, month: str | None, *, model_dir: str | Path | None = None,
                 agreement_version: str | int | None = None, progress: bool = True,
                 template: str | Path | None = None, warm: Any = None) -> Path:
    """Render one month into ``<reports>/YYYY-MM/`` through a temporary sibling folder.

    The previous render of the month stays in place until the new one is complete. With ``month`` None the
    notebook reviews the last full month of the data it loads, and the folder is named after the month its
    ``metrics.json`` reports: choosing the month needs no load of the workspace outside the kernel. ``warm``
    is a kernel started ahead (:class:`alignment.notebook.Kernel`) to run the notebook in; default a new one.

    Returns
    -------
    Path
        The month's folder.
    """
    reports = _reports_folder(config.reports_dir)
    with _render_lock(reports, month or LATEST):
        return _render_locked(config, reports, month, model_dir=model_dir,
                              agreement_version=agreement_version, progress=progress, template=template,
                              warm=warm)


@contextlib.contextmanager
def _render_lock(reports: Path, what: str):
    """Hold the reports folder's lock: one render (or index rebuild) at a time; a second run waits, saying so.

    Under the lock, what a killed run left (a month set aside mid-swap, stale temporary folders) is recovered.
    """
    import fcntl

    import click

    with (reports / RENDER_LOCK).open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            click.echo(f"{holder}: waiting for it to finish before rendering {what}", err=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{what} is being rendered by process {os.getpid()}\n")
        handle.flush()
        try:
            _recover_all(reports)
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _recover_all(reports: Path) -> None:
    """Restore every month a killed run left set aside between the two renames of a swap."""
    for previous in reports.glob(".[0-9][0-9][0-9][0-9]-[0-9][0-9].previous"):
        _recover(reports, previous.name[1:8])


def _render_locked(config: Any, reports: Path, month: str | None, *, model_dir: str | Path | None,
                   agreement_version: str | int | None, progress: bool, template: str | Path | None,
                   warm: Any) -> Path:
    from alignment.notebook import execute, notebook_path, prefetch_modules, to_html, write_atomic

    _recover(reports, month or LATEST)
    if month is not None:
        _refuse_foreign_files(reports / month)
    # What this process needs once the kernel is done (the page, the index's figure) loads while it works.
    prefetch_modules(("nbconvert", "matplotlib.pyplot", "seaborn"))
    work = Path(tempfile.mkdtemp(prefix=f".{month or LATEST}.", suffix=".rendering", dir=reports))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(work, 0o777 & ~umask)  # mkdtemp makes 0700; a report folder is meant to be shared
    try:
        parameters = {"month": month, "config_path": str(config.path), "trend_months": TREND_MONTHS,
                      # absolute: the kernel runs in the temporary folder, not in the caller's
                      "model_dir": str(Path(model_dir).resolve()) if model_dir else None,
                      "agreement_version": None if agreement_version is None else str(agreement_version),
                      "metrics_path": str(work / "metrics.json")}
        executed = execute(template or notebook_path(TEMPLATE), work / "review.ipynb", parameters,
                           cwd=work, progress=progress, warm=warm)
        if not (work / "metrics.json").is_file():
            raise ReportError("the notebook finished without writing metrics.json",
                              file=str(template or TEMPLATE))
        if month is None:
            month = str(review.month_period(json.loads((work / "metrics.json").read_text("utf-8"))["month"]))
            _recover(reports, month)
            _refuse_foreign_files(reports / month)
        target = reports / month
        to_html(executed, work / "review.html", title=f"Monthly lead review {month}")
        metrics = json.loads((work / "metrics.json").read_text("utf-8"))
        if "verdict" in metrics:  # a review (another template may write other metrics)
            write_atomic(work / "summary.md", summary_markdown(metrics))
        print_pdf(work / "review.html", work / "review.pdf", paper=config.report.paper)
        _swap_into_place(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target


def _ours(entry: Path) -> bool:
    """Whether an entry of a reports folder is something alignment writes there (or the README's cron log)."""
    name = entry.name
    # the marker, the README's cron log, and a render's or the index's temporary and set-aside files
    if name in (REPORTS_MARKER, RENDER_LOCK, "cron.log") or re.fullmatch(r"\.(\d{4}-\d{2}|index\.html)\..+",
                                                                        name):
        return True
    if entry.is_dir() and re.fullmatch(r"\d{4}-\d{2}", name):
        return (entry / "metrics.json").is_file() or not any(entry.iterdir())
    if name == "index.html" and entry.is_file():
        with entry.open("rb") as handle:
            return INDEX_SIGNATURE.encode() in handle.read(4096)
    return False


def _reports_folder(reports: Path) -> Path:
    """The reports folder: made (and marked) if missing, refused in one line if alignment did not make it.

    A folder with the marker file is alignment's. An existing folder without it is adopted (and marked) only
    when everything in it is what alignment writes there (an earlier version's renders); a folder holding
    anything else (a hand-written ``index.html``, ``/etc``, the workspace itself) is never written into.
    """
    reports = Path(reports)
    try:
        reports.mkdir(parents=True, exist_ok=True)
        marker = reports / REPORTS_MARKER
        if not marker.is_file():
            foreign = sorted(entry.name for entry in reports.iterdir() if not _ours(entry))
            if foreign:
                more = f" and {len(foreign) - 3:,} more" if len(foreign) > 3 else ""
                shown = ", ".join(foreign[:3]) + more
                raise ReportError(f"the reports folder holds files alignment did not write ({shown}); it "
                                  "will not write reports or an index there", file=str(reports),
                                  hint="point [paths] reports in the config at a folder of its own (a new or "
                                       "empty one)")
            marker.write_text("This folder holds alignment's monthly reviews; `alignment report` writes "
                              "here.\n", encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot use the reports folder ({exc.strerror})", file=str(reports),
                          hint="point [paths] reports in the config at a folder you can write to") from None
    problem = writable_folder(reports)
    if problem:
        raise ReportError(f"the reports folder cannot be written ({problem})", file=str(reports),
                          hint="point [paths] reports at a folder you can write to, or fix its permissions")
    return reports


def _refuse_foreign_files(target: Path) -> None:
    """Refuse to replace a month folder holding files a render did not write: the swap would delete them."""
    foreign = sorted(p.name for p in target.iterdir() if p.name not in FILES) if target.is_dir() else []
    if foreign:
        raise ReportError(f"the month folder holds files a render did not write ({', '.join(foreign[:3])}); "
                          "a new render would delete them", file=str(target),
                          hint="move them out of the folder, then render again")


def _swap_into_place(work: Path, target: Path) -> None:
    """Replace ``target`` by ``work``; the old render is renamed aside first and deleted last."""
    previous = target.with_name(f".{target.name}.previous")
    if previous.exists():
        shutil.rmtree(previous)
    if target.exists():
        os.replace(target, previous)
    os.replace(work, target)
    shutil.rmtree(previous, ignore_errors=True)


def _recover(reports: Path, month: str) -> None:
    """Undo what a run killed mid-swap left: restore the previous render, drop stale temporary folders."""
    target, previous = reports / month, reports / f".{month}.previous"
    if previous.exists() and not target.exists():
        os.replace(previous, target)
    for stale in reports.glob(f".{month}.*.rendering"):
        shutil.rmtree(stale, ignore_errors=True)


def rendered_months(reports: Path) -> list[str]:
    """Months with a complete render under ``reports`` (a folder ``YYYY-MM`` holding ``metrics.json``)."""
    found = []
    for path in reports.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]"):
        if (path / "metrics.json").is_file():
            found.append(path.name)
    return sorted(found)


# --- the index --------------------------------------------------------------------------------


INDEX_SERIES = {
    "mqls": ("MQLs handed over", False),
    "acceptance_rate": ("Accepted by sales (SAL ÷ MQL)", True),
    "rejection_rate": ("Rejected by sales (of decided)", True),
    "share_touched_in_time": ("Touched within the follow-up hours", True),
    "median_hours_to_touch": ("Median hours to first touch", False),
    "psi": ("Score drift (PSI)", False),
}


def _index_rules() -> dict[str, list[tuple[float, str, str]]]:
    """The verdict's lines on the index's charts, each labelled with what it means."""
    return {"psi": [(review.PSI_WATCH, f"watch from {review.PSI_WATCH:g}", "orange"),
                    (review.PSI_DRIFTED, f"recalibrate from {review.PSI_DRIFTED:g}", "red")],
            "rejection_rate": [(review.REJECTION_RECALIBRATE,
                                f"recalibrate above {review.REJECTION_RECALIBRATE:.0%}", "red")],
            "share_touched_in_time": [(review.SPEED_WATCH_SHARE,
                                       f"watch below {review.SPEED_WATCH_SHARE:.0%} (under an agreement)",
                                       "orange")]}


def _trend_png(frame: pd.DataFrame) -> str:
    """Small-multiple trend lines of the key numbers, as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    columns = [c for c in INDEX_SERIES if c in frame and frame[c].notna().any()]
    fig, axes = plt.subplots(2, 3, figsize=(14, 6.5), sharex=True)
    step = max(1, int(np.ceil(len(frame) / 6)))  # at most six month labels, written flat
    rules = _index_rules()
    for ax, column in zip(axes.flat, columns, strict=False):
        sns.lineplot(x=frame["month"], y=frame[column].astype(float), marker="o", ax=ax)
        ax.set_title(INDEX_SERIES[column][0], fontsize=13)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.set_ylim(bottom=0, top=1 if INDEX_SERIES[column][1] else None)  # counts and rates start at zero
        if INDEX_SERIES[column][1]:
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        for value, label, colour in rules.get(column, []):
            ax.axhline(value, color=colour, lw=1, ls="--", label=label)
            ax.set_ylim(top=max(ax.get_ylim()[1], value * 1.15))  # every rule's line in view
        if column in rules:
            ax.legend(fontsize=9, frameon=False, loc="best")
    for ax in axes.flat[len(columns):]:
        ax.set_visible(False)
    for ax in axes.flat:
        ax.set_xticks(range(0, len(frame), step))
        ax.set_xticklabels(frame["month"].iloc[::step], rotation=0, fontsize=10)
        ax.tick_params(axis="y", labelsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def build_index(reports: str | Path) -> Path:
    """Rebuild ``<reports>/index.html``: every rendered month, its verdict and trend lines (atomically).

    Returns
    -------
    Path
        The index file.
    """
    reports = _reports_folder(Path(reports))
    with _render_lock(reports, "the index"):
        return _build_index_locked(reports)


def _build_index_locked(reports: Path) -> Path:
    from alignment.notebook import write_atomic

    rows = []
    for month in rendered_months(reports):
        metrics = json.loads((reports / month / "metrics.json").read_text(encoding="utf-8"))
        own = next((r for r in metrics.get("trend", []) if r["month"] == month), {})
        rows.append({**own, "month": month, "verdict": metrics.get("verdict"),
                     "reasons": metrics.get("reasons", []),
                     "agreement": (metrics.get("agreement") or {}).get("version"),
                     "commitments": metrics.get("commitments") or []})
    body = ["<h1>Monthly lead reviews</h1>"]
    if not rows:
        body.append("<p>No month has been rendered yet: run <code>alignment report</code>.</p>")
    else:
        frame = pd.DataFrame(rows)
        body.append(f'<img alt="trend of the key numbers" src="data:image/png;base64,{_trend_png(frame)}">')
        body.append("<table><thead><tr><th>Month</th><th>Verdict</th><th>MQLs</th><th>Accepted</th>"
                    "<th>Median hours to touch</th><th>PSI</th><th>Agreement</th><th>Commitments</th>"
                    "<th>Why</th></tr>"
                    "</thead><tbody>")
        for row in reversed(rows):
            body.append(
                f'<tr><td><a href="{row["month"]}/review.html">{row["month"]}</a></td>'
                f'<td class="{html.escape(str(row["verdict"]).replace(" ", "-"))}">'
                f'{html.escape(str(row["verdict"]))}</td>'
                f"<td>{_cell(row.get('mqls'), '{:.0f}')}</td>"
                f"<td>{_cell(row.get('acceptance_rate'), '{:.0%}')}</td>"
                f"<td>{_cell(row.get('median_hours_to_touch'), '{:.1f}')}</td>"
                f"<td>{_cell(row.get('psi'), '{:.2f}')}</td>"
                f"<td>{'v' + str(row['agreement']) if row['agreement'] else 'none in force'}</td>"
                f"<td>{_commitment_cell(row['commitments'])}</td>"
                f"<td>{html.escape(row['reasons'][0]) if row['reasons'] else ''}"
                + (f" <i>(+{len(row['reasons']) - 1} more in the month's review)</i>"
                   if len(row["reasons"]) > 1 else "") + "</td></tr>")
        body.append("</tbody></table>")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Monthly lead reviews</title>"
        "<style>body{font-family:sans-serif;margin:2em auto;max-width:1400px;font-size:16px}"
        "table{border-collapse:collapse}"
        "td,th{border-bottom:1px solid #ddd;padding:6px 10px;text-align:left;font-size:16px}"
        "td{vertical-align:top}"
        "td:nth-child(-n+6){white-space:nowrap}"
        ".keep{color:#1a7f37}.watch{color:#b35900}.recalibrate{color:#c00;font-weight:bold}"
        "img{max-width:100%}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = reports / "index.html"
    write_atomic(path, page)
    return path


def _commitment_cell(commitments: list[dict]) -> str:
    """``marketing 2/2 met · sales 1/2 met`` (``–`` without an agreement)."""
    if not commitments:
        return "–"
    cells = []
    for team in ("marketing", "sales"):
        own = [c for c in commitments if c["team"] == team]
        measured = [c for c in own if c["status"] != "not measured"]
        met = sum(c["status"] == "met" for c in measured)
        cells.append(f"{team} {met}/{len(measured)} met" if measured else f"{team} not measured")
    return " · ".join(cells)


def _planning_config(config: Any) -> Any:
    """The config to load the leads with for choosing months: without the activities when it can.

    Choosing the months needs only the leads' dates and the export moment. The activities (the bulk of a large
    workspace: 20M rows for 1M leads) only matter when the config does not fix ``scoring.as_of``, because
    the export moment is then the latest timestamp in the data, activities included. The notebook loads
    everything again in its kernel either way.
    """
    if config.scoring.as_of is None:
        return config
    return config.model_copy(update={"source": config.source.model_copy(update={"activities": None,
                                                                                "truth": None})})


def _cell(value: Any, fmt: str) -> str:
    return "–" if value is None or (isinstance(value, float) and pd.isna(value)) else fmt.format(value)


# --- the command ------------------------------------------------------------------------------


def run_report(config_path: str | Path | None, month: str | None = None, all_missing: bool = False,
               skip_existing: bool = False, *, model_dir: str | Path | None = None,
               agreement_version: str | int | None = None, progress: bool = True,
               template: str | Path | None = None, warm: Any = None) -> bool:
    """Render the monthly review(s) and rebuild the index (the ``alignment report`` command).

    Parameters
    ----------
    config_path : str or Path, optional
        The workspace config (default: ``./alignment.toml``).
    month : str, optional
        ``YYYY-MM``; default the last full month before the export date.
    all_missing : bool
        Render every month with data that has no render yet (``month`` is then ignored).
    skip_existing : bool
        Leave a month that already has a complete render as it is.
    model_dir, agreement_version : optional
        Override the model folder and the agreement version.
    progress : bool
        Show progress (months and notebook cells).
    template : str or Path, optional
        Another review notebook (tests use it to provoke failures).
    warm : alignment.notebook.Kernel, optional
        A kernel started ahead, warming up while this loads: the first month renders in it (a kernel runs
        one notebook; the caller shuts it down).

    Returns
    -------
    bool
        True when every requested month was rendered (or skipped as already rendered).

    Raises
    ------
    AlignmentError
        Bad config or data, a month with no leads, or the first month that failed (with the cell).
    """
    import click
    from tqdm.auto import tqdm

    from alignment.config import find_config
    from alignment.loader import load_workspace

    config = find_config(config_path)
    if month is not None and all_missing:
        raise ReportError("give either --month or --all-missing, not both")
    reports = _reports_folder(config.reports_dir)  # before any work: a folder that cannot be made is one line
    done = set(rendered_months(reports))
    months: list[str | None]
    if month is None and not all_missing and not skip_existing:
        # The default month is the notebook's own choice from the workspace it loads anyway (it refuses a
        # month without leads): loading the workspace here too, only to choose it, would load it twice.
        months = [None]
    else:
        workspace = load_workspace(_planning_config(config))
        review.require_dates(workspace.leads, config.path)
        if all_missing:
            months = list(missing_months(workspace.leads, done, workspace.as_of))
            if not months:
                click.echo("every month with data is already rendered", err=True)
        else:
            months = [str(review.month_period(month)) if month else default_month(workspace.as_of)]
            if not leads_in_month(workspace.leads, months[0]):
                raise ReportError(f"no leads in {months[0]}: nothing to review, nothing rendered",
                                  file=str(config.path), hint=_coverage_hint(workspace.leads))
            if skip_existing and months[0] in done:
                click.echo(f"{months[0]}: already rendered, left as it is ({reports / months[0]})", err=True)
                months = []
        del workspace  # the notebook loads its own copy in the kernel
    if months:  # fail before starting a kernel when there is no scale to review with
        from alignment.model import load_model

        load_model(Path(model_dir) if model_dir else config.model_dir)
    failures: list[str] = []
    bar = tqdm(months, desc="monthly reviews", unit="month",
               disable=None if progress and len(months) > 1 else True)
    for current in bar:
        bar.set_postfix_str(current or "")
        kernel, warm = warm, None  # a kernel runs one notebook, even one that failed
        try:
            target = render_month(config, current, model_dir=model_dir, agreement_version=agreement_version,
                                  progress=progress and len(months) == 1, template=template, warm=kernel)
        except AlignmentError as exc:
            if not all_missing:
                raise
            failures.append(str(current))
            click.echo(f"error: {current}: {exc.one_line()}", err=True)
            continue
        click.echo(f"{target.name}: {target / 'review.html'}", err=True)
        click.echo(f"{target.name}: summary for e-mail: {target / 'summary.md'}", err=True)
        if not (target / "review.pdf").is_file():
            click.echo(f"{target.name}: review.pdf skipped: no Chromium found (apt-get install chromium, or "
                       "set ALIGNMENT_CHROMIUM)", err=True)
    index = build_index(reports)
    click.echo(f"index: {index}", err=True)
    return not failures
