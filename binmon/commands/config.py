"""``binmon config``, and the hook that gives every command its settings from the file."""

from __future__ import annotations

import os

import click

from binmon.commands import SHORT_HELP


def apply_config_file(ctx: click.Context) -> None:
    """Called by the group before the command about to run parses its arguments.

    The file's settings become that command's ``default_map``: click then
    takes a flag first, then the option's environment variable, then the file,
    then the built-in default.
    """
    from binmon.config import config_path, default_map, read_file, settings_for

    name = ctx.invoked_subcommand
    group = ctx.command
    if name is None or not isinstance(group, click.Group):
        return
    path = config_path(os.environ)
    document = read_file(path)
    if not document:
        return
    settings = settings_for(document, path, group.commands, name)
    if settings:
        ctx.default_map = {**(ctx.default_map or {}), name: default_map(settings)}


def _complete_command(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    from click.shell_completion import CompletionItem

    group = ctx.find_root().command
    names = group.commands if isinstance(group, click.Group) else {}
    return [CompletionItem(name) for name in sorted(names) if name.startswith(incomplete)]


@click.command(
    "config",
    short_help=SHORT_HELP["config"],
    epilog="""\b
Examples:
  binmon config                  the file's path, and everything it sets (checked whole)
  binmon config watch            each option of watch, its value and where it comes from
  BINMON_CONFIG=./ci.toml binmon config assets
""",
)
@click.argument(
    "command_name", metavar="[COMMAND]", required=False, shell_complete=_complete_command
)
@click.pass_context
def command(ctx: click.Context, command_name: str | None) -> None:
    """Show the config file's path and the settings in effect for COMMAND.

    The file is TOML: long option names as keys (ws-url or ws_url), at the
    top level for every command that has the option, or in a [COMMAND] table
    for one command. Flags on the command line and BINMON_* environment
    variables win over it. Its path: $BINMON_CONFIG, else config.toml in the
    user config directory (~/.config/binmon on Linux, or $XDG_CONFIG_HOME/binmon).
    """
    from binmon.config import (
        ENV_VAR,
        check_all,
        config_path,
        effective,
        read_file,
        settings_for,
        shown_value,
    )
    from binmon.diag import printable

    group = ctx.find_root().command
    assert isinstance(group, click.Group)
    commands = group.commands
    if command_name is not None and command_name not in commands:
        raise click.BadParameter(
            f"no command {command_name!r} (one of: {', '.join(sorted(commands))})",
            param_hint="COMMAND",
        )
    path = config_path(os.environ)
    document = read_file(path)
    how = f"from ${ENV_VAR}" if os.environ.get(ENV_VAR) else f"set ${ENV_VAR} to use another"
    state = "" if path.is_file() else " (no such file: built-in defaults apply)"
    click.echo(f"Config file: {printable(path.absolute())}{state} ({how})")

    if command_name is None:
        check_all(document, path, commands)
        tables = [(None, document)] + [
            (k, v) for k, v in document.items() if isinstance(v, dict) and v
        ]
        for table, entries in tables:
            values = {k: v for k, v in entries.items() if not isinstance(v, dict)}
            if not values:
                continue
            click.echo("Top level (every command with the option):" if table is None else "")
            if table is not None:
                click.echo(f"[{table}]")
            for key, value in values.items():
                click.echo(f"  {printable(key)} = {shown_value(value)}")
        click.echo("`binmon config COMMAND` shows the settings in effect for one command.")
        return

    settings = settings_for(document, path, commands, command_name)
    rows = effective(commands[command_name], settings, os.environ)
    click.echo(f"Settings in effect for `binmon {command_name}` (flags on its command line win):")
    width = max((len(r.option) for r in rows), default=0)
    shown = [shown_value(r.value) for r in rows]
    value_width = min(40, max((len(v) for v in shown), default=0))
    for row, value in zip(rows, shown, strict=True):
        click.echo(f"  {row.option:<{width}}  {value:<{value_width}}  {row.source}")
