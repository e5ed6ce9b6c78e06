"""The systemd units in contrib/systemd: checked by systemd itself where it is installed (Debian's
`systemd` package brings systemd-analyze), and for their key settings everywhere."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS_DIR = Path(__file__).resolve().parent.parent / "contrib" / "systemd"
WATCH = "productiv-upload-watch.service"
PUSH = "productiv-upload.service"
TIMER = "productiv-upload.timer"
UNITS = (WATCH, PUSH, TIMER)
INSTALLED_PROGRAM = "/usr/local/bin/productiv-upload"  # what the units' ExecStart= runs
SPOOL = "/var/spool/productiv-upload"
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 is fully locked down, 10 not at all

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """Sections of Key=value settings; a repeated key keeps every value, in order.

    configparser cannot read these: systemd repeats keys on purpose (Environment=,
    SystemCallFilter=) and continues lines with a trailing backslash.
    """
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"setting outside a section: {line!r}"
        key, separator, value = line.partition("=")
        assert separator, f"not a Key=value line: {line!r}"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def load(name: str) -> Unit:
    return parse_unit((UNITS_DIR / name).read_text(encoding="utf-8"))


def single(unit: Unit, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}= should be set once, found {values}"
    return values[0]


def words(unit: Unit, section: str, key: str) -> list[str]:
    """Every space-separated word of every `key=` line (ReadWritePaths=, SystemCallFilter=...)."""
    return [word for value in unit.get(section, {}).get(key, []) for word in value.split()]


def command(unit: Unit) -> list[str]:
    # systemd's quoting of ExecStart= is close enough to the shell's for these lines.
    return shlex.split(single(unit, "Service", "ExecStart"))


def copy_with_stub_program(destination: Path) -> list[Path]:
    """The units, with ExecStart= pointed at an executable that exists on this machine.

    `systemd-analyze verify` checks that the program is there; it is not installed here.
    """
    stub = destination / "productiv-upload"
    stub.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    stub.chmod(0o755)
    copies = []
    for name in UNITS:
        text = (UNITS_DIR / name).read_text(encoding="utf-8")
        copy = destination / name
        copy.write_text(text.replace(INSTALLED_PROGRAM, str(stub)), encoding="utf-8")
        copies.append(copy)
    return copies


def systemd_analyze() -> str:
    program = shutil.which("systemd-analyze")
    if program is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    return program


def systemd_version(program: str) -> int:
    first_line = subprocess.run(
        [program, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()[0]
    match = re.match(r"systemd (\d+)", first_line)
    assert match, first_line
    return int(match.group(1))


# Checked by systemd itself


def test_systemd_analyze_verify_finds_nothing_to_say_about_the_units(tmp_path: Path) -> None:
    program = systemd_analyze()
    copies = copy_with_stub_program(tmp_path)
    # --man=no: the units name no man pages of their own to look for.
    result = subprocess.run(
        [program, "verify", "--man=no", *map(str, copies)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    # verify exits 0 even when it ignores an unknown key or a bad value, but prints it: any
    # line naming one of our units is a mistake in it. (Lines about the machine's own units,
    # which some systems print, are not ours to judge.)
    output = result.stdout + result.stderr
    ours = [line for line in output.splitlines() if any(name in line for name in UNITS)]
    assert ours == [], output
    assert result.returncode == 0, output


@pytest.mark.parametrize("name", [WATCH, PUSH])
def test_systemd_rates_the_hardening_of_the_services_as_good(tmp_path: Path, name: str) -> None:
    program = systemd_analyze()
    if systemd_version(program) < 250:
        pytest.skip("systemd-analyze security --offline needs systemd 250 or later")
    copy = dict(zip(UNITS, copy_with_stub_program(tmp_path), strict=True))[name]
    result = subprocess.run(
        [program, "security", "--offline=true", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


# Key settings, checked without systemd


def test_the_watch_service_runs_watch_in_the_foreground_and_restarts_on_failure() -> None:
    unit = load(WATCH)
    # READY=1 once the start-up check passed; WATCHDOG=1 from the main loop.
    assert single(unit, "Service", "Type") == "notify"
    assert float(single(unit, "Service", "WatchdogSec")) >= 10
    assert single(unit, "Service", "Restart") == "on-failure"
    assert float(single(unit, "Service", "RestartSec")) > 0
    # Exit codes 2 (bad usage) and 3 (credentials refused) do not mend by restarting.
    assert {"2", "3"} <= set(words(unit, "Service", "RestartPreventExitStatus"))
    assert "4" not in words(unit, "Service", "RestartPreventExitStatus")  # a lock frees up
    # SIGTERM drains for 5 seconds; systemd must wait longer than that before SIGKILL.
    assert float(single(unit, "Service", "TimeoutStopSec")) > 5
    assert command(unit) == [
        INSTALLED_PROGRAM, "watch", "--min-age", "10",
        "--move-to", f"{SPOOL}/sent", f"{SPOOL}/outbox",
    ]  # fmt: skip
    assert single(unit, "Install", "WantedBy") == "multi-user.target"


def test_the_push_service_runs_push_once_on_the_outbox_pattern() -> None:
    unit = load(PUSH)
    assert single(unit, "Service", "Type") == "oneshot"
    argv = command(unit)
    assert argv[:2] == [INSTALLED_PROGRAM, "push"]
    # One argument, expanded by productiv-upload itself; systemd runs no shell.
    assert argv[-1] == f"{SPOOL}/outbox/*"
    assert "--allow-empty" in argv  # an empty outbox is a successful run
    assert argv[argv.index("--min-age") + 1] == "60"
    assert argv[argv.index("--move-to") + 1] == f"{SPOOL}/sent"
    assert "-q" in argv
    assert "Install" not in unit  # started by the timer, not enabled on its own


def test_the_timer_starts_the_push_service_every_15_minutes() -> None:
    unit = load(TIMER)
    assert single(unit, "Timer", "OnCalendar") == "*:0/15"
    assert single(unit, "Timer", "Persistent") == "true"
    assert 0 < float(single(unit, "Timer", "RandomizedDelaySec")) <= 120
    # Without Unit=, a timer starts the service of its own name (verify does not check that).
    assert "Unit" not in unit["Timer"]
    assert (UNITS_DIR / TIMER.replace(".timer", ".service")).is_file()
    assert single(unit, "Install", "WantedBy") == "timers.target"


@pytest.mark.parametrize("name", [WATCH, PUSH])
def test_the_services_are_hardened(name: str) -> None:
    unit = load(name)
    assert single(unit, "Service", "ProtectSystem") == "strict"
    assert single(unit, "Service", "ProtectHome") == "yes"
    assert single(unit, "Service", "PrivateTmp") == "yes"
    assert single(unit, "Service", "NoNewPrivileges") == "yes"
    assert single(unit, "Service", "User") == "productiv-upload"
    # With the file system read-only, the spool (moving files to sent/) must be writable...
    assert words(unit, "Service", "ReadWritePaths") == [SPOOL]
    # ...and the state folder (journal, lock), which systemd creates for the service user.
    assert single(unit, "Service", "StateDirectory") == "productiv-upload"
    environment = words(unit, "Service", "Environment")
    assert "PRODUCTIV_UPLOAD_STATE_DIR=%S/productiv-upload" in environment
    assert "PYTHONUNBUFFERED=1" in environment  # each line reaches the journal as it is written


@pytest.mark.parametrize("name", [WATCH, PUSH])
def test_the_services_take_the_secret_as_an_encrypted_systemd_credential(name: str) -> None:
    unit = load(name)
    assert single(unit, "Service", "LoadCredentialEncrypted") == (
        "productiv-client-secret:/etc/credstore.encrypted/productiv-client-secret"
    )
    assert "EnvironmentFile" not in unit["Service"]
    # A secret in the unit itself would be readable by every user (`systemctl show`).
    for variable in ("PRODUCTIV_CLIENT_SECRET", "PRODUCTIV_ACCESS_TOKEN"):
        assert not any(word.startswith(variable) for word in words(unit, "Service", "Environment"))


def test_the_unit_parser_keeps_repeated_keys_and_continued_lines() -> None:
    unit = parse_unit(
        "# comment\n[Service]\nEnvironment=A=1\n; other comment\nEnvironment=B=2\n"
        "ExecStart=/bin/prog \\\n    --flag value\nCapabilityBoundingSet=\n"
    )
    assert unit["Service"]["Environment"] == ["A=1", "B=2"]
    assert unit["Service"]["ExecStart"] == ["/bin/prog --flag value"]
    assert unit["Service"]["CapabilityBoundingSet"] == [""]
