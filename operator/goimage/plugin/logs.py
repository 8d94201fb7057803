"""`kubectl gib logs`: a build's steps' logs in order, each line prefixed with its step
(`[build] ...`), read once or followed while the build runs."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from kubernetes.client.exceptions import ApiException

from goimage.plugin import builds, kube
from goimage.plugin.kube import Cluster, UserError

POLL_S = 1.0


@dataclass
class Target:
    """The build whose log is asked, as found: the resource, its Job and the build's id."""

    resource: dict[str, Any]
    job: dict[str, Any]
    build: str
    current: bool

    @property
    def job_name(self) -> str:
        return str(self.job["metadata"]["name"])

    def describe(self) -> str:
        return f'build {self.build} (job "{self.job_name}")'

    def what_status_says(self) -> str:
        if self.current:
            return f"status: {builds.status_summary(self.resource)}"
        return f"job {self.job_name}: {builds.job_summary(self.job)}"


def prefixed(step: str, chunks: Iterable[bytes]) -> Iterator[str]:
    """Lines of a byte stream, each as `[step] line`; a last line without newline too."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield f"[{step}] {line.decode(errors='replace')}\n"
    if pending:
        yield f"[{step}] {pending.decode(errors='replace')}\n"


def find_target(cluster: Cluster, name: str, build: str | None, *, wait: bool) -> Target:
    """The asked (or current) build's Job; with `wait`, waits for the current build to
    start while the resource is not finished."""
    noted = False
    while True:
        resource = kube.get_build(cluster, name)
        jobs = kube.list_jobs(cluster, name)
        try:
            job = builds.choose_job(resource, jobs, build)
        except builds.NoSuchBuild as missing:
            kept = ", ".join(missing.kept) or "none"
            raise UserError(
                f'goimagebuild "{name}" has no build "{missing.asked}" (builds kept: {kept})'
            ) from None
        if job is not None:
            return Target(resource, job, builds.build_id_of(job), current=build is None)
        status = resource.get("status") or {}
        if status.get("jobName"):
            raise UserError(
                f'jobs.batch "{status["jobName"]}" not found: the current build\'s Job is gone;'
                f" status: {builds.status_summary(resource)}"
            )
        finished = status.get("phase") in ("Succeeded", "Failed")
        if not wait or finished:
            raise UserError(
                f'goimagebuild "{name}" has no build yet; status: {builds.status_summary(resource)}'
            )
        if not noted:
            print(
                f"waiting for a build to start; {builds.status_summary(resource)}", file=sys.stderr
            )
            noted = True
        time.sleep(POLL_S)


def _pod_gone(target: Target) -> UserError:
    return UserError(
        f"pods for {target.describe()} not found: the build's pod is gone, and its log with it"
        " (the operator deletes a finished build's pod once its finishedPodRetention has"
        f" passed); {target.what_status_says()}"
    )


def find_pod(cluster: Cluster, target: Target, *, wait: bool) -> dict[str, Any]:
    """The build's pod; with `wait`, waits for the Job controller to make it."""
    while True:
        pods = kube.list_pods(cluster, target.resource["metadata"]["name"], target.build)
        pod = builds.choose_pod(target.job, pods)
        if pod is not None:
            return pod
        if not wait or _job_finished(cluster, target):
            raise _pod_gone(target)
        time.sleep(POLL_S)


def _job_finished(cluster: Cluster, target: Target) -> bool:
    try:
        job = cluster.batch().read_namespaced_job(target.job_name, cluster.namespace)
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    target.job = cluster.plain(job)
    return builds.job_summary(target.job) != "Job has not finished"


def print_logs(cluster: Cluster, target: Target, pod: dict[str, Any], out: TextIO) -> None:
    """Each started step's whole log, in order; a step not started yet is said on stderr."""
    name = pod["metadata"]["name"]
    for step in builds.steps(pod):
        if not builds.has_started(pod, step):
            print(
                f'{target.describe()}, pod "{name}": step "{step.container}" has not started'
                f" ({builds.waiting_reason(pod, step)})",
                file=sys.stderr,
            )
            return
        text = _read_log(cluster, target, name, step.container)
        out.writelines(prefixed(step.container, [text.encode()]))


def _read_log(cluster: Cluster, target: Target, pod: str, container: str) -> str:
    try:
        return str(
            cluster.core().read_namespaced_pod_log(pod, cluster.namespace, container=container)
        )
    except ApiException as error:
        if error.status == 404:
            raise _pod_gone(target) from None
        raise UserError(kube.api_message(error)) from None


def follow_logs(cluster: Cluster, target: Target, pod: dict[str, Any], out: TextIO) -> None:
    """Each step's log streamed as it starts, in order; returns when the pod has ended (or a
    step that did not start never will)."""
    name = pod["metadata"]["name"]
    for step in builds.steps(pod):
        current = _wait_until_started(cluster, target, name, step)
        if current is None:
            return
        response = _open_stream(cluster, target, name, step.container)
        try:
            for line in prefixed(step.container, response.stream(4096)):
                out.write(line)
                out.flush()
        finally:
            response.release_conn()


def _wait_until_started(
    cluster: Cluster, target: Target, pod_name: str, step: builds.Step
) -> dict[str, Any] | None:
    """The pod once `step` has started; None when the pod ended without it."""
    while True:
        pod = kube.read_pod(cluster, pod_name)
        if pod is None:
            raise _pod_gone(target)
        if builds.has_started(pod, step):
            return pod
        if builds.pod_finished(pod):
            return None
        time.sleep(POLL_S)


def _open_stream(cluster: Cluster, target: Target, pod: str, container: str) -> Any:
    try:
        return cluster.core().read_namespaced_pod_log(
            pod, cluster.namespace, container=container, follow=True, _preload_content=False
        )
    except ApiException as error:
        if error.status == 404:
            raise _pod_gone(target) from None
        raise UserError(kube.api_message(error)) from None


def run(cluster: Cluster, name: str, build: str | None, *, follow: bool, out: TextIO) -> None:
    target = find_target(cluster, name, build, wait=follow)
    pod = find_pod(cluster, target, wait=follow)
    if follow:
        follow_logs(cluster, target, pod, out)
    else:
        print_logs(cluster, target, pod, out)
