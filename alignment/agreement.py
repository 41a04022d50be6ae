"""Signed, versioned agreements between marketing and sales.

An agreement records the thresholds both teams accept (MQL, fast-track, recycle), the grade
cut-offs of the model it was made on, the service levels each side promises, who signed for
each team, and notes. Each version is one human-readable YAML file in ``config.agreements_dir``
named ``agreement-v{N:04d}-{YYYYmmddTHHMMSS}.yaml``.

Versions are append-only: a file is written to a temporary name, flushed to disk, then
hard-linked to its final name (a link never replaces an existing file), all under an exclusive
lock on the folder so two saves at the same moment get two different version numbers. The
version in force on a day is the highest one whose ``effective_from`` is on or before that day (a
renegotiated agreement may take effect later than it was signed, and a month is always judged by the terms
in force on its first day).

**Tamper evidence.** Each file ends with a ``# sha256:`` line over everything above it, and records the
SHA-256 of the previous version's whole file (``previous_sha256``): :func:`verify_history` names the first
version whose bytes changed after it was saved, a value or a comment alike.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import click
import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from alignment.exceptions import AgreementError
from alignment.thresholds import threshold_order_problem

SEAL_PREFIX = "# sha256: "
FILE_PATTERN = re.compile(r"^agreement-v(\d{4,})-(\d{8}T\d{6})\.yaml$")
LOCK_NAME = ".agreements.lock"

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Characters that never belong in a name: newlines, tabs, terminal escapes."""

Signer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thresholds(_Strict):
    """Score thresholds (0-100): recycle <= mql <= fast_track."""

    mql: float = Field(ge=0, le=100)
    fast_track: float = Field(ge=0, le=100)
    recycle: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        problem = threshold_order_problem(self.recycle, self.mql, self.fast_track)
        if problem:
            raise ValueError(problem)
        return self


class ServiceLevels(_Strict):
    """What each side promises: sales follows up and accepts/rejects in time; marketing
    delivers the volume at the quality."""

    follow_up_hours: float = Field(gt=0)
    accept_within_days: float = Field(gt=0)
    mql_per_month: int = Field(ge=0)
    min_win_rate: float = Field(ge=0, le=1)


class Signatures(_Strict):
    marketing: Signer
    sales: Signer


class Agreement(_Strict):
    """One version of the agreement (fields as in docs/architecture.md, "Agreements").

    ``version``, ``signed_at`` and ``previous_sha256`` are assigned by :func:`save_agreement`; leave them
    unset. ``effective_from`` defaults to the day it is signed.
    """

    version: int | None = Field(None, ge=1)
    signed_at: dt.datetime | None = Field(None, validation_alias=AliasChoices("signed_at", "created_at"))
    """UTC, naive (files written before effective dates call it ``created_at``)."""
    effective_from: dt.date | None = None
    """The first day the agreement holds; a month is judged by the version in force on its first day."""
    previous_sha256: str | None = None
    """SHA-256 of the previous version's file (None for v1)."""
    model_version: str
    thresholds: Thresholds
    grade_cutoffs: dict[str, dict[str, float]] = Field(default_factory=dict)
    """``{"fit": {"A": lowest fit score of grade A, ...}, "engagement": {"1": ..., ...}}``."""
    service_levels: ServiceLevels
    signed_by: Signatures
    notes: str = ""

    @property
    def created_at(self) -> dt.datetime | None:
        """The signing moment (the field's earlier name)."""
        return self.signed_at

    # Not part of the file: where it was read from / written to.
    path: Path | None = Field(None, exclude=True)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    if err["loc"][:1] == ("signed_by",) and err["type"] in ("string_too_short", "missing"):
        return f"the agreement needs a signer for {err['loc'][-1]}"
    message = err["msg"].removeprefix("Value error, ")
    return f"'{where}': {message}" if where else message


def make_agreement(**fields) -> Agreement:
    """Build an :class:`Agreement`, turning a validation problem into one :class:`AgreementError` line.

    Parameters
    ----------
    **fields
        The fields of :class:`Agreement` (nested sections as dicts).
    """
    try:
        agreement = Agreement.model_validate(fields)
    except ValidationError as exc:
        raise AgreementError(_first_error(exc),
                             hint="fill in both signers and consistent thresholds, then save again") from None
    for team in ("marketing", "sales"):
        if CONTROL_CHARACTERS.search(getattr(agreement.signed_by, team)):
            # A newline or an escape sequence in a name could forge lines of `agreement list`.
            raise AgreementError(f"the {team} signer's name holds a control character (a newline, tab or "
                                 "terminal escape)", hint="type the name only, on one line")
    return agreement


