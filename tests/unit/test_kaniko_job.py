"""build_kaniko_job: Kaniko's flags, credentials, the report step and the Job around them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from tests.conftest import Golden
from tests.unit import factories
from tests.unit.factories import COMMIT, IMAGE

from goimage.core import kaniko_job, naming
from goimage.core.plan import BuildPlan, plan_build
from goimage.core.settings import Settings
from goimage.core.source import Resolved

SETTINGS = Settings()


def job_for(
    values: dict[str, Any] | None = None, settings: Settings = SETTINGS, **body_args: Any
) -> dict[str, Any]:
    return kaniko_job.build_kaniko_job(factories.plan(values, **body_args), settings)


def full_plan() -> BuildPlan:
    raw = factories.full_spec()
    raw["output"]["insecure"] = True
    return plan_build(factories.body(raw))


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def build_container(job: dict[str, Any]) -> dict[str, Any]:
    # One platform: Kaniko's `build`, then `publish` (the SBOM and the provenance).
    container, publish = pod_spec(job)["initContainers"]
    assert (container["name"], publish["name"]) == ("build", "publish")
    return container  # type: ignore[no-any-return]


def report_container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod_spec(job)["containers"]
    assert container["name"] == "report"
    return container  # type: ignore[no-any-return]


def args_of(values: dict[str, Any] | None = None, settings: Settings = SETTINGS) -> list[str]:
    return list(build_container(job_for(values, settings))["args"])


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in build_container(job)["env"]}


# The commit the operator resolved for the golden Jobs' revision (main).
RESOLVED = Resolved(commit=COMMIT, ref="refs/heads/main")


class TestGolden:
    def test_default_job(self, golden: Golden) -> None:
        job = kaniko_job.build_kaniko_job(factories.plan().with_source(RESOLVED), SETTINGS)
        golden("job/default.yaml", yaml.safe_dump(job, sort_keys=True))

    def test_full_job(self, golden: Golden) -> None:
        settings = Settings(
            kaniko_image="registry.example.com/kaniko:v1.28.0",
            reporter_image="registry.example.com/goimage-operator:0.1.0",
            registry_mirrors=("mirror.gcr.io", "mirror.example.com"),
            registry_maps=("ghcr.io=ghcr-mirror.example.com",),
            insecure_registries=("mirror.example.com",),
        )
        job = kaniko_job.build_kaniko_job(full_plan().with_source(RESOLVED), settings)
        golden("job/full.yaml", yaml.safe_dump(job, sort_keys=True))


class TestRevisions:
    @pytest.mark.parametrize(
        ("revision", "context", "flags"),
        [
            pytest.param("", "git://github.com/flarexes/gitback.git", [], id="none"),
            pytest.param(
                "main",
                "git://github.com/flarexes/gitback.git",
                ["--git=branch=main"],
                id="branch",
            ),
            pytest.param(
                "release/1.2",
                "git://github.com/flarexes/gitback.git",
                ["--git=branch=release/1.2"],
                id="branch-with-slash",
            ),
            pytest.param(
                "v1.2.3",
                "git://github.com/flarexes/gitback.git",
                ["--git=branch=v1.2.3"],
                id="bare-tag",
            ),
            pytest.param(
                "refs/tags/v1",
                "git://github.com/flarexes/gitback.git#refs/tags/v1",
                [],
                id="full-ref",
            ),
            pytest.param(
                COMMIT, f"git://github.com/flarexes/gitback.git#{COMMIT}", [], id="commit"
            ),
        ],
    )
    def test_revision(self, revision: str, context: str, flags: list[str]) -> None:
        args = args_of({"source.git.revision": revision})
        assert f"--context={context}" in args
        assert [a for a in args if a.startswith("--git=")] == flags
        assert len([a for a in args if a.startswith("--context=")]) == 1

    @pytest.mark.parametrize(
        ("resolved", "fragment"),
        [
            # Kaniko's #<commit> alone clones the default branch only: the ref comes first.
            pytest.param(
                Resolved(COMMIT, "refs/heads/release"), f"#refs/heads/release#{COMMIT}", id="branch"
            ),
            pytest.param(Resolved(COMMIT, "refs/tags/v1"), f"#refs/tags/v1#{COMMIT}", id="tag"),
            pytest.param(Resolved(COMMIT), f"#{COMMIT}", id="commit"),
        ],
    )
    def test_a_resolved_commit_is_pinned_in_the_context(
        self, resolved: Resolved, fragment: str
    ) -> None:
        plan = factories.plan({"source.git.revision": "release"}).with_source(resolved)
        job = kaniko_job.build_kaniko_job(plan, SETTINGS)
        args = build_container(job)["args"]
        assert f"--context=git://github.com/flarexes/gitback.git{fragment}" in args
        assert not [a for a in args if a.startswith("--git=")]

    def test_the_job_records_its_source(self) -> None:
        plan = factories.plan({"source.git.revision": "main"}).with_source(RESOLVED)
        annotations = kaniko_job.build_kaniko_job(plan, SETTINGS)["metadata"]["annotations"]
        assert annotations[naming.ANNOTATION_COMMIT] == COMMIT
        assert annotations[naming.ANNOTATION_REVISION] == "main"
        assert annotations[naming.ANNOTATION_SOURCE_URL] == factories.GIT_URL

    def test_a_commit_revision_is_its_own_resolution(self) -> None:
        plan = factories.plan({"source.git.revision": COMMIT})
        assert plan.source == Resolved(COMMIT)
        annotations = kaniko_job.build_kaniko_job(plan, SETTINGS)["metadata"]["annotations"]
        assert annotations[naming.ANNOTATION_COMMIT] == COMMIT

    def test_short_hex_is_a_branch_not_a_commit(self) -> None:
        args = args_of({"source.git.revision": "4f1c2b3"})
        assert "--git=branch=4f1c2b3" in args

    @pytest.mark.parametrize(("scheme", "method"), [("https", "https"), ("http", "http")])
    def test_pull_method_follows_the_url(self, scheme: str, method: str) -> None:
        url = f"{scheme}://git.example.com:8080/team/app.git"
        job = job_for({"source.git.url": url})
        assert "--context=git://git.example.com:8080/team/app.git" in build_container(job)["args"]
        assert env_of(job)["GIT_PULL_METHOD"] == {"name": "GIT_PULL_METHOD", "value": method}

    def test_context_dir_is_a_sub_path(self) -> None:
        args = args_of({"source.contextDir": "services/api/"})
        assert "--context-sub-path=services/api" in args
        assert not [a for a in args_of() if a.startswith("--context-sub-path")]


class TestOutput:
    def test_a_destination_per_tag(self) -> None:
        args = args_of({"output.tags": ["v1.2.3", "latest", "v1.2.3"]})
        assert [a for a in args if a.startswith("--destination=")] == [
            f"--destination={IMAGE}:v1.2.3",
            f"--destination={IMAGE}:latest",
        ]

    def test_kaniko_writes_digest_and_layout_where_report_reads(self) -> None:
        job = job_for()
        args = build_container(job)["args"]
        assert "--digest-file=/goimage/out/digest" in args
        assert "--oci-layout-path=/goimage/out/oci" in args
        assert "--dockerfile=/goimage/dockerfile/Dockerfile" in args
        assert report_container(job)["args"] == [
            "--oci-layout=/goimage/out/oci",
            "--digest-file=/goimage/out/digest",
            "--published=/goimage/out/published.json",
            f"--image={IMAGE}",
        ]
        assert report_container(job)["command"] == ["goimage-operator", "report"]

    def test_cache_on_by_default_in_the_image_repo(self) -> None:
        args = args_of()
        assert "--cache=true" in args
        assert f"--cache-repo={IMAGE}/cache" in args

    def test_cache_repo_from_spec(self) -> None:
        args = args_of({"builder.cache.repo": "registry.example.com/cache/x"})
        assert "--cache-repo=registry.example.com/cache/x" in args

    def test_cache_disabled(self) -> None:
        args = args_of({"builder.cache.enabled": False})
        assert not [a for a in args if a.startswith("--cache")]

    def test_mirrors_spec_first_then_settings_without_duplicates(self) -> None:
        settings = Settings(registry_mirrors=("mirror.gcr.io", "mirror.example.com"))
        args = args_of(
            {"builder.registryMirrors": ["local.mirror:5000", "mirror.gcr.io"]}, settings
        )
        assert [a for a in args if a.startswith("--registry-mirror=")] == [
            "--registry-mirror=local.mirror:5000",
            "--registry-mirror=mirror.gcr.io",
            "--registry-mirror=mirror.example.com",
        ]

    def test_registry_maps_from_settings(self) -> None:
        settings = Settings(registry_maps=("ghcr.io=ghcr.example.com", "quay.io=quay.example.com"))
        args = args_of(None, settings)
        assert [a for a in args if a.startswith("--registry-map=")] == [
            "--registry-map=ghcr.io=ghcr.example.com",
            "--registry-map=quay.io=quay.example.com",
        ]

    @pytest.mark.parametrize(
        ("image", "host"),
        [
            ("registry.local:5000/team/app", "registry.local:5000"),
            ("localhost:5000/app", "localhost:5000"),
            ("localhost/app", "localhost"),
            ("registry.example.com/team/app", "registry.example.com"),
            ("team/app", "index.docker.io"),
            ("app", "index.docker.io"),
        ],
    )
    def test_insecure_output_registry(self, image: str, host: str) -> None:
        args = args_of({"output.image": image, "output.insecure": True})
        assert "--insecure" in args
        assert [a for a in args if a.startswith("--insecure-registry=")] == [
            f"--insecure-registry={host}"
        ]
        assert kaniko_job.registry_host(image) == host

    def test_secure_by_default(self) -> None:
        args = args_of()
        assert not [a for a in args if a.startswith("--insecure")]

    def test_insecure_registries_from_settings_deduplicated(self) -> None:
        settings = Settings(insecure_registries=("registry.local:5000", "mirror.local"))
        args = args_of(
            {"output.image": "registry.local:5000/team/app", "output.insecure": True}, settings
        )
        assert [a for a in args if a.startswith("--insecure-registry=")] == [
            "--insecure-registry=registry.local:5000",
            "--insecure-registry=mirror.local",
        ]
        # Settings alone make pulls from a mirror insecure, not the push.
        args = args_of(None, settings)
        assert "--insecure" not in args
        assert "--insecure-registry=mirror.local" in args


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, leaf) of a JSON-like document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")
    else:
        yield path, node


class TestCredentials:
    def test_git_secret_as_optional_secret_key_refs(self) -> None:
        env = env_of(job_for({"source.git.secretRef": {"name": "git-auth"}}))
        for variable, key in (
            ("GIT_USERNAME", "username"),
            ("GIT_PASSWORD", "password"),
            ("GIT_TOKEN", "token"),
        ):
            assert env[variable] == {
                "name": variable,
                "valueFrom": {"secretKeyRef": {"name": "git-auth", "key": key, "optional": True}},
            }

    def test_no_git_credentials_without_a_secret(self) -> None:
        assert set(env_of(job_for())) == {"GIT_PULL_METHOD"}

    def test_push_secret_mounted_as_docker_config(self) -> None:
        job = job_for({"output.pushSecretRef": {"name": "regcred"}})
        mounts = {m["name"]: m for m in build_container(job)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
        (name,) = [n for n, v in volumes.items() if "secret" in v]
        assert volumes[name]["secret"] == {
            "secretName": "regcred",
            "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
        }
        assert mounts[name]["mountPath"] == "/kaniko/.docker"
        assert mounts[name]["readOnly"] is True
        # The report step never sees the credentials.
        assert name not in {m["name"] for m in report_container(job)["volumeMounts"]}

    def test_no_secret_volume_without_a_push_secret(self) -> None:
        job = job_for()
        assert not [v for v in pod_spec(job)["volumes"] if "secret" in v]
        assert "/kaniko/.docker" not in {
            m["mountPath"] for m in build_container(job)["volumeMounts"]
        }

    def test_secrets_only_reach_the_build_pod_by_reference(self) -> None:
        # The operator reads no Secret: the names appear only where the kubelet
        # resolves them (secretKeyRef, a secret volume), nowhere in an arg.
        job = job_for(
            {"source.git.secretRef": {"name": "git-auth"}, "output.pushSecretRef": {"name": "reg"}}
        )
        places = sorted(path for path, leaf in walk(job) if leaf in ("git-auth", "reg"))
        assert places == [
            ".spec.template.spec.initContainers[0].env[1].valueFrom.secretKeyRef.name",
            ".spec.template.spec.initContainers[0].env[2].valueFrom.secretKeyRef.name",
            ".spec.template.spec.initContainers[0].env[3].valueFrom.secretKeyRef.name",
            ".spec.template.spec.volumes[2].secret.secretName",
        ]
        assert "envFrom" not in build_container(job)
        assert not any("secret" in a.lower() for a in build_container(job)["args"])


class TestJob:
    def test_deadline_is_the_timeout_and_no_retries(self) -> None:
        job = job_for({"builder.timeout": "45m"})
        assert job["spec"]["activeDeadlineSeconds"] == 2700
        assert job["spec"]["backoffLimit"] == 0
        assert pod_spec(job)["restartPolicy"] == "Never"
        assert job_for()["spec"]["activeDeadlineSeconds"] == 1800

    def test_builder_settings_passed_through(self) -> None:
        job = kaniko_job.build_kaniko_job(full_plan(), SETTINGS)
        spec = pod_spec(job)
        # The build's own values for what it names; the operator's defaults for the rest.
        assert build_container(job)["resources"] == {
            "requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "2Gi"},
            "limits": {"memory": "4Gi", "ephemeral-storage": "20Gi"},
        }
        assert spec["serviceAccountName"] == "builder"
        assert spec["nodeSelector"] == {"kubernetes.io/arch": "amd64", "pool": "builds"}
        assert spec["tolerations"] == [
            {"key": "builds", "operator": "Exists", "effect": "NoSchedule"},
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ]
        assert build_container(job)["image"] == "gcr.io/kaniko-project/executor:v1.23.2"

    def test_defaults_leave_scheduling_alone_and_set_resources(self) -> None:
        job = job_for()
        spec = pod_spec(job)
        for key in ("serviceAccountName", "nodeSelector", "tolerations"):
            assert key not in spec
        assert build_container(job)["resources"] == SETTINGS.build_resources
        assert build_container(job)["image"] == SETTINGS.kaniko_image
        assert report_container(job)["image"] == SETTINGS.reporter_image

    def test_images_from_settings(self) -> None:
        settings = Settings(kaniko_image="k:1", reporter_image="r:1")
        job = job_for(None, settings)
        assert build_container(job)["image"] == "k:1"
        assert report_container(job)["image"] == "r:1"

    def test_labels_and_owner_on_job_and_pod(self) -> None:
        job = job_for()
        labels = {
            "app.kubernetes.io/managed-by": "goimage-operator",
            "app.kubernetes.io/component": "build",
            "goimage.dev/goimagebuild": "gitback",
            "goimage.dev/goimagebuild-uid": factories.UID,
            "goimage.dev/generation": "3",
            "goimage.dev/build-id": "3",
        }
        assert job["metadata"]["labels"] == labels
        assert job["spec"]["template"]["metadata"]["labels"] == labels
        (owner,) = job["metadata"]["ownerReferences"]
        assert owner["controller"] is True
        assert owner["uid"] == factories.UID
        assert owner["kind"] == "GoImageBuild"
        assert owner["apiVersion"] == "goimage.dev/v1alpha1"
        assert job["metadata"]["namespace"] == "team-a"

    def test_annotations_carry_what_status_needs(self) -> None:
        job = job_for({"output.tags": ["v1", "latest"], "output.maxSize": "30Mi"})
        annotations = job["metadata"]["annotations"]
        assert annotations[naming.ANNOTATION_IMAGE] == IMAGE
        assert json.loads(annotations[naming.ANNOTATION_TAGS]) == ["v1", "latest"]
        assert annotations[naming.ANNOTATION_MAX_SIZE] == str(30 * 1024 * 1024)
        assert naming.ANNOTATION_MAX_SIZE not in job_for()["metadata"]["annotations"]

    def test_dockerfile_from_the_configmap_of_the_same_name(self) -> None:
        job = job_for()
        volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
        (cm,) = [v for v in volumes.values() if "configMap" in v]
        assert cm["configMap"] == {"name": job["metadata"]["name"]}
        mount = next(m for m in build_container(job)["volumeMounts"] if m["name"] == cm["name"])
        assert mount == {"name": cm["name"], "mountPath": "/goimage/dockerfile", "readOnly": True}

    def test_output_shared_through_an_empty_dir(self) -> None:
        job = job_for()
        (output,) = [v for v in pod_spec(job)["volumes"] if "emptyDir" in v]
        build_mount = next(
            m for m in build_container(job)["volumeMounts"] if m["name"] == output["name"]
        )
        report_mount = next(
            m for m in report_container(job)["volumeMounts"] if m["name"] == output["name"]
        )
        assert build_mount["mountPath"] == report_mount["mountPath"] == "/goimage/out"
        assert report_mount["readOnly"] is True

    def test_same_input_same_job(self) -> None:
        assert job_for(factories.full_spec()) == job_for(factories.full_spec())
        first, second = factories.plan(), factories.plan()
        assert first.object_name == second.object_name == "gitback-3"
        assert job_for()["metadata"]["name"] == "gitback-3"

    def test_new_generation_or_rebuild_new_job(self) -> None:
        names = {
            job_for()["metadata"]["name"],
            job_for(generation=4)["metadata"]["name"],
            job_for(annotations={naming.ANNOTATION_REBUILD: "1"})["metadata"]["name"],
            job_for(annotations={naming.ANNOTATION_REBUILD: "2"})["metadata"]["name"],
        }
        assert len(names) == 4

    def test_publish_runs_as_the_layouts_owner_without_capabilities(self) -> None:
        # Kaniko (root) writes some layout blobs 0600: publish reads them as their owner.
        job = job_for()
        publish = next(
            c
            for c in job["spec"]["template"]["spec"]["initContainers"]
            if c["name"] == naming.CONTAINER_PUBLISH
        )
        context = publish["securityContext"]
        assert context["runAsUser"] == 0
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True

    def test_report_container_is_locked_down(self) -> None:
        job = job_for()
        context = report_container(job)["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] != 0
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert "limits" in report_container(job)["resources"]

    def test_pod_has_no_api_token_and_no_service_links(self) -> None:
        spec = pod_spec(job_for())
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        assert build_container(job_for())["securityContext"]["allowPrivilegeEscalation"] is False

    def test_failure_logs_reach_the_termination_message(self) -> None:
        job = job_for()
        assert build_container(job)["terminationMessagePolicy"] == "FallbackToLogsOnError"
        assert report_container(job)["terminationMessagePolicy"] == "FallbackToLogsOnError"


# --- platforms ------------------------------------------------------------------------------

TWO = ["linux/amd64", "linux/arm64"]


def init_containers(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod_spec(job)["initContainers"])


def named(job: dict[str, Any], name: str) -> dict[str, Any]:
    (container,) = [c for c in init_containers(job) if c["name"] == name]
    return container


class TestPlatforms:
    def test_multi_platform_job_golden(self, golden: Golden) -> None:
        raw = factories.full_spec()
        raw["output"]["insecure"] = True
        raw["output"]["platforms"] = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
        raw["builder"]["nodeSelector"] = {"pool": "builds"}
        plan = plan_build(factories.body(raw)).with_source(RESOLVED)
        job = kaniko_job.build_kaniko_job(plan, SETTINGS)
        golden("job/multi-platform.yaml", yaml.safe_dump(job, sort_keys=True))

    def test_one_kaniko_per_platform_in_order_then_publish(self) -> None:
        job = job_for({"output.platforms": ["linux/arm64", "linux/amd64", "linux/arm/v7"]})
        assert [c["name"] for c in init_containers(job)] == [
            "pin-builder",
            "build-linux-arm64",
            "build-linux-amd64",
            "build-linux-arm-v7",
            "publish",
        ]
        assert [c["name"] for c in pod_spec(job)["containers"]] == ["report"]

    @pytest.mark.parametrize(
        ("platform", "build_args"),
        [
            ("linux/arm64", ["--build-arg=GOOS=linux", "--build-arg=GOARCH=arm64"]),
            (
                "linux/arm/v7",
                ["--build-arg=GOOS=linux", "--build-arg=GOARCH=arm", "--build-arg=GOARM=7"],
            ),
            (
                "linux/arm/v6",
                ["--build-arg=GOOS=linux", "--build-arg=GOARCH=arm", "--build-arg=GOARM=6"],
            ),
            ("linux/s390x", ["--build-arg=GOOS=linux", "--build-arg=GOARCH=s390x"]),
        ],
    )
    def test_each_platform_cross_compiles_and_keeps_its_image(
        self, platform: str, build_args: list[str]
    ) -> None:
        job = job_for({"output.platforms": ["linux/amd64", platform]})
        slug = platform.replace("/", "-")
        args = named(job, f"build-{slug}")["args"]
        assert f"--custom-platform={platform}" in args
        assert "--no-push" in args
        assert not [a for a in args if a.startswith("--destination")]
        assert [a for a in args if a.startswith("--build-arg")] == build_args
        assert f"--digest-file=/goimage/out/{slug}.digest" in args
        assert f"--oci-layout-path=/goimage/out/{slug}/oci" in args
        # The Dockerfile pin-builder wrote, with the builder for the node's platform.
        assert args[0] == "--dockerfile=/goimage/out/Dockerfile"
        # What the one-platform build keeps: reproducible, cached, the same context.
        for flag in ("--reproducible", "--cache=true", "--log-format=text"):
            assert flag in args

    def test_one_platform_keeps_the_single_pushing_build(self) -> None:
        for platforms in (["linux/amd64"], ["linux/arm64"]):
            job = job_for({"output.platforms": platforms})
            # publish attaches the SBOM and the provenance to what Kaniko pushed.
            assert [c["name"] for c in init_containers(job)] == ["build", "publish"]
            args = build_container(job)["args"]
            assert f"--destination={IMAGE}:latest" in args
            assert not [a for a in args if a.startswith(("--custom-platform", "--build-arg"))]

    def test_default_platform_spelled_out_is_the_default_job(self) -> None:
        assert job_for({"output.platforms": ["linux/amd64"]}) == job_for()

    def test_publish_pushes_with_the_push_secret_and_insecure_registries(self) -> None:
        settings = Settings(insecure_registries=("mirror.example.com",))
        job = job_for(
            {
                "output.platforms": TWO,
                "output.tags": ["v1", "latest"],
                "output.pushSecretRef": {"name": "regcred"},
                "output.image": "localhost:5000/team/app",
                "output.insecure": True,
            },
            settings,
        )
        publish = named(job, "publish")
        assert publish["image"] == settings.reporter_image
        assert publish["command"] == ["goimage-operator", "publish"]
        assert publish["args"] == [
            "--platform=linux/amd64=/goimage/out/linux-amd64/oci",
            "--platform=linux/arm64=/goimage/out/linux-arm64/oci",
            "--tag=v1",
            "--tag=latest",
            "--builder-digest-file=/goimage/out/builder.digest",
            "--image=localhost:5000/team/app",
            "--insecure-registry=mirror.example.com",
            "--insecure-registry=localhost:5000",
            "--spec=/goimage/dockerfile/spec.json",
            "--build=team-a/gitback/3",
            f"--kaniko-image={settings.kaniko_image}",
            "--artifacts-dir=/goimage/out/artifacts",
            "--out=/goimage/out/published.json",
        ]
        assert publish["env"] == [{"name": "DOCKER_CONFIG", "value": "/kaniko/.docker"}]
        mounts = {m["name"]: m for m in publish["volumeMounts"]}
        assert mounts["goimage-docker-config"] == {
            "name": "goimage-docker-config",
            "mountPath": "/kaniko/.docker",
            "readOnly": True,
        }
        # Kaniko's push config is the very same Secret.
        kaniko_mounts = {m["name"] for m in named(job, "build-linux-arm64")["volumeMounts"]}
        assert "goimage-docker-config" in kaniko_mounts

    def test_publish_without_a_push_secret_has_no_docker_config(self) -> None:
        publish = named(job_for({"output.platforms": TWO}), "publish")
        assert "env" not in publish
        # The ConfigMap's spec.json, for the provenance; the output folder.
        assert [m["name"] for m in publish["volumeMounts"]] == [
            "goimage-dockerfile",
            "goimage-output",
        ]

    def test_publish_is_locked_down_like_report_but_as_the_layouts_owner(self) -> None:
        job = job_for({"output.platforms": TWO})
        report = report_container(job)["securityContext"]
        assert named(job, "publish")["securityContext"] == {
            **report,
            "runAsNonRoot": False,
            "runAsUser": 0,
            "runAsGroup": 0,
        }
        assert report_container(job)["securityContext"]["readOnlyRootFilesystem"] is True

    def test_report_reads_every_layout_and_what_publish_wrote(self) -> None:
        report = report_container(job_for({"output.platforms": TWO}))
        assert report["args"] == [
            "--platform=linux/amd64=/goimage/out/linux-amd64/oci",
            "--platform=linux/arm64=/goimage/out/linux-arm64/oci",
            "--published=/goimage/out/published.json",
            f"--image={IMAGE}",
        ]


class TestPlatformNodes:
    @pytest.mark.parametrize(
        ("values", "selector"),
        [
            pytest.param({}, None, id="default"),
            pytest.param({"output.platforms": TWO}, None, id="several-cross-compile-anywhere"),
            pytest.param(
                {"runtime.image": "alpine:3.20", "runtime.packages": ["tzdata"]},
                {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
                id="packages",
            ),
            pytest.param(
                {"go.cgo": True},
                {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
                id="cgo",
            ),
            pytest.param(
                {"output.platforms": ["linux/arm64"]},
                {"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64"},
                id="one-other-platform",
            ),
            pytest.param(
                {"output.platforms": ["linux/arm/v7"], "go.cgo": True},
                {"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm"},
                id="arm-variant",
            ),
        ],
    )
    def test_single_platform_builds_that_need_it_run_on_a_node_of_the_platform(
        self, values: dict[str, Any], selector: dict[str, str] | None
    ) -> None:
        assert pod_spec(job_for(values)).get("nodeSelector") == selector

    def test_spec_selector_joins_the_platform(self) -> None:
        job = job_for({"output.platforms": ["linux/arm64"], "builder.nodeSelector": {"pool": "b"}})
        assert pod_spec(job)["nodeSelector"] == {
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "arm64",
            "pool": "b",
        }


class TestPinBuilder:
    def test_pins_the_builder_with_kanikos_mirrors_maps_and_registries(self) -> None:
        settings = Settings(
            registry_mirrors=("mirror.example.com",),
            registry_maps=("gcr.io=gcr-mirror.example.com",),
            insecure_registries=("mirror.example.com",),
        )
        values = {
            "output.platforms": TWO,
            "builder.registryMirrors": ["spec-mirror.example.com"],
            "output.pushSecretRef": {"name": "regcred"},
        }
        job = job_for(values, settings)
        pin = init_containers(job)[0]
        assert pin["name"] == "pin-builder"
        assert pin["image"] == settings.reporter_image
        assert pin["command"] == ["goimage-operator", "pin-builder"]
        assert pin["args"] == [
            "--dockerfile=/goimage/dockerfile/Dockerfile",
            "--out=/goimage/out/Dockerfile",
            "--digest-out=/goimage/out/builder.digest",
            "--image=golang:1.26",
            "--registry-mirror=spec-mirror.example.com",
            "--registry-mirror=mirror.example.com",
            "--registry-map=gcr.io=gcr-mirror.example.com",
            "--insecure-registry=mirror.example.com",
        ]
        # Kaniko's pulls and pin-builder's lookups go the same ways.
        kaniko = named(job, "build-linux-amd64")["args"]
        for flag in pin["args"][4:]:
            assert flag in kaniko
        assert {m["name"] for m in pin["volumeMounts"]} == {
            "goimage-dockerfile",
            "goimage-output",
            "goimage-docker-config",
        }
        assert pin["env"] == [{"name": "DOCKER_CONFIG", "value": "/kaniko/.docker"}]
        assert pin["securityContext"] == report_container(job)["securityContext"]

    def test_the_builder_image_of_the_spec(self) -> None:
        job = job_for({"output.platforms": TWO, "go.image": "registry.example.com/go:1.26"})
        assert "--image=registry.example.com/go:1.26" in init_containers(job)[0]["args"]
