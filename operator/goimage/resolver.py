"""The `resolve` step of a resolve pod: the commit a revision names, as a termination message.

Runs in a short Job for repositories with a `secretRef`, with the Secret's keys
as the env vars Kaniko reads (GIT_USERNAME, GIT_PASSWORD, GIT_TOKEN), so the
operator, which reads no Secret, learns the commit from the pod's termination
message alone. Writes {"commit", "ref"}, or {"error"} and exits 1; never
prints a credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from goimage import git_remote
from goimage.core import source

TERMINATION_LOG = Path("/dev/termination-log")


def resolve_step(
    *,
    url: str,
    revision: str,
    timeout_s: float = git_remote.DEFAULT_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    termination_log: Path = TERMINATION_LOG,
) -> tuple[int, str]:
    """Resolve, write the termination message; return the exit code and the message."""
    try:
        resolved = git_remote.resolve(
            url,
            revision,
            credentials=git_remote.Credentials.from_env(env),
            timeout_s=timeout_s,
        )
    except source.ResolveError as error:
        message = source.resolve_error_message(error)
        termination_log.write_text(message)
        return 1, message
    message = source.resolve_message(resolved)
    termination_log.write_text(message)
    return 0, message