def printable(text: str) -> str:
    """Text with control characters shown as escapes (``\\x1b``), for a terminal line."""
    return CONTROL_CHARACTERS.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Exclusive lock on the agreements folder (threads and processes alike: one open file each)."""
    with open(folder / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _versions(folder: Path) -> dict[int, Path]:
    found: dict[int, Path] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = FILE_PATTERN.match(path.name)
            if match:
                found[int(match.group(1))] = path
    return found


def _to_yaml(agreement: Agreement) -> str:
    data = agreement.model_dump(mode="json")
    header = (f"# Lead agreement v{agreement.version} between marketing and sales, signed "
              f"{agreement.signed_at:%Y-%m-%d %H:%M} UTC, in force from {agreement.effective_from}.\n"
              "# Never edit a saved version: sign a new one instead (`alignment agreement verify` would name "
              "the change).\n")
    body = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return body + f"{SEAL_PREFIX}{hashlib.sha256(body.encode()).hexdigest()}\n"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (what the next version and metrics.json record)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _sealed(path: Path) -> bool:
    return SEAL_PREFIX.encode() in path.read_bytes()[-200:]


def _seal_broken(path: Path) -> bool:
    """Whether a file's closing ``# sha256:`` line no longer matches what stands above it."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    body, _, last = text.rstrip("\n").rpartition("\n")
    if not last.startswith(SEAL_PREFIX):
        return True
    return hashlib.sha256((body + "\n").encode()).hexdigest() != last.removeprefix(SEAL_PREFIX).strip()


def save_agreement(agreement: Agreement, folder: str | Path) -> Agreement:
    """Save ``agreement`` as the next version in ``folder``; never overwrites a version.

    Parameters
    ----------
    agreement : Agreement
        Signed by both teams (else :class:`AgreementError`).
    folder : str or Path
        The agreements folder (``config.agreements_dir``); created if missing.

    Returns
    -------
    Agreement
        A copy with ``version``, ``created_at`` and ``path`` set.
    """
    # Re-validate: a model built with model_construct or mutated after creation must still be complete.
    fields = agreement.model_dump(exclude={"version", "signed_at", "previous_sha256", "path"}, warnings=False)
    agreement = make_agreement(**fields)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AgreementError(f"cannot create the agreements folder ({exc.strerror})",
                             file=str(folder)) from None
    with _folder_lock(folder):
        versions = _versions(folder)
        version = max(versions, default=0) + 1
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        previous = file_sha256(versions[max(versions)]) if versions else None
        saved = agreement.model_copy(update={"version": version, "signed_at": now,
                                             "effective_from": agreement.effective_from or now.date(),
                                             "previous_sha256": previous})
        final = folder / f"agreement-v{version:04d}-{now:%Y%m%dT%H%M%S}.yaml"
        try:
            _write_new(final, _to_yaml(saved))
        except FileExistsError:
            raise AgreementError("an agreement file with this version already exists", file=str(final),
                                 hint="save again; versions are never overwritten") from None
    return saved.model_copy(update={"path": final})


