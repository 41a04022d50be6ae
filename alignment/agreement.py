"""Signed, versioned agreements between marketing and sales.

An agreement records the thresholds both teams accept (MQL, fast-track, recycle), the grade
cut-offs of the model it was made on, the service levels each side promises, who signed for
each team, and notes. Each version is one human-readable YAML file in ``config.agreements_dir``
named ``agreement-v{N:04d}-{YYYYmmddTHHMMSS}.yaml``.

Versions are append-only: a file is written to a temporary name, flushed to disk, then
hard-linked to its final name (a link never replaces an existing file), all under an exclusive
lock on the folder so two saves at the same moment get two different version numbers. The
latest version is the agreement in force.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import click
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from alignment.exceptions import AgreementError

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
        if not self.recycle <= self.mql <= self.fast_track:
            raise ValueError(f"thresholds must satisfy recycle <= mql <= fast_track (got recycle "
                             f"{self.recycle:g}, mql {self.mql:g}, fast-track {self.fast_track:g})")
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

    ``version`` and ``created_at`` are assigned by :func:`save_agreement`; leave them unset.
    """

    version: int | None = Field(None, ge=1)
    created_at: dt.datetime | None = None
    """UTC, naive."""
    model_version: str
    thresholds: Thresholds
    grade_cutoffs: dict[str, dict[str, float]] = Field(default_factory=dict)
    """``{"fit": {"A": lowest fit score of grade A, ...}, "engagement": {"1": ..., ...}}``."""
    service_levels: ServiceLevels
    signed_by: Signatures
    notes: str = ""

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
              f"{agreement.created_at:%Y-%m-%d %H:%M} UTC.\n# Never edit a saved version: record a new one "
              f"in the workshop instead.\n")
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


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
    fields = agreement.model_dump(exclude={"version", "created_at", "path"}, warnings=False)
    agreement = make_agreement(**fields)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AgreementError(f"cannot create the agreements folder ({exc.strerror})",
                             file=str(folder)) from None
    with _folder_lock(folder):
        version = max(_versions(folder), default=0) + 1
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        saved = agreement.model_copy(update={"version": version, "created_at": now})
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
    return (f"v{agreement.version:<4} {agreement.created_at:%Y-%m-%d %H:%M}  "
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
    for agreement in agreements:
        marker = "*" if agreement is agreements[-1] else " "
        click.echo(f"{marker} {summary_line(agreement)}")
    click.echo(f"* = in force; files in {folder}")


def run_show(config_path: str | Path | None, version: str | None, html_out: str | Path | None) -> None:
    """``alignment agreement show [VERSION] [--html FILE]``."""
    from alignment.config import find_config

    folder = find_config(config_path).agreements_dir
    agreement = load_agreement(folder, version)
    if agreement is None:
        raise AgreementError("no agreement saved yet", file=str(folder),
                             hint="record one in `alignment workshop`")
    click.echo(f"# {agreement.path}")
    text = yaml.safe_dump(agreement.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    click.echo(text.rstrip())
    if html_out is not None:
        written = write_sheet(agreement, html_out)
        click.echo(f"printable sheet: {written}")
