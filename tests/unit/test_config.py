"""load_settings: the operator's GOIMAGE_* environment."""

from __future__ import annotations

import pytest

from goimage import config
from goimage.core.settings import DEFAULT_KANIKO_IMAGE, DEFAULT_REPORTER_IMAGE, Settings


def test_defaults_from_an_empty_environment() -> None:
    assert config.load_settings({}) == Settings()
    settings = config.load_settings({})
    assert settings.kaniko_image == DEFAULT_KANIKO_IMAGE
    assert settings.reporter_image == DEFAULT_REPORTER_IMAGE
    assert settings.registry_mirrors == ()
    assert settings.history_limit == 3


def test_every_variable() -> None:
    settings = config.load_settings(
        {
            "GOIMAGE_KANIKO_IMAGE": "registry.local/kaniko:v1",
            "GOIMAGE_REPORTER_IMAGE": "registry.local/goimage:dev",
            "GOIMAGE_REGISTRY_MIRRORS": "mirror.gcr.io, registry.local:5000 ,",
            "GOIMAGE_REGISTRY_MAPS": "ghcr.io=ghcr.local,quay.io=quay.local",
            "GOIMAGE_INSECURE_REGISTRIES": "registry.local:5000",
            "GOIMAGE_HISTORY_LIMIT": "5",
        }
    )
    assert settings == Settings(
        kaniko_image="registry.local/kaniko:v1",
        reporter_image="registry.local/goimage:dev",
        registry_mirrors=("mirror.gcr.io", "registry.local:5000"),
        registry_maps=("ghcr.io=ghcr.local", "quay.io=quay.local"),
        insecure_registries=("registry.local:5000",),
        history_limit=5,
    )


@pytest.mark.parametrize(
    ("value", "items"),
    [
        ("", ()),
        (" , ,", ()),
        ("a", ("a",)),
        ("a,b", ("a", "b")),
        (" a , b ", ("a", "b")),
        ("a;b", ("a", "b")),
    ],
)
def test_lists_split_on_commas(value: str, items: tuple[str, ...]) -> None:
    assert config.load_settings({"GOIMAGE_REGISTRY_MIRRORS": value}).registry_mirrors == items


def test_empty_images_fall_back_to_defaults() -> None:
    settings = config.load_settings({"GOIMAGE_KANIKO_IMAGE": "", "GOIMAGE_REPORTER_IMAGE": ""})
    assert settings.kaniko_image == DEFAULT_KANIKO_IMAGE
    assert settings.reporter_image == DEFAULT_REPORTER_IMAGE


def test_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOIMAGE_HISTORY_LIMIT", "7")
    monkeypatch.setenv("GOIMAGE_REGISTRY_MIRRORS", "m1,m2")
    settings = config.load_settings()
    assert settings.history_limit == 7
    assert settings.registry_mirrors == ("m1", "m2")


def test_build_limits_from_the_environment() -> None:
    settings = config.load_settings(
        {
            "GOIMAGE_BUILD_RESOURCES": '{"requests": {"cpu": 1}, "limits": {"memory": "2Gi"}}',
            "GOIMAGE_OUTPUT_SIZE_LIMIT": "1Gi",
            "GOIMAGE_MAX_BUILD_TIMEOUT": "45m",
        }
    )
    assert settings.build_resources == {"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}}
    assert (settings.output_size_limit, settings.max_timeout) == ("1Gi", "45m")


def test_build_resources_must_be_requests_and_limits() -> None:
    with pytest.raises(ValueError, match="GOIMAGE_BUILD_RESOURCES"):
        config.load_settings({"GOIMAGE_BUILD_RESOURCES": '{"cpu": 1}'})