def _write_new(path: Path, text: str) -> None:
    """Write ``text`` to a temporary sibling, then hard-link it to ``path``.

    The link fails with FileExistsError if ``path`` exists, so nothing is ever replaced, and a reader
    never sees a half-written file.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp_name, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def _read(path: Path) -> Agreement:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AgreementError(f"cannot read agreement ({str(exc).splitlines()[0]})", file=str(path)) from None
    if not isinstance(data, dict):
        raise AgreementError("not an agreement (expected a YAML mapping)", file=str(path))
    try:
        agreement = Agreement.model_validate(data)
    except ValidationError as exc:
        raise AgreementError(f"invalid agreement: {_first_error(exc)}", file=str(path),
                             hint="saved versions must not be edited by hand") from None
    return agreement.model_copy(update={"path": path})


def list_agreements(folder: str | Path) -> list[Agreement]:
    """Every saved version in ``folder``, oldest first (empty when there is none)."""
    return [_read(path) for _, path in sorted(_versions(Path(folder)).items())]


def load_agreement(folder: str | Path, version: int | str | None = None) -> Agreement | None:
    """The agreement in force (the latest version), or a given version.

    Parameters
    ----------
    folder : str or Path
        The agreements folder.
    version : int, str or None
        ``3``, ``"3"``, ``"v3"``, ``"v0003"`` or a file name; None = the latest.

    Returns
    -------
    Agreement or None
        None when no agreement was ever saved (and ``version`` is None).
    """
    folder = Path(folder)
    versions = _versions(folder)
    if version is None:
        return _read(versions[max(versions)]) if versions else None
    text = str(version).strip()
    match = FILE_PATTERN.match(text) or re.fullmatch(r"v?(\d+)", text, flags=re.IGNORECASE)
    if not match:
        raise AgreementError(f"'{version}' is not a version", hint="give a number such as 3 or v0003")
    number = int(match.group(1))
    if number not in versions:
        known = ", ".join(f"v{n}" for n in sorted(versions)) or "none yet"
        raise AgreementError(f"no agreement version {number}", file=str(folder),
                             hint=f"saved versions: {known}")
    return _read(versions[number])


def render_sheet(agreement: Agreement) -> str:
    """A printable one-page HTML sheet of ``agreement`` (self-contained, no scripts)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("alignment", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]))
    return env.get_template("agreement_sheet.html").render(a=agreement)


