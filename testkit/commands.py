"""One way to run a command for the kit, the tests and the benchmarks: output captured, and
a failure raised with the command line, its exit code and what it printed."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# Enough of each stream to see why a command failed, not a whole build log.
OUTPUT_TAIL_CHARS = 8000


class CommandFailed(AssertionError):
    """A command exited non-zero or ran out of time.

    An AssertionError: in a test, a failed command is a failed check.
    """


def _tail(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    text = text or ""
    return text if len(text) <= OUTPUT_TAIL_CHARS else "..." + text[-OUTPUT_TAIL_CHARS:]


def failure_message(command: Sequence[str], outcome: str, stdout: str, stderr: str) -> str:
    """What a failed command says: its line, how it ended, the tail of each stream."""
    return (
        f"{shlex.join(command)} {outcome}\n"
        f"--- stdout:\n{_tail(stdout).rstrip()}\n--- stderr:\n{_tail(stderr).rstrip()}"
    )


def run(
    command: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`command` run to its end, in text mode with stdout and stderr captured.

    With `check`, a non-zero exit raises CommandFailed; a timeout always does.
    `env` replaces the environment (None: ours).
    """
    args = [str(arg) for arg in command]
    try:
        result = subprocess.run(
            args,
            input=input,
            capture_output=True,
            text=True,
            env=None if env is None else dict(env),
            cwd=cwd,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        raise CommandFailed(
            failure_message(
                args, f"ran over {timeout:g}s", _tail(error.stdout), _tail(error.stderr)
            )
        ) from None
    if check and result.returncode != 0:
        raise CommandFailed(
            failure_message(args, f"exited {result.returncode}", result.stdout, result.stderr)
        )
    return result
