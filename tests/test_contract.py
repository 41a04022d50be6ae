"""The data contract: pandera schemas turned into one line, quality checks, contact-column detection."""

from __future__ import annotations

import pandas as pd
import pytest

from alignment import contract
from alignment.exceptions import DataError


def _leads(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "lead_id": pd.Series(["a", "b", "c"], dtype="str"),
            "outcome": pd.Categorical(["won", "lost", "open"], dtype=contract.OUTCOME_DTYPE),
            "created_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]).astype("datetime64[ns]"),
            "amount": [10.0, None, 5.0],
            "industry": ["Retail", "Software", None],
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def test_valid_leads_pass():
    frame = _leads()
    pd.testing.assert_frame_equal(
        contract.validate_frame(frame, contract.leads_schema(), file="x.csv"), frame
    )


def test_duplicate_id_is_one_line_with_file_column_row():
    frame = _leads(lead_id=pd.Series(["a", "b", "a"], dtype="str"))
    with pytest.raises(DataError) as caught:
        contract.validate_frame(frame, contract.leads_schema(), file="x.csv", row_offset=2)
    line = caught.value.one_line()
    assert "\n" not in line
    assert line.startswith("x.csv, column 'lead_id', row 2:")
    assert "every lead needs its own id" in line


def test_wrong_types_are_refused():
    with pytest.raises(DataError, match="column 'created_at'.*datetime64"):
        contract.validate_frame(_leads(created_at=["2024-01-01"] * 3), contract.leads_schema(), file="x.csv")
    with pytest.raises(DataError, match="column 'outcome'"):
        contract.validate_frame(
            _leads(outcome=["won", "lost", "maybe"]), contract.leads_schema(), file="x.csv"
        )
    with pytest.raises(DataError, match="column 'amount'"):
        contract.validate_frame(_leads(amount=["1", "2", "3"]), contract.leads_schema(), file="x.csv")


def test_missing_required_column_is_named():
    with pytest.raises(DataError, match="required column 'outcome' is missing"):
        contract.validate_frame(_leads().drop(columns="outcome"), contract.leads_schema(), file="x.csv")


def test_activities_schema():
    activities = pd.DataFrame(
        {
            "lead_id": ["a", "b"],
            "occurred_at": pd.to_datetime(["2024-01-01", None]).astype("datetime64[ns]"),
            "activity_type": ["web_visit", "email_open"],
        }
    )
    with pytest.raises(DataError, match="column 'occurred_at', row 2"):
        contract.validate_frame(activities, contract.activities_schema(), file="a.parquet", row_offset=1)
    activities.loc[1, "occurred_at"] = pd.Timestamp("2024-01-02")
    contract.validate_frame(activities, contract.activities_schema(), file="a.parquet")


def test_stage_order_skips_missing_stages():
    frame = pd.DataFrame(
        {
            "created_at": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-05", "2024-01-01"]),
            "mql_at": pd.to_datetime(["2024-01-02", None, "2024-01-06", "2024-01-03"]),
            "sql_at": pd.to_datetime(["2024-01-03", "2024-01-04", "2024-01-07", "2024-01-02"]),
            "closed_at": pd.to_datetime([None, "2023-12-31", "2024-01-08", None]),
        }
    )
    check = next(c for c in contract.QUALITY_CHECKS if c.reason == "stage_dates_out_of_order")
    # Row 1: closed before creation across a missing MQL; row 3: SQL before MQL.
    assert contract.failing_rows(frame, check).tolist() == [1, 3]


def test_quality_checks_need_their_columns():
    check = next(c for c in contract.QUALITY_CHECKS if c.reason == "won_without_close_date")
    assert len(contract.failing_rows(_leads(), check)) == 0  # no closed_at: nothing to check
    frame = _leads(closed_at=pd.to_datetime([None, None, None]))
    assert contract.failing_rows(frame, check).tolist() == [0]
    negative = next(c for c in contract.QUALITY_CHECKS if c.reason == "negative_amount")
    assert contract.failing_rows(_leads(amount=[-1.0, 0.0, None]), negative).tolist() == [0]


@pytest.mark.parametrize(
    "header",
    [
        "first_name",
        "Last Name",
        "E-mail",
        "Email Address",
        "Phone Number",
        "Mobile",
        "name",
        "Street Address",
        "LinkedIn URL",
    ],
)
def test_contact_columns(header):
    assert contract.is_contact_column(header)


@pytest.mark.parametrize(
    "header", ["email_opens", "campaign_name", "company_size", "Industry", "Marketing emails clicked"]
)
def test_not_contact_columns(header):
    assert not contract.is_contact_column(header)


def test_normalise_header_and_contract_names():
    assert contract.normalise_header("  Created At ") == "created_at"
    assert contract.normalise_header("E-mail Address") == "e_mail_address"
    assert set(contract.REQUIRED_LEAD_COLUMNS) <= set(contract.LEAD_COLUMNS)
    assert contract.OUTCOMES == ("won", "lost", "open")