def write_sheet(agreement: Agreement, out: str | Path) -> Path:
    """Write the sheet to ``out`` atomically; refuse to replace an existing file."""
    out = Path(out)
    if out.exists():
        raise AgreementError("file already exists; it is left as it is", file=str(out),
                             hint="choose another --html file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # FileExistsError here: a file stands in the way
    except OSError as exc:
        raise AgreementError(f"cannot write the sheet there ({exc.strerror})", file=str(out),
                             hint="choose another --html file name") from None
    try:
        _write_new(out, render_sheet(agreement))
    except FileExistsError:
        raise AgreementError("file already exists; it is left as it is", file=str(out),
                             hint="choose another --html file name") from None
    except OSError as exc:
        raise AgreementError(f"cannot write the sheet there ({exc.strerror})", file=str(out),
                             hint="choose another --html file name") from None
    return out


def summary_line(agreement: Agreement) -> str:
    """One line per version for ``alignment agreement list``."""
    t, s = agreement.thresholds, agreement.service_levels
    return (f"v{agreement.version:<4} {agreement.signed_at:%Y-%m-%d %H:%M}  from {agreement.effective_from}  "
            f"model {agreement.model_version}  "
            f"MQL >= {t.mql:g}  fast-track >= {t.fast_track:g}  recycle < {t.recycle:g}  "
            f"{s.mql_per_month} MQLs/month at >= {s.min_win_rate:.0%}  "
            f"signed {printable(agreement.signed_by.marketing)} (marketing), "
            f"{printable(agreement.signed_by.sales)} (sales)")


def run_list(config_path: str | Path | None) -> None:
    """``alignment agreement list``: one line per saved version, the one in force marked."""
    from alignment.config import find_config

    folder = find_config(config_path).agreements_dir
    agreements = list_agreements(folder)
    if not agreements:
        click.echo(f"no agreement saved yet in {folder} (record one in `alignment workshop`)")
        return
    today = dt.datetime.now(dt.UTC).date()
    current = in_force_on(folder, today)
    for agreement in agreements:
        marker = "*" if current is not None and agreement.version == current.version else " "
        later = "  (not in force yet)" if effective_date(agreement) > today else ""
        click.echo(f"{marker} {summary_line(agreement)}{later}")
    click.echo(f"* = in force today; files in {folder}")


def run_show(config_path: str | Path | None, version: str | None, html_out: str | Path | None) -> None:
    """``alignment agreement show [VERSION] [--html FILE]``."""
    from alignment.config import find_config

    folder = find_config(config_path).agreements_dir
    today = dt.datetime.now(dt.UTC).date()
    agreement = load_agreement(folder, version) if version else in_force_on(folder, today)
    if agreement is None:
        raise AgreementError("no agreement in force (none saved yet, or none in force today)",
                             file=str(folder), hint="sign one in `alignment workshop` or with `alignment "
                                                    "agreement sign`, or name a version")
    from alignment.model import find_model

    config = find_config(config_path)
    click.echo(f"# {agreement.path}")
    text = yaml.safe_dump(agreement.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    click.echo(text.rstrip())
    where = find_model(config.model_dir, agreement.model_version)
    gone = ("gone (neither the model folder nor a copy a refit moved aside holds it): the thresholds "
            "cannot be re-checked on the scores they were agreed on")
    click.echo(f"model {agreement.model_version}: " + (f"still there, in {where}" if where else gone))
    if html_out is not None:
        written = write_sheet(agreement, html_out)
        click.echo(f"printable sheet: {written}")


# --- which version holds when ---------------------------------------------------------------------


def in_force_on(folder: str | Path, day: dt.date) -> Agreement | None:
    """The version in force on ``day``: the highest version whose ``effective_from`` is on or before it.

    Parameters
    ----------
    folder : str or Path
        The agreements folder.
    day : date

    Returns
    -------
    Agreement or None
        None before the first agreement takes effect.
    """
    held = [a for a in list_agreements(folder) if effective_date(a) <= day]
    return max(held, key=lambda a: a.version) if held else None


def taking_effect_between(folder: str | Path, first: dt.date, last: dt.date) -> list[Agreement]:
    """Versions whose ``effective_from`` falls after ``first`` and on or before ``last`` (inside a month)."""
    return [a for a in list_agreements(folder) if first < effective_date(a) <= last]


def effective_date(agreement: Agreement) -> dt.date:
    """The day a version takes effect (a file without ``effective_from``: the day it was signed)."""
    return agreement.effective_from or agreement.signed_at.date()


# --- signing: one function for the workshop and the command line --------------------------------------


def record_agreement(folder: str | Path, *, model_version: str, thresholds: dict, service_levels: dict,
                     signed_by: dict, grade_cutoffs: dict | None = None,
                     effective_from: dt.date | str | None = None, notes: str = "") -> Agreement:
    """Check and save a new version (the workshop's form and ``alignment agreement sign`` both call this).

    Parameters
    ----------
    folder : str or Path
        The agreements folder.
    model_version : str
        The model the thresholds were agreed on.
    thresholds, service_levels, signed_by : dict
        As in :class:`Agreement` (recycle <= mql <= fast_track; both signers).
    grade_cutoffs : dict, optional
    effective_from : date or "YYYY-MM-DD", optional
        Default: the day it is signed.
    notes : str

    Returns
    -------
    Agreement
        The saved version.
    """
    if isinstance(effective_from, str):
        try:
            effective_from = dt.date.fromisoformat(effective_from.strip())
        except ValueError:
            raise AgreementError(f"'{effective_from}' is not a date",
                                 hint="give --effective-from as YYYY-MM-DD") from None
    agreement = make_agreement(model_version=model_version, thresholds=thresholds,
                               service_levels=service_levels, signed_by=signed_by,
                               grade_cutoffs=grade_cutoffs or {}, effective_from=effective_from, notes=notes)
    return save_agreement(agreement, folder)


def signed_line(agreement: Agreement) -> str:
    """``agreement v3 signed, in force from 2026-12-01``."""
    return f"agreement v{agreement.version} signed, in force from {effective_date(agreement)}"


def run_sign(config_path: str | Path | None, *, mql: float | None, fast_track: float | None,
             recycle: float | None, marketing: str, sales: str, effective_from: str | None = None,
             notes: str = "", model_dir: str | Path | None = None, optimum: bool = False,
             **levels: float | None) -> Agreement:
    """``alignment agreement sign``: omitted service levels come from the config's ``[service_levels]``;
    with ``optimum``, omitted thresholds are the workshop's expected-value optimum (and its companions)."""
    import json

    from alignment.config import find_config
    from alignment.thresholds import ThresholdEngine, _card_grade_cutoffs, companion_thresholds

    config = find_config(config_path)
    model_path = Path(model_dir) if model_dir else config.model_dir
    card_path = model_path / "model.json"
    if not card_path.is_file():
        raise AgreementError("no fitted model to sign on", file=str(model_path),
                             hint="run `alignment fit` first, or pass --model DIR")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    defaults = config.service_levels.model_dump()
    service_levels = {key: (value if value is not None else defaults[key]) for key, value in
                      {name: levels.get(name) for name in defaults}.items()}
    if optimum and mql is None:
        engine = ThresholdEngine.from_model_dir(model_path, config)
        best = engine.optimum(service_levels["mql_per_month"], service_levels["min_win_rate"])
        if best is None:
            raise AgreementError("no threshold meets both teams' service levels (or no deal value is known): "
                                 "there is no optimum to sign", hint="give --mql, --fast-track and --recycle")
        mql = float(best.threshold)
        fast_default, recycle_default = companion_thresholds(engine, mql)
        fast_track = fast_default if fast_track is None else fast_track
        recycle = recycle_default if recycle is None else recycle
    if mql is None or fast_track is None or recycle is None:
        raise AgreementError("the agreement needs --mql, --fast-track and --recycle (or --optimum)")
    saved = record_agreement(config.agreements_dir, model_version=str(card["version"]),
                             thresholds={"mql": mql, "fast_track": fast_track, "recycle": recycle},
                             service_levels=service_levels,
                             signed_by={"marketing": marketing, "sales": sales},
                             grade_cutoffs=_card_grade_cutoffs(card), effective_from=effective_from,
                             notes=notes)
    click.echo(signed_line(saved))
    return saved


# --- what changed, and whether anything changed behind our back ------------------------------------------


def diff_agreements(old: Agreement, new: Agreement) -> list[str]:
    """What changed from ``old`` to ``new``, one sentence each (empty: the same terms)."""
    lines = []
    names = {"mql": "MQL threshold", "fast_track": "fast-track threshold", "recycle": "recycle threshold"}
    for key, name in names.items():
        before, after = getattr(old.thresholds, key), getattr(new.thresholds, key)
        if before != after:
            lines.append(f"The {name} went from {before:g} to {after:g}.")
    levels = {"mql_per_month": ("Marketing's commitment", "{:,.0f} MQLs a month"),
              "min_win_rate": ("The MQLs' minimum expected win rate", "{:.1%}"),
              "follow_up_hours": ("Sales's first touch", "within {:g} hours"),
              "accept_within_days": ("Sales's answer (accept or reject)", "within {:g} days")}
    for key, (name, fmt) in levels.items():
        before, after = getattr(old.service_levels, key), getattr(new.service_levels, key)
        if before != after:
            lines.append(f"{name} went from {fmt.format(before)} to {fmt.format(after)}.")
    if old.model_version != new.model_version:
        lines.append(f"The scores come from another model: {old.model_version} → {new.model_version}.")
    for team in ("marketing", "sales"):
        before, after = getattr(old.signed_by, team), getattr(new.signed_by, team)
        if before != after:
            lines.append(f"{team.capitalize()} signed as {printable(after)} (was {printable(before)}).")
    if effective_date(old) != effective_date(new):
        lines.append(f"In force from {effective_date(new)} (v{old.version} from {effective_date(old)}).")
    if old.notes != new.notes:
        lines.append("The notes changed.")
    return lines


def run_diff(config_path: str | Path | None, first: str, second: str) -> None:
    """``alignment agreement diff A B``."""
    from alignment.config import find_config

    folder = find_config(config_path).agreements_dir
    old, new = load_agreement(folder, first), load_agreement(folder, second)
    lines = diff_agreements(old, new)
    changes = "the same terms" if not lines else f"{len(lines)} change" + ("s" if len(lines) > 1 else "")
    click.echo(f"v{old.version} → v{new.version}: {changes}")
    for line in lines:
        click.echo(f"  {line}")


def verify_history(folder: str | Path) -> tuple[int, str | None]:
    """Check every version's seal and the chain of previous-version digests.

    Returns
    -------
    (int, str or None)
        The number of versions, and the first problem in words (None: the history is intact).
    """
    versions = sorted(_versions(Path(folder)).items())
    previous_digest = None
    for number, path in versions:
        agreement = _read(path)
        legacy = agreement.previous_sha256 is None and not _sealed(path)
        if legacy:  # saved before agreements were sealed: nothing to check it against
            previous_digest = file_sha256(path)
            continue
        if _seal_broken(path):
            return len(versions), f"v{number} was changed after it was saved ({path.name})"
        if number > versions[0][0] and agreement.previous_sha256 != previous_digest:
            return len(versions), (f"v{number - 1} was changed after v{number} was signed (v{number} records "
                                   "another digest of it)")
        previous_digest = file_sha256(path)
    return len(versions), None


def run_verify(config_path: str | Path | None) -> bool:
    """``alignment agreement verify``: exit 0 with "N versions, history intact", or 1 naming the change."""
    from alignment.config import find_config

    folder = find_config(config_path).agreements_dir
    count, problem = verify_history(folder)
    if problem:
        click.echo(f"error: {folder}: {problem} — the agreement history is not intact", err=True)
        return False
    click.echo(f"{count} versions, history intact" if count != 1 else "1 version, history intact")
    return True
