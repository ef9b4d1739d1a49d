"""Shell completion (click's own) as the shells use it: the binmon process, and bash itself.

Most answers are asked of the entry point in-process (the same code a shell's
completion function reaches); the process itself and a real bash running the
installed script are each tested once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from binmon.cli import cli

BINMON = [sys.executable, "-m", "binmon"]
COMMANDS = sorted(cli.commands)


def completion_env(shell: str, words: str, cword: int | str) -> dict[str, str]:
    return {"_BINMON_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}


def complete(shell: str, words: str, cword: int | str) -> list[str]:
    """What ``binmon`` answers a shell's completion function."""
    result = CliRunner().invoke(
        cli, [], env=completion_env(shell, words, cword), prog_name="binmon"
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout.splitlines()


def values(lines: list[str]) -> list[str]:
    """bash's ``type,value`` lines, kept when plain."""
    return [line.split(",", 1)[1] for line in lines if line.startswith("plain,")]


def test_the_binmon_process_completes_commands_and_market_values() -> None:
    answers = []
    for words, cword in (("binmon ", 1), ("binmon upcoming --market ", 3)):
        env = {**os.environ, **completion_env("bash", words, cword)}
        result = subprocess.run(BINMON, env=env, capture_output=True, text=True, timeout=30)
        assert (result.returncode, result.stderr) == (0, "")
        answers.append(values(result.stdout.splitlines()))
    assert {"watch", "upcoming", "config"} <= set(COMMANDS)
    assert answers == [COMMANDS, ["um", "cm"]]


def test_bash_completes_command_names() -> None:
    assert values(complete("bash", "binmon ", 1)) == COMMANDS
    assert values(complete("bash", "binmon co", 1)) == ["config", "contracts"]
    assert values(complete("bash", "binmon -v up", 2)) == ["upcoming"]


@pytest.mark.parametrize("command", ["upcoming", "contracts", "watch"])
def test_bash_completes_market_values(command: str) -> None:
    assert values(complete("bash", f"binmon {command} --market ", 3)) == ["um", "cm"]
    assert values(complete("bash", f"binmon {command} --market c", 3)) == ["cm"]


def test_bash_completes_options_and_files() -> None:
    options = values(complete("bash", "binmon upcoming --", 2))
    assert {"--json", "--symbol", "--market", "--rest-url", "--testnet"} <= set(options)
    assert complete("bash", "binmon brackets --from ", 3) == ["file,"]


def test_config_completes_a_command_name() -> None:
    assert values(complete("bash", "binmon config w", 2)) == ["watch"]


def test_zsh_and_fish_protocols() -> None:
    # zsh: type, value, description (``_`` for none) on three lines each.
    assert complete("zsh", "binmon upcoming --market ", 3) == [
        "plain",
        "um",
        "_",
        "plain",
        "cm",
        "_",
    ]
    zsh = complete("zsh", "binmon up", 1)
    assert zsh[:2] == ["plain", "upcoming"] and "listings" in zsh[2]
    # fish: COMP_CWORD carries the word being completed.
    assert complete("fish", "binmon contracts --market ", "") == ["plain,um", "plain,cm"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_source_scripts_for_each_shell(shell: str) -> None:
    env = {"_BINMON_COMPLETE": f"{shell}_source"}
    result = CliRunner().invoke(cli, [], env=env, prog_name="binmon")
    assert result.exit_code == 0 and result.stderr == ""
    assert f"_BINMON_COMPLETE={shell}_complete" in result.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_real_bash_with_the_installed_script(tmp_path: Path) -> None:
    # The script `eval "$(_BINMON_COMPLETE=bash_source binmon)"` installs, run by bash
    # for two command lines; binmon is found on PATH as a shell would find it.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "binmon"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m binmon "$@"\n')
    launcher.chmod(0o755)
    script = """
eval "$(_BINMON_COMPLETE=bash_source binmon)"
COMP_WORDS=(binmon u); COMP_CWORD=1; COMPREPLY=()
_binmon_completion binmon
echo "${COMPREPLY[*]}"
COMP_WORDS=(binmon upcoming --market ''); COMP_CWORD=3; COMPREPLY=()
_binmon_completion binmon
echo "${COMPREPLY[*]}"
"""
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["upcoming", "um cm"]
