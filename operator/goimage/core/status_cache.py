"""The status each GoImageBuild has since the operator's own last write of it.

The goimagebuilds index shows a GoImageBuild as of its last watch event, which
trails the operator's own status writes. Job and Pod events that came in
between derived the status from the older one, wrote again what was written
already, and announced a transition twice. So the operator keeps what it wrote
(by uid, the newest writes, a bounded number of them) and derives from that
while it is about the same build; and it derives and writes each
GoImageBuild's status in order, one event at a time (`ordered`).

Pure apart from its locks: no client, no kopf. One instance per operator,
made at start-up and handed to the handlers in kopf's memo.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

DEFAULT_LIMIT = 4096
# Locks, shared by uids that hash alike: enough for the handler threads to
# seldom wait on another build's write, and no lock to make or forget per uid.
DEFAULT_STRIPES = 64


class WrittenStatuses:
    """The last status written per GoImageBuild uid, the newest `limit` of them."""

    def __init__(self, limit: int = DEFAULT_LIMIT, stripes: int = DEFAULT_STRIPES) -> None:
        if limit < 1 or stripes < 1:
            raise ValueError(f"limit and stripes must be positive, not {limit} and {stripes}")
        self._limit = limit
        self._written: OrderedDict[str, Mapping[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._stripes = tuple(threading.Lock() for _ in range(stripes))

    @contextmanager
    def ordered(self, uid: str) -> Iterator[None]:
        """Hold this GoImageBuild's lock: one derive-and-write of its status at a time."""
        with self._stripes[hash(uid) % len(self._stripes)]:
            yield

    def known(self, uid: str, indexed: Mapping[str, Any], build_id: str) -> Mapping[str, Any]:
        """The status as of the last write, if it was of build `build_id`; else `indexed`.

        A write of another build (an older one, or before a rebuild) says nothing
        of this one: the index is newer then.
        """
        with self._lock:
            written = self._written.get(uid)
        return written if written is not None and written.get("buildId") == build_id else indexed

    def remember(self, uid: str, written: Mapping[str, Any]) -> None:
        """Keep `written` as the uid's status; past the limit, forget the least recently written."""
        with self._lock:
            self._written[uid] = written
            self._written.move_to_end(uid)
            while len(self._written) > self._limit:
                self._written.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._written)

    def __contains__(self, uid: object) -> bool:
        with self._lock:
            return uid in self._written
