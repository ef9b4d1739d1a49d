"""Shell completion (click's own) as the shells use it: the binmon process, and bash itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from binmon.cli import cli

BINMON = [sys.executable, "-m", "binmon"]
COMMANDS = sorted(cli.commands)


def complete(shell: str, words: str, cword: int) -> list[str]:
    """What ``binmon`` answers a shell's completion function."""
    env = {
        **os.environ,
        "_BINMON_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    result = subprocess.run(BINMON, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def values(lines: list[str]) -> list[str]:
    """bash's ``type,value`` lines, kept when plain."""
    return [line.split(",", 1)[1] for line in lines if line.startswith("plain,")]


def test_bash_completes_command_names() -> None:
    assert {"watch", "upcoming", "config"} <= set(COMMANDS)
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
    env = {
        **os.environ,
        "_BINMON_COMPLETE": "fish_complete",
        "COMP_WORDS": "binmon contracts --market ",
        "COMP_CWORD": "",
    }
    result = subprocess.run(BINMON, env=env, capture_output=True, text=True, timeout=30)
    assert result.stdout.splitlines() == ["plain,um", "plain,cm"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_source_scripts_for_each_shell(shell: str) -> None:
    env = {**os.environ, "_BINMON_COMPLETE": f"{shell}_source"}
    result = subprocess.run(BINMON, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stderr == ""
    assert f"_BINMON_COMPLETE={shell}_complete" in result.stdout


def bash_completion(words: list[str], tmp_path: Path) -> list[str]:
    """Run the script ``eval "$(_BINMON_COMPLETE=bash_source binmon)"`` installs, in bash."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    launcher = bindir / "binmon"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m binmon "$@"\n')
    launcher.chmod(0o755)
    script = (
        'eval "$(_BINMON_COMPLETE=bash_source binmon)"\n'
        f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_binmon_completion binmon\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_real_bash_with_the_installed_script(tmp_path: Path) -> None:
    assert bash_completion(["binmon", "u"], tmp_path) == ["upcoming"]
    assert bash_completion(["binmon", ""], tmp_path) == COMMANDS
    assert bash_completion(["binmon", "upcoming", "--market", ""], tmp_path) == ["um", "cm"]
