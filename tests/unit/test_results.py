"""results: image size from a manifest, the report step's message, human sizes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from goimage.core import results

DIGEST = "sha256:" + "4f1c" * 16

OCI_MANIFEST: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": "sha256:" + "1" * 64,
        "size": 1469,
    },
    "layers": [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": "sha256:" + "2" * 64,
            "size": 103732,
        },
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": "sha256:" + "3" * 64,
            "size": 8018255,
        },
    ],
}

DOCKER_MANIFEST: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": 7023,
        "digest": "sha256:" + "4" * 64,
    },
    "layers": [
        {
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": 32654,
            "digest": "sha256:" + "5" * 64,
        }
    ],
}


class TestManifestSize:
    def test_oci_manifest(self) -> None:
        assert results.manifest_size(OCI_MANIFEST) == 1469 + 103732 + 8018255

    def test_docker_v2_manifest(self) -> None:
        assert results.manifest_size(DOCKER_MANIFEST) == 7023 + 32654

    def test_no_layers(self) -> None:
        assert results.manifest_size({"config": {"size": 10}, "layers": []}) == 10

    @pytest.mark.parametrize(
        "manifest",
        [
            pytest.param({}, id="empty"),
            pytest.param(
                {
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [{"digest": DIGEST, "size": 500}],
                },
                id="index",
            ),
            pytest.param({"config": {"size": 1}}, id="no-layers"),
            pytest.param({"config": {}, "layers": []}, id="config-without-size"),
            pytest.param({"config": {"size": "big"}, "layers": []}, id="size-word"),
            pytest.param({"config": {"size": 1}, "layers": [{"digest": DIGEST}]}, id="layer"),
            pytest.param({"config": None, "layers": []}, id="config-null"),
        ],
    )
    def test_not_a_manifest(self, manifest: dict[str, Any]) -> None:
        with pytest.raises(results.ResultError, match="not an image manifest"):
            results.manifest_size(manifest)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (8123456, "7.7 MiB"),
        (30 * 1024**2, "30.0 MiB"),
        # What is shown decides the unit: never "1024.0 KiB".
        (1024**2 - 1, "1.0 MiB"),
        (1024**3 - 1, "1.0 GiB"),
        (int(2.5 * 1024**3), "2.5 GiB"),
        (5 * 1024**4, "5.0 TiB"),
        (2048 * 1024**4, "2048.0 TiB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert results.human_size(size) == text


class TestParseResult:
    def test_round_trip(self) -> None:
        result = results.BuildResult(digest=DIGEST, size=8123456)
        message = result.to_message("registry.example.com/team/gitback")
        assert json.loads(message) == {
            "digest": DIGEST,
            "size": 8123456,
            "image": f"registry.example.com/team/gitback@{DIGEST}",
        }
        assert results.parse_result(message) == result

    def test_image_by_digest(self) -> None:
        result = results.BuildResult(digest=DIGEST, size=1)
        assert result.image("localhost:5000/app") == f"localhost:5000/app@{DIGEST}"

    def test_digest_whitespace_is_stripped(self) -> None:
        message = json.dumps({"digest": f" {DIGEST}\n", "size": 5})
        assert results.parse_result(message).digest == DIGEST

    @pytest.mark.parametrize(
        "message",
        [
            pytest.param("", id="empty"),
            pytest.param("error: exit status 1", id="log-line"),
            pytest.param("[]", id="list"),
            pytest.param('"sha256"', id="string"),
            pytest.param("null", id="null"),
            pytest.param('{"digest": "' + DIGEST + '"}', id="no-size"),
            pytest.param('{"size": 5}', id="no-digest"),
            pytest.param('{"digest": "' + DIGEST + '", "size": 0}', id="size-zero"),
            pytest.param('{"digest": "' + DIGEST + '", "size": -1}', id="size-negative"),
            pytest.param('{"digest": "' + DIGEST + '", "size": "12"}', id="size-string"),
            pytest.param('{"digest": "' + DIGEST + '", "size": true}', id="size-bool"),
            pytest.param('{"digest": "' + DIGEST + '", "size": 1.5}', id="size-float"),
            pytest.param('{"digest": "sha256:abc", "size": 5}', id="digest-short"),
            pytest.param('{"digest": "' + DIGEST.upper() + '", "size": 5}', id="digest-upper"),
            pytest.param('{"digest": "md5:' + "a" * 32 + '", "size": 5}', id="digest-md5"),
            pytest.param('{"digest": null, "size": 5}', id="digest-null"),
        ],
    )
    def test_rejects_garbage(self, message: str) -> None:
        with pytest.raises(results.ResultError):
            results.parse_result(message)

    def test_error_quotes_a_bounded_part_of_the_message(self) -> None:
        with pytest.raises(results.ResultError) as caught:
            results.parse_result("x" * 10_000)
        assert len(str(caught.value)) < 400


@pytest.mark.parametrize("digest", [DIGEST, f"{DIGEST}\n", f"  {DIGEST}  "])
def test_check_digest_accepts(digest: str) -> None:
    assert results.check_digest(digest) == DIGEST


@pytest.mark.parametrize("digest", ["", "sha256:", "sha512:" + "a" * 128, DIGEST + "0"])
def test_check_digest_refuses(digest: str) -> None:
    with pytest.raises(results.ResultError, match="not a sha256 digest"):
        results.check_digest(digest)


# --- several platforms ------------------------------------------------------------------------

AMD64 = results.PlatformResult("linux/amd64", "sha256:" + "a" * 64, 7_000_000)
ARM64 = results.PlatformResult("linux/arm64", "sha256:" + "b" * 64, 6_500_000)


class TestIndexResult:
    def test_index_digest_and_the_largest_platform_size(self) -> None:
        result = results.index_result(DIGEST, (AMD64, ARM64))
        assert result.digest == DIGEST
        assert result.size == 7_000_000
        assert result.platforms == (AMD64, ARM64)

    def test_round_trip_keeps_the_platforms_in_order(self) -> None:
        result = results.index_result(DIGEST, (ARM64, AMD64))
        message = result.to_message("registry.example.com/team/gitback")
        assert json.loads(message)["platforms"] == [
            {"platform": "linux/arm64", "digest": ARM64.digest, "size": 6_500_000},
            {"platform": "linux/amd64", "digest": AMD64.digest, "size": 7_000_000},
        ]
        assert results.parse_result(message) == result

    def test_one_platform_writes_no_platforms(self) -> None:
        message = results.BuildResult(DIGEST, 5).to_message("r/app")
        assert "platforms" not in json.loads(message)

    def test_over_names_each_platform_over_the_budget(self) -> None:
        result = results.index_result(DIGEST, (AMD64, ARM64))
        assert result.over(6_800_000) == ("linux/amd64",)
        assert result.over(6_000_000) == ("linux/amd64", "linux/arm64")
        assert result.over(7_000_000) == ()

    def test_no_platforms_is_no_index(self) -> None:
        with pytest.raises(results.ResultError):
            results.index_result(DIGEST, ())

    @pytest.mark.parametrize(
        "platforms",
        [
            pytest.param('"linux/amd64"', id="not-a-list"),
            pytest.param('[{"platform": "linux/amd64", "size": 5}]', id="no-digest"),
            pytest.param(
                '[{"platform": "linux/amd64", "digest": "' + DIGEST + '", "size": 0}]',
                id="size-zero",
            ),
            pytest.param(
                '[{"platform": "linux/amd64", "digest": "x", "size": 5}]', id="bad-digest"
            ),
            pytest.param('["linux/amd64"]', id="entry-not-object"),
        ],
    )
    def test_rejects_bad_platforms(self, platforms: str) -> None:
        message = '{"digest": "' + DIGEST + '", "size": 5, "platforms": ' + platforms + "}"
        with pytest.raises(results.ResultError):
            results.parse_result(message)


class TestPublished:
    def test_round_trip(self) -> None:
        published = results.Published(
            DIGEST, (("linux/amd64", AMD64.digest), ("linux/arm64", ARM64.digest)), ("v1", "latest")
        )
        assert results.Published.from_json(published.to_json()) == published

    @pytest.mark.parametrize(
        "text",
        ["", "{}", '{"index": "' + DIGEST + '", "platforms": [{}], "tags": []}', "[]"],
    )
    def test_rejects_garbage(self, text: str) -> None:
        with pytest.raises(results.ResultError):
            results.Published.from_json(text)
