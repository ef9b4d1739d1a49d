"""The click layer: parse, build the environment, hand over to the core.

Each command lives in ``binmon/commands/<name>.py``. Command modules import
only click at module level so that ``--help`` and ``--version`` stay fast;
aiohttp and rich are imported inside the commands that use them.
"""

from __future__ import annotations

import os
import sys

import click

from binmon import __version__
from binmon.commands import SHORT_HELP, Commands
from binmon.commands.options import verbosity_options
from binmon.errors import BinmonError, ExitStatus


class _Failure(click.ClickException):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it per class


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, without importing shutil (and,
    through it, bz2, lzma and zlib): a twentieth of ``binmon --help``'s time."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Context(click.Context):
    def make_formatter(self) -> click.HelpFormatter:
        # click's own rule, with the columns found as above.
        width = self.terminal_width or click.formatting.FORCED_WIDTH
        if width is None:
            width = max(min(_terminal_columns(), self.max_content_width or 80) - 2, 50)
        return self.formatter_class(width=width, max_width=self.max_content_width)


class BinmonGroup(click.Group):
    """Turns expected failures into click's one-line ``Error: …`` and exit status.

    Its commands are imported when wanted (:class:`binmon.commands.Commands`);
    the help lists them without importing any.
    """

    context_class = _Context

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SHORT_HELP[name]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BinmonError as exc:
            raise _Failure(str(exc), int(exc.exit_status)) from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(ExitStatus.INTERRUPTED) from None
        except BrokenPipeError:
            # The reader went away (`| head -1`): not an error worth a word.
            _silence_stdout()
            raise click.exceptions.Exit(ExitStatus.OK) from None


@click.group(
    cls=BinmonGroup,
    commands=Commands(),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  binmon watch                       both streams as live tables
  binmon assets --json | jq .        asset index as JSON lines
  binmon contracts --changes-only    only listings, delistings, bracket changes
  binmon brackets BTCUSDT --notional 250000
  binmon demo                        everything offline, against a local stand-in
""",
)
@click.version_option(__version__, "--version", prog_name="binmon")
@verbosity_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Watch Binance USD-M futures market metadata: asset index and contract info."""
    # Runs after the group's own options, before the command parses its own:
    # the config file's settings become that command's defaults.
    from binmon.commands.config import apply_config_file

    apply_config_file(ctx)


def _silence_stdout() -> None:
    # After a broken pipe, Python would complain again when it flushes stdout
    # at exit; point the descriptor at /dev/null so it has nothing to say.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def main(argv: list[str] | None = None) -> None:
    try:
        status = cli.main(args=argv, prog_name="binmon", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.Abort):
        sys.exit(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(ExitStatus.OK)
    sys.exit(status if isinstance(status, int) else ExitStatus.OK)
