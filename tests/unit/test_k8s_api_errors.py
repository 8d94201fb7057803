"""Which API errors mean "the namespace is going away" (no build, and no error)."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

from goimage.k8s import api


def error(status: int, body: dict[str, object]) -> ApiException:
    failure = ApiException(status=status, reason="")
    failure.body = json.dumps(body)
    return failure


def test_a_terminating_namespace() -> None:
    body = {"reason": "Forbidden", "details": {"causes": [{"reason": "NamespaceTerminating"}]}}
    assert api.namespace_terminating(error(403, body))


def test_a_namespace_already_gone() -> None:
    body = {"reason": "NotFound", "details": {"name": "team-a", "kind": "namespaces"}}
    assert api.namespace_terminating(error(404, body))


def test_other_refusals_are_not() -> None:
    assert not api.namespace_terminating(error(403, {"reason": "Forbidden"}))
    gone = {"reason": "NotFound", "details": {"name": "x", "kind": "configmaps"}}
    assert not api.namespace_terminating(error(404, gone))
    plain = ApiException(status=404, reason="")
    plain.body = "not json"
    assert not api.namespace_terminating(plain)
