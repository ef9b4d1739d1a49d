"""The configuration file: where it is, what it says, and the defaults it gives a command.

TOML (stdlib ``tomllib``). Keys are long option names (``ws-url`` or
``ws_url``): at the top level for every command that has the option, or in a
``[command]`` table for that command only (it wins over the top level).
Values are checked against the commands' own click options and converted by
their own types, so a file can only say what the command line could say;
click then uses them as defaults (``default_map``), which is why command-line
flags and ``BINMON_*`` environment variables still win.

Everything here is pure except :func:`read_file`.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import click

from binmon.diag import printable
from binmon.errors import UsageProblem

ENV_VAR: Final = "BINMON_CONFIG"
FILE_NAME: Final = "config.toml"


class ConfigError(UsageProblem):
    """The file cannot be used: exit 2, naming the file (and the key, when there is one)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"config file {printable(path)}: {problem}")
        self.path = path


def config_path(environ: Mapping[str, str]) -> Path:
    """``$BINMON_CONFIG``, else ``config.toml`` in the user config directory.

    On Linux that is ``$XDG_CONFIG_HOME/binmon``, by default ``~/.config/binmon``.
    """
    explicit = environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("binmon", appauthor=False)) / FILE_NAME


def read_file(path: Path) -> dict[str, Any]:
    """The file's TOML document; ``{}`` when there is no file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(path, f"cannot read it ({exc.strerror or exc})") from None
    # Only a file that is there pays for the parser.
    import tomllib

    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(path, "it is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, f"not valid TOML: {printable(exc)}") from None


@dataclass(frozen=True)
class Setting:
    """One value the file gives one command's option."""

    key: str  # as written in the file
    option: click.Option
    value: Any  # converted by the option's type
    table: str | None  # None: the top level

    @property
    def origin(self) -> str:
        return "top level" if self.table is None else f"[{self.table}]"

    @property
    def name(self) -> str:
        """The parameter's name, the key click's ``default_map`` wants."""
        assert self.option.name is not None
        return self.option.name


def long_name(key: str) -> str:
    return key.replace("_", "-")


def options(command: click.Command) -> dict[str, click.Option]:
    """The options a file may set, by long name without dashes (``ws-url``)."""
    found: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.name is not None:
            for opt in param.opts:
                if opt.startswith("--"):
                    found[opt[2:]] = param
    return found


def _where(key: str, table: str | None) -> str:
    shown = json.dumps(key, ensure_ascii=False)
    return f"top-level key {shown}" if table is None else f"key {shown} in [{table}]"


