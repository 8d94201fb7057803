"""Fixtures shared by every tier: the golden-file mechanism.

`make golden` runs `pytest tests/unit --update-golden`: each `golden(name, text)`
call then rewrites `tests/unit/golden/<name>` instead of comparing with it, and
the change is reviewed as a git diff like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent / "unit" / "golden"
UPDATE_FLAG = "--update-golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        UPDATE_FLAG,
        action="store_true",
        default=False,
        help="rewrite the golden files under tests/unit/golden/ from the current output",
    )


class Golden(Protocol):
    """Compares `text` with the golden file `name` (or rewrites it under --update-golden)."""

    def __call__(self, name: str, text: str) -> None: ...


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    update = bool(request.config.getoption(UPDATE_FLAG))

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
            return
        if not path.exists():
            pytest.fail(f"no golden file {path}; run `make golden` and review the new file")
        expected = path.read_text()
        # Plain equality (not a custom message) so pytest shows a line diff.
        assert text == expected, f"{name} differs from its golden file; `make golden` rewrites it"

    return check
