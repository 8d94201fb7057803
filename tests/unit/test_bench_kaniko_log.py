"""bench/node.py's reading of a Kaniko log: where a real build's time went."""

from __future__ import annotations

import pytest
from bench.node import build_phases, kaniko_phases

# Kaniko's lines as `kubectl logs --timestamps` shows them (shortened).
LOG = """\
2026-11-26T20:47:03.500000000Z Enumerating objects: 7, done.
2026-11-26T20:47:03.600000000Z level=info msg="Unpacking rootfs as cmd COPY go.mod ./ requires it."
2026-11-26T20:47:11.600000000Z level=info msg="COPY go.mod ./"
2026-11-26T20:47:11.800000000Z level=info msg="Taking snapshot of full filesystem..."
2026-11-26T20:47:12.800000000Z level=info msg="Running: [/bin/sh -c go mod download]"
2026-11-26T20:47:13.300000000Z level=info msg="Running: [/bin/sh -c go build -o /out/bin/hello .]"
2026-11-26T20:47:15.300000000Z go: downloading example.com/late v1.0.0
2026-11-26T20:47:16.300000000Z level=info msg="Pushed 10.89.0.1:5000/hello/cache@sha256:7328"
2026-11-26T20:47:20.300000000Z level=info msg="Deleting filesystem..."
2026-11-26T20:47:23.300000000Z level=info msg="Pushing image to 10.89.0.1:5000/hello"
2026-11-26T20:47:23.500000000Z level=info msg="Pushed 10.89.0.1:5000/examples/hello@sha256:c6a9"
"""
START = 1795725950.0  # 2026-11-26T20:45:50Z: the create returned
DONE = 1795726045.0  # 2026-11-26T20:47:25Z: the status read Succeeded


def test_each_line_owns_the_time_until_the_next() -> None:
    phases = kaniko_phases(LOG)
    assert phases["unpack base image"] == pytest.approx(8.0)
    assert phases["snapshot filesystem"] == pytest.approx(1.0)
    assert phases["go mod download + std packages"] == pytest.approx(0.5)
    assert phases["go build"] == pytest.approx(7.0)
    assert phases["clear stage filesystem"] == pytest.approx(3.0)
    assert phases["push"] == pytest.approx(0.2)
    # The git line (before Kaniko's first line: "other") and the COPY line.
    assert phases["other"] == pytest.approx(0.1 + 0.2)


def test_a_runs_own_output_stays_in_the_runs_phase() -> None:
    # "go: downloading ..." is go build's output, 2 s into the 7 s compile; the
    # cache layer pushed in the background a second later does not end it either.
    assert kaniko_phases(LOG)["go build"] == pytest.approx(7.0)
    assert "go: downloading" in LOG


def test_the_parts_add_up_to_the_whole_build() -> None:
    phases = build_phases(START, DONE, LOG)
    assert sum(phases.values()) == pytest.approx(DONE - START)
    before = phases["create -> Kaniko's first line (reconcile, Job, pod start, git clone)"]
    assert before == pytest.approx(73.5)
    after = phases["Kaniko's last line -> status Succeeded (report step, status write)"]
    assert after == pytest.approx(1.5)


def test_a_build_that_logged_nothing_is_one_part() -> None:
    assert build_phases(START, DONE, "no timestamps here\n") == {
        "whole build (Kaniko logged nothing)": DONE - START
    }
