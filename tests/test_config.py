"""The config file module: path, reading, checking against click options, precedence."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import click
import pytest

from binmon.cli import cli
from binmon.config import (
    ConfigError,
    Effective,
    check_all,
    config_path,
    default_map,
    effective,
    read_file,
    settings_for,
    shown_value,
)
from binmon.errors import ExitStatus

PATH = Path("/etc/binmon-test/config.toml")


@click.command("one")
@click.option("--ws-url", envvar="BINMON_WS_URL")
@click.option("-n", "--count", type=click.IntRange(min=1))
@click.option("--speed", type=click.FloatRange(min=0))
@click.option("--json", "json_output", is_flag=True)
@click.option("-s", "--symbol", "symbols", multiple=True)
@click.option("--market", type=click.Choice(["um", "cm"], case_sensitive=False))
def one(**_: Any) -> None:
    pass


@click.command("two")
@click.option("--port", type=int, default=9443)
@click.option("--json", "json_output", is_flag=True)
def two(**_: Any) -> None:
    pass


COMMANDS = {"one": one, "two": two}


def settings(document: dict[str, Any], name: str = "one") -> dict[str, Any]:
    return default_map(settings_for(document, PATH, COMMANDS, name))


def problem(document: dict[str, Any], name: str = "one") -> str:
    with pytest.raises(ConfigError) as caught:
        settings_for(document, PATH, COMMANDS, name)
    assert caught.value.exit_status == ExitStatus.USAGE
    message = str(caught.value)
    assert message.startswith(f"config file {PATH}: ") and "\n" not in message
    return message.removeprefix(f"config file {PATH}: ")


# --- where the file is ---------------------------------------------------------------------


def test_path_from_the_environment_variable_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "/xdg")
    assert config_path({"BINMON_CONFIG": "/srv/b.toml"}) == Path("/srv/b.toml")
    assert config_path({"BINMON_CONFIG": "~/b.toml"}) == Path.home() / "b.toml"
    # Empty is unset, as for click's environment variables.
    assert config_path({"BINMON_CONFIG": ""}) == Path("/xdg/binmon/config.toml")


def test_path_in_the_user_config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path({}) == tmp_path / "binmon" / "config.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_path({}) == tmp_path / "home" / ".config" / "binmon" / "config.toml"


# --- reading ---------------------------------------------------------------------------------


def test_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_file(tmp_path / "absent.toml") == {}


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"^config file {tmp_path}: cannot read it \("):
        read_file(tmp_path)  # a directory
    bad = tmp_path / "bad.toml"
    bad.write_text('count = 3\n[one\njson = "x"\n')
    with pytest.raises(ConfigError) as caught:
        read_file(bad)
    assert str(caught.value) == (
        f"config file {bad}: not valid TOML: "
        "Expected ']' at the end of a table declaration (at line 2, column 5)"
    )
    bad.write_bytes(b"count = 3\n# \xff\n")
    with pytest.raises(ConfigError, match=r"it is not UTF-8 text$"):
        read_file(bad)


def test_reads_toml(tmp_path: Path) -> None:
    good = tmp_path / "c.toml"
    good.write_text('count = 3\n[one]\nsymbol = ["BTC*"]\n')
    assert read_file(good) == {"count": 3, "one": {"symbol": ["BTC*"]}}


# --- what it sets ----------------------------------------------------------------------------


def test_top_level_applies_where_the_command_has_the_option() -> None:
    document = {"count": 3, "json": True, "port": 9000}
    assert settings(document, "one") == {"count": 3, "json_output": True}
    assert settings(document, "two") == {"json_output": True, "port": 9000}


def test_dashes_or_underscores_and_the_table_wins() -> None:
    document = {"ws_url": "ws://top", "count": 1, "one": {"ws-url": "ws://one", "count": 2}}
    found = settings_for(document, PATH, COMMANDS, "one")
    assert default_map(found) == {"ws_url": "ws://one", "count": 2}
    assert [(s.key, s.origin) for s in found.values()] == [("ws-url", "[one]"), ("count", "[one]")]


def test_values_are_converted_by_the_option_types() -> None:
    document = {"one": {"speed": 2, "market": "CM", "symbol": ["BTC*", "eth*"]}}
    assert settings(document) == {"speed": 2.0, "market": "cm", "symbols": ("BTC*", "eth*")}
    assert settings({"one": {"symbol": []}}) == {"symbols": ()}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"count": "3"}, 'top-level key "count": expected an integer, got a string ("3")'),
        ({"count": 2.5}, 'top-level key "count": expected an integer, got a float (2.5)'),
        ({"count": True}, 'top-level key "count": expected an integer, got a boolean (true)'),
        ({"count": 0}, 'top-level key "count": 0 is not in the range x>=1.'),
        ({"one": {"json": 1}}, 'key "json" in [one]: expected true or false, got an integer (1)'),
        ({"one": {"json": "yes"}}, 'key "json" in [one]: expected true or false, got a string'),
        ({"one": {"speed": "fast"}}, 'key "speed" in [one]: expected a number, got a string'),
        ({"one": {"speed": -1}}, 'key "speed" in [one]: -1.0 is not in the range x>=0.'),
        ({"one": {"ws-url": 5}}, 'key "ws-url" in [one]: expected a string, got an integer (5)'),
        ({"one": {"market": "eu"}}, "key \"market\" in [one]: 'eu' is not one of 'um', 'cm'."),
        (
            {"one": {"symbol": "BTC*"}},
            'key "symbol" in [one]: --symbol is repeatable, expected an array, got a string',
        ),
        ({"one": {"symbol": ["A", 1]}}, 'key "symbol" in [one]: expected a string, got an integer'),
        (
            {"one": {"ws-url": datetime.date(2026, 12, 1)}},
            'key "ws-url" in [one]: expected a string, got a date (2026-12-01)',
        ),
        ({"one": {"ws-url": {"x": 1}}}, 'key "ws-url" in [one]: expected a string, got a table'),
    ],
)
def test_wrong_types_name_the_key(document: dict[str, Any], message: str) -> None:
    assert problem(document).startswith(message)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"cuont": 3}, 'top-level key "cuont": no command has a --cuont option (did you mean co'),
        ({"one": {"port": 1}}, 'key "port" in [one]: `binmon one` has no --port option'),
        ({"one": {"jsn": True}}, 'key "jsn" in [one]: `binmon one` has no --jsn option (did you'),
        ({"one": {"n": 3}}, 'key "n" in [one]: `binmon one` has no --n option'),
        ({"one": {"json_output": True}}, 'key "json_output" in [one]: `binmon one` has no --json-'),
        ({"oen": {}}, "table [oen]: binmon has no command of that name (did you mean one?)"),
        ({"one": 3}, 'top-level key "one": the settings of `binmon one` go in a [one] table'),
        ({"one": {"ws-url": "a", "ws_url": "b"}}, 'key "ws_url" in [one]: the same option as'),
    ],
)  # fmt: skip
def test_unknown_keys_and_tables(document: dict[str, Any], message: str) -> None:
    assert problem(document).startswith(message)


def test_only_the_running_commands_table_is_checked() -> None:
    document = {"two": {"nonsense": 1}, "one": {"count": 2}}
    assert settings(document, "one") == {"count": 2}
    assert problem(document, "two").startswith('key "nonsense" in [two]')
    with pytest.raises(ConfigError, match=r'key "nonsense" in \[two\]'):
        check_all(document, PATH, COMMANDS)
    check_all({"one": {"count": 2}, "port": 1}, PATH, COMMANDS)


def test_every_binmon_option_can_be_set_from_a_file() -> None:
    # Each option's own default, written in the file, is accepted as it is:
    # the file's types follow the options' (a new option type would show here).
    for name, command in cli.commands.items():
        for param in command.params:
            if not isinstance(param, click.Option) or not param.opts[-1].startswith("--"):
                continue
            default = param.to_info_dict()["default"]
            if default is None or param.type.name == "path":
                continue
            value = list(default) if param.multiple else default
            key = param.opts[-1][2:]
            found = default_map(settings_for({name: {key: value}}, PATH, cli.commands, name))
            assert found == {param.name: param.type_cast_value(click.Context(command), default)}


# --- what is in effect -----------------------------------------------------------------------


def test_effective_precedence_env_then_file_then_default() -> None:
    document = {"ws-url": "ws://file", "count": 3}
    found = settings_for(document, PATH, COMMANDS, "one")
    rows = {r.option: r for r in effective(one, found, {"BINMON_WS_URL": "ws://env"})}
    assert rows["--ws-url"] == Effective("--ws-url", "ws://env", "env BINMON_WS_URL")
    assert rows["--count"] == Effective("--count", 3, "file, top level")
    assert rows["--json"] == Effective("--json", False, "default")
    assert rows["--market"] == Effective("--market", None, "default")
    assert list(rows) == ["--ws-url", "--count", "--speed", "--json", "--symbol", "--market"]
    # An empty variable is no value, for click and here alike.
    rows = {r.option: r for r in effective(one, found, {"BINMON_WS_URL": ""})}
    assert rows["--ws-url"].source == "file, top level"


def test_shown_value() -> None:
    assert [shown_value(v) for v in (None, True, 3, 2.5, "a\x1b", ("x", "y"))] == [
        "(none)",
        "true",
        "3",
        "2.5",
        '"a\\u001b"',
        '["x", "y"]',
    ]
