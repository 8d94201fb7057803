"""A ResourceQuota that refuses a build's Job: told apart from other refusals, retried with
a growing delay, and its wait never undone by a Job event that does not know of it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from tests.unit.test_status import NOW, from_build, job_complete, job_running, make_pod, running
from tests.unit.test_status import waiting as waiting_state

from goimage.core import status, status_update
from goimage.handlers import builds
from goimage.k8s import api

JOB_WORDS = (
    'jobs.batch "hello-1" is forbidden: exceeded quota: jobs, requested: count/jobs.batch=1, '
    "used: count/jobs.batch=1, limited: count/jobs.batch=1"
)
POD_WORDS = 'pods "hello-1-abcde" is forbidden: exceeded quota: pods, requested: pods=1'


def refusing(status_code: int, message: str) -> Callable[..., Any]:
    def create(**_: Any) -> None:
        failure = ApiException(status=status_code, reason="Forbidden")
        failure.body = json.dumps({"kind": "Status", "message": message, "reason": "Forbidden"})
        raise failure

    return create


JOB = {"kind": "Job", "metadata": {"name": "hello-1", "namespace": "team-a"}}


def test_a_quota_refusal_is_told_apart_with_the_api_servers_words() -> None:
    with pytest.raises(api.QuotaExceeded) as raised:
        api._create(refusing(403, JOB_WORDS), "team-a", JOB)
    assert raised.value.kind == "Job"
    assert raised.value.message == JOB_WORDS
    assert str(raised.value) == f"Job: {JOB_WORDS}"


def test_other_forbidden_errors_are_not_a_quota() -> None:
    with pytest.raises(ApiException):
        api._create(refusing(403, 'jobs.batch is forbidden: User "x" cannot create'), "ns", JOB)


def test_an_invalid_job_is_still_refused_for_good() -> None:
    with pytest.raises(api.Refused):
        api._create(refusing(422, "spec.template: Invalid value"), "ns", JOB)


def test_retry_delay_grows_to_a_cap() -> None:
    delays = [builds.quota_retry_delay(n) for n in range(8)]
    assert delays[:5] == [5.0, 10.0, 20.0, 40.0, 60.0]
    assert delays == sorted(delays)
    assert max(delays) == builds.QUOTA_RETRY_MAX_S


class TestPodRefusalStays:
    def refused(self) -> dict[str, Any]:
        return status.status_from_build(
            job=job_running(), pod=None, previous={}, now=NOW, pod_refused=POD_WORDS
        )

    def test_a_job_event_without_the_words_keeps_the_wait(self) -> None:
        patch = status_update.status_update(
            job=job_running(), pod=None, known=self.refused(), now=NOW
        )
        assert patch is None

    def test_the_pod_that_comes_ends_the_wait(self) -> None:
        pod = make_pod("Pending", running(), waiting_state("PodInitializing"))
        patch = status_update.status_update(
            job=job_running(), pod=pod, known=self.refused(), now=NOW
        )
        assert patch is not None
        assert patch["phase"] == "Building"

    def test_a_job_that_ends_without_a_pod_ends_the_wait(self) -> None:
        patch = status_update.status_update(
            job=job_complete(), pod=None, known=self.refused(), now=NOW
        )
        assert patch is not None
        assert patch["phase"] == "Failed"

    def test_first_refusal_is_written(self) -> None:
        known = from_build(job_running(), None)
        patch = status_update.status_update(
            job=job_running(), pod=None, known=known, now=NOW, pod_refused=POD_WORDS
        )
        assert patch is not None
        assert POD_WORDS in patch["conditions"][0]["message"]


def test_a_quota_not_counted_yet_is_a_quota_wait_too() -> None:
    words = "status unknown for quota: builds, resources: count/jobs.batch"
    with pytest.raises(api.QuotaExceeded):
        api._create(refusing(403, words), "team-a", JOB)