def _kind(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    kinds.update({list: "an array", dict: "a table"})
    kind = kinds.get(type(value), f"a {type(value).__name__}")  # dates and times
    if isinstance(value, list | dict):
        return kind
    return f"{kind} ({printable(shown_value(value), limit=60)})"


def _expected(param_type: object) -> tuple[tuple[type, ...], str]:
    if isinstance(param_type, click.types.BoolParamType):
        return (bool,), "true or false"
    if isinstance(param_type, click.types.IntParamType):
        return (int,), "an integer"
    if isinstance(param_type, click.types.FloatParamType):
        return (int, float), "a number"
    return (str,), "a string"


def _one(option: click.Option, value: object, where: str, path: Path) -> Any:
    types, words = _expected(option.type)
    # TOML's true is not the integer 1 here, though Python's bool is an int.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ConfigError(path, f"{where}: expected {words}, got {_kind(value)}")
    try:
        return option.type.convert(value, option, None)
    except click.BadParameter as exc:
        raise ConfigError(path, f"{where}: {printable(exc.message)}") from None


def convert(option: click.Option, value: object, where: str, path: Path) -> Any:
    """``value`` from the file as the option's type makes it, or a :class:`ConfigError`."""
    if option.multiple:
        if not isinstance(value, list):
            flag = option.opts[-1]
            raise ConfigError(
                path, f"{where}: {flag} is repeatable, expected an array, got {_kind(value)}"
            )
        return tuple(_one(option, item, where, path) for item in value)
    return _one(option, value, where, path)


def _suggest(word: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, names, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def check_top_level(
    document: Mapping[str, Any], path: Path, commands: Mapping[str, click.Command]
) -> None:
    """Every top-level key is a command's table or an option some command has."""
    known = {name for command in commands.values() for name in options(command)}
    for key, value in document.items():
        if isinstance(value, dict):
            if key not in commands:
                raise ConfigError(
                    path,
                    f"table [{printable(key)}]: binmon has no command of that name"
                    + _suggest(key, sorted(commands)),
                )
        elif key in commands:
            raise ConfigError(
                path, f"{_where(key, None)}: the settings of `binmon {key}` go in a [{key}] table"
            )
        elif long_name(key) not in known:
            raise ConfigError(
                path,
                f"{_where(key, None)}: no command has a --{printable(long_name(key))} option"
                + _suggest(long_name(key), sorted(known)),
            )


def settings_for(
    document: Mapping[str, Any],
    path: Path,
    commands: Mapping[str, click.Command],
    name: str,
) -> dict[str, Setting]:
    """What the file sets for ``binmon NAME``, by parameter name; the file checked on the way.

    The top level is checked whole (a key no command knows is an error); of the
    command tables only NAME's, so a mistake in ``[serve]`` never stops ``watch``.
    """
    check_top_level(document, path, commands)
    command = commands[name]
    known = options(command)
    found: dict[str, Setting] = {}
    table = document.get(name)
    scopes: list[tuple[str | None, Mapping[str, Any]]] = [(None, document)]
    if isinstance(table, dict):
        scopes.append((name, table))
    for scope, entries in scopes:
        seen: dict[str, str] = {}
        for key, value in entries.items():
            if scope is None and isinstance(value, dict):
                continue  # a command's table, checked above
            option = known.get(long_name(key))
            if option is None:
                if scope is None:
                    continue  # another command's option
                raise ConfigError(
                    path,
                    f"{_where(key, scope)}: `binmon {name}` has no "
                    f"--{printable(long_name(key))} option"
                    + _suggest(long_name(key), sorted(known)),
                )
            where = _where(key, scope)
            assert option.name is not None
            if option.name in seen:
                raise ConfigError(path, f"{where}: the same option as {seen[option.name]!r}")
            seen[option.name] = key
            found[option.name] = Setting(key, option, convert(option, value, where, path), scope)
    return found


def check_all(
    document: Mapping[str, Any], path: Path, commands: Mapping[str, click.Command]
) -> None:
    """The whole file, every command's table included."""
    for name in commands:
        settings_for(document, path, commands, name)


def default_map(settings: Mapping[str, Setting]) -> dict[str, Any]:
    return {name: setting.value for name, setting in settings.items()}


@dataclass(frozen=True)
class Effective:
    """An option of a command as it would be without flags: its value and where it comes from."""

    option: str  # "--ws-url"
    value: Any
    source: str  # "default", "file, [watch]", "file, top level", "env BINMON_WS_URL"


def effective(
    command: click.Command, settings: Mapping[str, Setting], environ: Mapping[str, str]
) -> list[Effective]:
    """Every option a file may set, in the command's order; click's precedence applied."""
    result: list[Effective] = []
    for long, option in options(command).items():
        envvars = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or ())
        # click ignores an empty variable, so it does too.
        from_env = next((v for v in envvars if environ.get(v)), None)
        setting = settings.get(option.name or "")
        if from_env is not None:
            result.append(Effective(f"--{long}", environ[from_env], f"env {from_env}"))
        elif setting is not None:
            result.append(Effective(f"--{long}", setting.value, f"file, {setting.origin}"))
        else:
            # The info dict shows a default that was never given as None.
            default = option.to_info_dict().get("default")
            result.append(Effective(f"--{long}", default, "default"))
    return result


def shown_value(value: object) -> str:
    """A value as TOML would write it (``"text"``, ``3``, ``true``, ``["a", "b"]``)."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown_value(v) for v in value) + "]"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    # JSON's string escapes are TOML's, and they keep control characters inert.
    return json.dumps(str(value), ensure_ascii=False)
