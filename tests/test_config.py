"""The workspace config: TOML and YAML, typos named with a suggestion, relative paths, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignment.config import FAMILIES, find_config, is_url, load_config, parse_config
from alignment.exceptions import ConfigError


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_and_yaml_read_the_same(tmp_path):
    toml = _write(
        tmp_path,
        "a.toml",
        '[source]\nleads = "leads.csv"\n[scoring]\nhorizon_days = 90\n'
        '[families]\ndemographics = ["industry"]\n[mapping]\n"Deal Stage" = "outcome"\n',
    )
    yaml = _write(
        tmp_path,
        "a.yaml",
        "source:\n  leads: leads.csv\nscoring:\n  horizon_days: 90\n"
        "families:\n  demographics: [industry]\nmapping:\n  Deal Stage: outcome\n",
    )
    first, second = load_config(toml), load_config(yaml)
    assert first.model_dump() == second.model_dump()
    assert first.scoring.horizon_days == 90 and first.mapping == {"Deal Stage": "outcome"}
    assert first.families.family_of() == {"industry": "demographics"}


def test_defaults_and_relative_paths(tmp_path):
    config = load_config(_write(tmp_path, "alignment.toml", '[source]\nleads = "data/leads.csv"\n'))
    assert config.resolve(config.source.leads) == str(tmp_path.resolve() / "data" / "leads.csv")
    assert config.model_dir == tmp_path.resolve() / "model"
    assert config.scoring.moment == "mql" and config.source.preset == "none"
    assert "select" in [v.lower() for v in config.source.missing_values]
    assert config.resolve("/abs/leads.csv") == "/abs/leads.csv"
    assert config.resolve("sqlite:///crm.db") == "sqlite:///crm.db"
    assert FAMILIES == ("demographics", "funnel", "interest", "engagement", "activity")


@pytest.mark.parametrize("written,separator", [("tab", "\t"), ("\\\\t", "\t"), (";", ";"), ("|", "|")])
def test_separator_spellings(tmp_path, written, separator):
    config = load_config(_write(tmp_path, "a.toml", f'[source]\nleads = "x.csv"\nseparator = "{written}"\n'))
    assert config.source.separator == separator


def test_is_url():
    assert is_url("postgresql+psycopg://u:p@localhost/db")
    assert not is_url("leads.csv")


def test_typo_names_the_key_and_suggests(tmp_path):
    path = _write(tmp_path, "alignment.toml", '[source]\nleads = "x.csv"\nseperator = ";"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'source.seperator' — did you mean 'separator'\?"):
        load_config(path)


def test_unknown_section_lists_known_keys(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'zzz'"):
        load_config(_write(tmp_path, "alignment.toml", '[source]\nleads = "x.csv"\n[zzz]\na = 1\n'))


@pytest.mark.parametrize(
    "text,message",
    [
        ("[scoring]\nhorizon_days = 90\n", "missing key 'source'"),
        ('[source]\nleads = "x.csv"\npreset = "pipedrive"\n', "source.preset"),
        ('[source]\nleads = "x.csv"\n[scoring]\nhorizon_days = 0\n', "scoring.horizon_days"),
    ('[source]\nleads = "x.csv"\nseparator = ";;"\n', "source.separator.*one character"),
        ('[source]\nleads = "x.csv"\n[scoring]\nmoment = "lunch"\n', "scoring.moment"),
        ('[source]\nleads = "x.csv"\n[service_levels]\nmin_win_rate = 2\n', "service_levels.min_win_rate"),
        ('[source]\nleads = "x.csv"\n[sales]\nreps = 0\n', "sales.reps"),
        ('[source]\nleads = "x.csv"\n[mapping]\na = "outcome"\nb = "outcome"\n', "both map to 'outcome'"),
        (
            '[source]\nleads = "x.csv"\n[[source.joins]]\npath = "a.csv"\non = "id"\nhow = "outer"\n',
            "source.joins.0.how",
        ),
    ],
)
def test_bad_values_are_refused(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, "alignment.toml", text))


def test_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nowhere.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "a.toml", "[source\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "a.yaml", "source: [unclosed\n"))
    with pytest.raises(ConfigError, match="table of keys"):
        load_config(_write(tmp_path, "b.yaml", "- a\n- b\n"))
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("source:\n  leads: x.csv\nmapping:\n  Société: company\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"line 4 is not UTF-8 .*save the config as UTF-8"):
        load_config(latin)


def test_every_problem_on_one_line(tmp_path):
    path = _write(tmp_path, "alignment.toml", '[source]\nleeds = "x.csv"\n[scoring]\nhorizon_days = -1\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    line = caught.value.one_line()
    assert "\n" not in line and "source.leeds" in line and "scoring.horizon_days" in line
    assert "alignment.toml" in line


def test_find_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no config given"):
        find_config(None)
    _write(tmp_path, "alignment.yaml", "source:\n  leads: leads.csv\n")
    assert find_config(None).source.leads == "leads.csv"


def test_in_memory_config_resolves_against_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = parse_config({"source": {"leads": "leads.csv"}})
    assert config.path is None and config.resolve("leads.csv") == str(Path.cwd() / "leads.csv")


@pytest.mark.parametrize("name, text", [
    ("a.toml", '[source]\nleads = "x.csv"\n[scoring]\nas_of = 2024-06-30\n'),
    ("a.yaml", "source:\n  leads: x.csv\nscoring:\n  as_of: 2024-06-30\n"),
])
def test_unquoted_export_date(tmp_path, name, text):
    assert load_config(_write(tmp_path, name, text)).scoring.as_of == "2024-06-30"
    offset = load_config(_write(tmp_path, "b.toml", '[source]\nleads = "x.csv"\n[scoring]\n'
                                                     "as_of = 2024-06-30T23:00:00+02:00\n"))
    assert offset.scoring.as_of == "2024-06-30T23:00:00+02:00"
