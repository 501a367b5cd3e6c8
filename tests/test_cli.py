"""The `pinpipe` command as a newcomer meets it: version, help on every option, status exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from pinpipe import __version__
from pinpipe.cli import NOT_RUNNING, cli

PINPIPE = Path(sys.executable).with_name("pinpipe")


def pinpipe(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PINPIPE), "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_version(tmp_path: Path) -> None:
    shown = pinpipe(tmp_path, "--version")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"pinpipe, version {__version__}"
    assert __version__[0].isdigit()


def walk(command: click.Command, path: str = "pinpipe") -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found.extend(walk(sub, f"{path} {name}"))
    return found


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, command in walk(cli):
        if not (command.help or "").strip():
            missing.append(path)
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{path} {param.opts[0]}")
    assert missing == []


def test_status_commands_exit_non_zero_when_the_service_is_down(tmp_path: Path) -> None:
    for service, line in (("kafka", "kafka not running"), ("aws", "moto not running")):
        status = pinpipe(tmp_path, service, "status")
        assert (status.returncode, status.stdout.strip()) == (NOT_RUNNING, line), status.stderr
