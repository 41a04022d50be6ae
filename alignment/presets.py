"""Export header presets: how the common CRMs name the columns of the data contract.

A preset maps export headers onto contract columns (or onto tidy attribute names);
headers a preset does not know pass through unchanged, and the config's own
``[mapping]`` is applied after the preset, so it wins. docs/data-contract.md lists
every header below.
"""

from __future__ import annotations

PRESETS: dict[str, dict[str, str]] = {
    # HubSpot "Contacts" export (lifecycle stages stand for the funnel).
    "hubspot": {
        "Record ID": "lead_id",
        "Contact ID": "lead_id",
        "Create Date": "created_at",
        "Lifecycle Stage": "outcome",
        "Original Source": "source",
        "Original Source Drill-Down 1": "source_detail",
        "First Conversion": "campaign",
        "Became a Marketing Qualified Lead Date": "mql_at",
        "Became a Sales Qualified Lead Date": "sql_at",
        "Became a Customer Date": "closed_at",
        "Lead Status": "lead_status",
        "HubSpot Score": "legacy_score",
        "Contact owner": "owner",
        "Contact Owner": "owner",
        "Time of First Engagement": "first_touch_at",
        "Recent Deal Amount": "amount",
        "Industry": "industry",
        "Number of Employees": "company_size",
        "Job Title": "job_title",
        "Job Function": "job_function",
        "Seniority": "seniority",
        "Country/Region": "country",
        "Country": "country",
        "Number of Pageviews": "page_views",
        "Number of Sessions": "sessions",
        "Number of Form Submissions": "form_submissions",
        "Marketing emails opened": "email_opens",
        "Marketing emails clicked": "email_clicks",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone Number": "phone",
    },
    # Salesforce "Leads" report export.
    "salesforce": {
        "Lead ID": "lead_id",
        "Created Date": "created_at",
        "Converted": "outcome",
        "Lead Status": "lead_status",
        "Lead Source": "source",
        "Primary Campaign Source": "campaign",
        "Converted Date": "closed_at",
        "Rating": "rating",
        "Industry": "industry",
        "No. of Employees": "company_size",
        "Annual Revenue": "annual_revenue",
        "Title": "job_title",
        "Country": "country",
        "Lead Owner": "owner",
        "Opportunity Amount": "amount",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone": "phone",
        "Mobile": "mobile",
        "Company / Account": "company",
        "Company": "company",
    },
}
"""Export header -> contract column (or a tidy attribute name), per CRM."""

PRESET_NAMES = ("none", *PRESETS)
"""Every name a config, the CLI or a hint accepts ("none" = the export already uses contract names)."""

PRESET_CUMULATIVE: dict[str, tuple[str, ...]] = {
    "hubspot": ("page_views", "sessions", "form_submissions", "email_opens", "email_clicks"),
    "salesforce": (),
}
"""Attributes a preset maps that the CRM counts up to the export date, not up to the scoring moment.

For a closed lead they include everything that happened after the hand-off (a won deal's later visits),
so the loader leaves them out unless the config lists them under a family; the activities table is the
point-in-time source of the same behaviour.
"""

PRESET_OUTCOMES: dict[str, dict[str, list[str]]] = {
    "hubspot": {
        "won": ["customer", "evangelist"],
        "lost": ["other", "unqualified", "bad timing"],
        "open": [
            "subscriber",
            "lead",
            "marketing qualified lead",
            "sales qualified lead",
            "opportunity",
            "marketinglead",
            "salesqualifiedlead",
        ],
    },
    "salesforce": {
        "won": ["1", "true", "yes", "converted"],
        "lost": ["0", "false", "no"],
        "open": [],
    },
}
"""Outcome values a preset's outcome column uses, added to the config's ``[outcome]`` lists.

Salesforce's ``Converted`` flag has no "open": an unconverted lead counts as lost;
map ``Lead Status`` onto ``outcome`` instead to keep open leads apart.
"""


def preset_mapping(name: str | None, headers: list[str]) -> dict[str, str]:
    """The part of preset ``name`` that applies to ``headers`` (the first header wins a shared target).

    Parameters
    ----------
    name : str or None
        ``"hubspot"``, ``"salesforce"``, or ``"none"``/None for no preset.
    headers : list of str
        The headers of the export.

    Returns
    -------
    dict
        Header -> contract column, only for headers present.
    """
    if name in (None, "none"):
        return {}
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        target = PRESETS[name].get(str(header).strip())
        if target and target not in taken:
            mapping[header] = target
            taken.add(target)
    return mapping
