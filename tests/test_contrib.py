"""contrib/: the alerting rules under `promtool test rules`, the scrape config, the systemd unit."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prometheus import tool
from tests.test_metrics import SPEC_FAMILIES

CONTRIB = Path(__file__).resolve().parents[1] / "contrib"
RULES = CONTRIB / "prometheus" / "binmon.rules.yml"
UNIT = CONTRIB / "systemd" / "binmon-exporter.service"


def test_promtool_rule_tests_pass() -> None:
    result = subprocess.run(
        [tool("promtool"), "test", "rules", "rules_test.yml"],
        cwd=CONTRIB / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_scrape_config_and_rules_are_valid() -> None:
    result = subprocess.run(
        [tool("promtool"), "check", "config", "prometheus.yml"],
        cwd=CONTRIB / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 rules found" in result.stdout


def test_rules_use_only_metrics_binmon_exposes() -> None:
    used = set(re.findall(r"\bbinmon_[a-z_]+", RULES.read_text()))
    assert used and used <= set(SPEC_FAMILIES), used - set(SPEC_FAMILIES)


def test_systemd_unit_runs_the_exporter(tmp_path: Path) -> None:
    text = UNIT.read_text()
    exec_start = re.search(r"^ExecStart=(.+)$", text, re.M)
    assert exec_start is not None
    argv = shlex.split(exec_start.group(1))
    assert argv[:2] == ["/usr/local/bin/binmon", "exporter"]
    assert re.search(r"^Restart=always$", text, re.M)
    # The command line is one binmon accepts.
    result = subprocess.run(
        [sys.executable, "-m", "binmon", *argv[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit's syntax is not checked")
    binmon = Path(sys.executable).with_name("binmon")
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace("/usr/local/bin/binmon", str(binmon)))
    check = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stderr == ""
