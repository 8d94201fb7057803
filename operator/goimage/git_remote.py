"""`git ls-remote` over smart HTTP(S): the refs of a repository, and the commit a revision names.

Built on dulwich's HTTP client (urllib3 underneath, as the Kubernetes client):
it speaks protocol v2 where the server does (`ls-refs` with ref prefixes, so a
repository with thousands of tags or pull refs answers with only the refs
asked for, peeled tags and HEAD's target included) and falls back to v0's
advertisement. Every connect and read waits at most `timeout_s`, and a failed
connect is tried once more, not urllib3's three times. Credentials go in the
Authorization header only: no message or log line here contains them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import urllib3
from dulwich.client import HTTPUnauthorized, Urllib3HttpGitClient, default_urllib3_manager
from dulwich.errors import GitProtocolError, NotGitRepository
from dulwich.refs import Ref

from goimage.core.source import HEAD, Resolved, SourceUnavailable, candidate_refs, choose_commit

DEFAULT_TIMEOUT_S = 10.0
_USERINFO = re.compile(r"^(https?://)[^/@]*@")


class GitRemoteError(SourceUnavailable):
    """The git server could not be asked, or refused: the message says which (no secrets)."""


@dataclass(frozen=True)
class Credentials:
    """HTTP basic credentials, as Kaniko builds them from the same env vars."""

    username: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credentials | None:
        """GIT_USERNAME/GIT_PASSWORD, or GIT_TOKEN (which wins, as the username, as in
        Kaniko); None when none is set."""
        env = os.environ if env is None else env
        token = env.get("GIT_TOKEN", "")
        if token:
            return cls(username=token)
        username, password = env.get("GIT_USERNAME", ""), env.get("GIT_PASSWORD", "")
        if username or password:
            return cls(username=username, password=password)
        return None


@dataclass(frozen=True)
class RefListing:
    """Ref name -> object id (annotated tags also as `<tag>^{}` -> commit), and HEAD's target."""

    refs: Mapping[str, str]
    head_target: str = ""


class _PoolManager(urllib3.PoolManager):
    """urllib3's pool manager with one retry of a failed connect and none of a read, that
    closes every response it gave out when told: dulwich raises on a 401 or a 404 without
    closing the response, which would keep its socket open until the garbage collector."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("retries", urllib3.Retry(connect=1, read=0, status=0, other=0))
        super().__init__(*args, **kwargs)
        self.responses: list[urllib3.BaseHTTPResponse] = []

    def urlopen(  # type: ignore[override]  # urllib3's own PoolManager says the same
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> urllib3.BaseHTTPResponse:
        response = super().urlopen(method, url, redirect=redirect, **kw)
        self.responses.append(response)
        return response

    def close(self) -> None:
        for response in self.responses:
            response.close()
        self.clear()


def redact(url: str) -> str:
    """The URL without user:password@ (spec URLs have none; this keeps it so)."""
    return _USERINFO.sub(r"\1", url)


def list_refs(
    url: str,
    *,
    prefixes: Sequence[str] = (),
    credentials: Credentials | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> RefListing:
    """`git ls-remote URL [prefixes]`: the refs the server advertises (all when no prefix)."""
    manager = default_urllib3_manager(
        config=None, pool_manager_cls=_PoolManager, base_url=url, timeout=timeout_s
    )
    client = Urllib3HttpGitClient(
        url,
        pool_manager=manager,
        username=credentials.username if credentials else None,
        password=credentials.password if credentials else None,
    )
    where = redact(url)
    try:
        result = client.get_refs("", ref_prefix=[prefix.encode() for prefix in prefixes] or None)
    except HTTPUnauthorized:
        given = "the credentials were refused" if credentials else "no credentials were given"
        raise GitRemoteError(f"{where}: the git server asks for credentials; {given}") from None
    except NotGitRepository:
        raise GitRemoteError(f"{where}: no git repository there (HTTP 404)") from None
    except GitProtocolError as error:
        raise GitRemoteError(f"{where}: {redact(str(error))}") from None
    except (OSError, urllib3.exceptions.HTTPError) as error:
        raise GitRemoteError(f"{where}: {type(error).__name__}: {redact(str(error))}") from None
    finally:
        if isinstance(manager, _PoolManager):
            manager.close()
        else:  # a proxy's manager (HTTPS_PROXY): dulwich's own
            manager.clear()
    refs = {name.decode(): str(value.decode()) for name, value in result.refs.items() if value}
    head = result.symrefs.get(Ref(HEAD.encode()), Ref(b"")).decode()
    return RefListing(refs=refs, head_target=head)


def resolve(
    url: str,
    revision: str,
    *,
    credentials: Credentials | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Resolved:
    """The commit `revision` names in the repository at `url` now (a commit: itself, no
    network); raises ResolveError (GitRemoteError when the server could not say)."""
    wanted = candidate_refs(revision)
    if not wanted:
        return choose_commit(revision, {})
    # Prefixes as ls-refs takes them; tags' peeled entries come with their tag.
    listing = list_refs(url, prefixes=wanted, credentials=credentials, timeout_s=timeout_s)
    return choose_commit(revision, listing.refs, head_target=listing.head_target)
