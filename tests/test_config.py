from __future__ import annotations

import pytest

from tui.config import load_config, redact
from tui.errors import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "botmon.toml"
    path.write_text(text)
    return path


def test_defaults_match_the_bot():
    config = load_config(environ={})
    assert config.database.schema == "monitoring"
    assert config.positions.open_statuses == ("active", "entry_placed", "pending_sl",
                                              "pending_entry")
    assert config.positions.aged_hours == 3.0
    assert config.poll.interval_s == 2.0
    assert config.database.statement_timeout_ms == 2000
    assert "*_failed" in config.events.errors


def test_precedence_flags_over_env_over_file(tmp_path):
    path = write(tmp_path, "[poll]\ninterval_s = 5\nlookback_s = 90\n[run]\nout_dir = 'runs'\n")
    config = load_config(path, environ={"BOTMON_POLL_INTERVAL_S": "7"},
                         overrides={"run.out_dir": "elsewhere"})
    assert config.poll.interval_s == 7.0  # env beats file
    assert config.poll.lookback_s == 90.0  # file beats default
    assert config.run.out_dir == "elsewhere"  # flag beats file
    assert config.resolve("runs") == tmp_path / "runs"  # relative to the config file


def test_env_lists_are_comma_separated():
    config = load_config(environ={"BOTMON_EVENTS_ZOMBIES": "zombie_order_cancelled, x_y"})
    assert config.events.zombies == ("zombie_order_cancelled", "x_y")


@pytest.mark.parametrize("text, fragments", [
    ("[poll]\ninterval = 3\n", ["botmon.toml:2", "poll.interval", "did you mean 'interval_s'"]),
    ("[pol]\ninterval_s = 3\n", ["unknown section [pol]", "did you mean 'poll'"]),
    ("[poll]\ninterval_s = 'fast'\n", ["poll.interval_s", "expected a number"]),
    ("[positions]\nopen_statuses = 'active'\n", ["open_statuses", "expected a list of strings"]),
    ("[positions]\nstop_loss_check = 'flags'\n", ["stop_loss_check", "did you mean 'flag'"]),
    ("[database]\nschema = 'x; drop'\n", ["database.schema", "plain SQL identifier"]),
    ("[poll\n", ["not valid TOML"]),
])
def test_bad_file_is_one_line_naming_file_and_key(tmp_path, text, fragments):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    line = str(info.value)
    assert "\n" not in line and str(path) in line
    for fragment in fragments:
        assert fragment in line
    assert info.value.exit_code == 2


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "missing.toml", environ={})


def test_bad_environment_variable_is_named():
    with pytest.raises(ConfigError, match="environment BOTMON_POLL_INTERVAL_S"):
        load_config(environ={"BOTMON_POLL_INTERVAL_S": "soon"})


@pytest.mark.parametrize("text", [
    "postgresql://bot:s3cret@db:5432/x",
    "host=db password=s3cret user=bot",
    "postgres://bot:s3cret@db/x?sslmode=require",
])
def test_passwords_are_redacted(text):
    assert "s3cret" not in redact(text)
    assert "s3cret" not in redact("error: " + text, ("s3cret",))


def test_example_config_is_valid_and_documents_every_key():
    from tui.config import _SECTIONS, _section_types
    from tui.resources import data_path

    path = data_path("config.example.toml")
    config = load_config(path, environ={})
    assert config.database.schema == "monitoring"
    text = path.read_text()
    for section in _SECTIONS:
        assert f"[{section}]" in text
        for key in _section_types(section):
            assert f"{key} =" in text or f"# {key} =" in text, (section, key)
