"""The deployment files: Dockerfile, docker-compose.yml, the lock files, deploy/kubernetes/.

Docker and a cluster are not needed: the compose file is validated against the compose
specification's JSON schema, the manifests against Kubernetes' own schemas (offline, for a
pinned version), and both against what config/settings.py reads.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"


def _settings_read() -> set[str]:
    """The environment variables packager reads (settings, gunicorn's configuration, metrics)."""
    text = "".join((ROOT / "config" / name).read_text() for name in ("settings.py", "gunicorn.py", "metrics.py"))
    found = set(re.findall(r'(?:environ\.get\(|environ\[|env_bool\(|env_list\()\s*"([A-Z0-9_]+)"', text))
    return found | {"DATABASE_URL"}  # read by dj_database_url.config()


def test_it_knows_what_the_settings_read() -> None:
    read = _settings_read()
    assert {
        "SECRET_KEY",
        "DATABASE_URL",
        "TEXT_STORAGE",
        "LOG_FORMAT",
        "METRICS_ALLOWED_IPS",
        "WEB_CONCURRENCY",
    } <= read
    assert "PROMETHEUS_MULTIPROC_DIR" in read


# --- docker-compose.yml ------------------------------------------------------------------

COMPOSE = ROOT / "docker-compose.yml"
# What a production start needs set (the README's list), with the value compose must give
# where one value is right.
PRODUCTION_SETTINGS = {
    "SECRET_KEY": None,
    "ALLOWED_HOSTS": None,
    "CSRF_TRUSTED_ORIGINS": None,
    "BEHIND_PROXY": "1",
    "SECURE_COOKIES": None,
    "DATABASE_URL": None,
    "CELERY_BROKER_URL": None,
    "REDIS_URL": None,
    "TEXT_STORAGE": "s3",
    "TEXT_STORAGE_BUCKET": None,
    "TEXT_STORAGE_ENDPOINT_URL": None,
    "TEXT_STORAGE_ACCESS_KEY_ID": None,
    "TEXT_STORAGE_SECRET_ACCESS_KEY": None,
    "LOCAL_SOURCE_ROOTS": "",
    "LOG_FORMAT": "json",
    "METRICS_ALLOWED_IPS": None,
    "PROMETHEUS_MULTIPROC_DIR": None,
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_it_validates_the_compose_file_against_the_compose_specification() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_refuses_a_compose_file_the_specification_refuses(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace('    command: ["gunicorn"', '    commmand: ["gunicorn"', 1))
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.compose-spec",
            str(broken),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0


def test_it_runs_every_piece_in_compose(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"proxy", "web", "worker", "beat", "migrate", "postgres", "redis", "seaweedfs"} <= set(services)
    assert services["web"]["deploy"]["replicas"] == 2
    assert services["seaweedfs"]["image"].startswith("chrislusf/seaweedfs")
    assert services["seaweedfs"]["command"][:2] == ["server", "-s3"]
    assert services["proxy"]["image"].startswith(("nginx", "caddy"))
    assert "replicas" not in services["beat"].get("deploy", {})  # exactly one beat


def test_it_waits_for_the_migrations_before_starting(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]


def test_it_execs_every_command(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        command = service.get("command")
        if command is None:
            continue
        assert isinstance(command, list), f"{name}: a string command runs under a shell"
        assert command[0] not in {"sh", "bash", "/bin/sh"}, f"{name}: a shell would not pass SIGTERM on"


def test_it_sets_every_production_setting_for_packager(compose: dict[str, Any]) -> None:
    read = _settings_read()
    for name in ("web", "worker", "beat", "migrate"):
        environment = compose["services"][name]["environment"]
        for setting, value in PRODUCTION_SETTINGS.items():
            assert setting in environment, f"{name} lacks {setting}"
            if value is not None:
                assert str(environment[setting]) == value, (name, setting)
        unknown = set(environment) - read
        assert not unknown, f"{name} sets variables packager does not read: {unknown}"
        assert not any(setting.startswith("AWS_") for setting in environment), "boto3 would offer them to sources"


# --- Dockerfile and the lock files ---------------------------------------------------------


def test_it_builds_a_small_image_that_runs_as_a_user_and_reports_its_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2
    assert "pip install --require-hashes --no-deps -r requirements/runtime.txt" in dockerfile
    assert "pip install --no-deps -e ." in dockerfile
    user = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", dockerfile, re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["', dockerfile, re.MULTILINE)  # exec form: PID 1 gets SIGTERM
    assert re.search(r'^CMD \["gunicorn"', dockerfile, re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", "node_modules", "tests"} <= set(ignored)


def _locked(path: Path) -> dict[str, str]:
    """name -> version of every requirement of a lock file, each of which must carry hashes."""
    text = path.read_text()
    locked: dict[str, str] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", block)
        if match is None:
            continue
        assert "--hash=sha256:" in block, f"{path.name}: {match.group(1)} has no hash"
        locked[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return locked


def _names(requirements: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.\-]+", item).group(0)).lower() for item in requirements}  # type: ignore[union-attr]


def test_it_locks_every_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _locked(ROOT / "requirements" / "runtime.txt")
    test = _locked(ROOT / "requirements" / "test.txt")
    missing = _names(project["dependencies"]) - set(runtime)
    assert not missing, f"not in requirements/runtime.txt (run `make lock`): {missing}"
    missing = _names(project["dependencies"] + project["optional-dependencies"]["test"]) - set(test)
    assert not missing, f"not in requirements/test.txt (run `make lock`): {missing}"
    # The tests run on the versions the application is deployed with.
    assert {name: version for name, version in test.items() if name in runtime} == runtime


# --- deploy/kubernetes/ --------------------------------------------------------------------


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def _manifests() -> list[Path]:
    return sorted(path for path in KUBERNETES.glob("*.yaml") if path.name != "kustomization.yaml")


def _resources() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (document["kind"], document["metadata"]["name"]): document
        for path in _manifests()
        for document in _documents(path)
    }


@pytest.mark.parametrize("path", _manifests(), ids=lambda path: path.name)
def test_it_validates_each_manifest_against_the_kubernetes_schemas(path: Path) -> None:
    for document in _documents(path):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_it_refuses_a_manifest_the_schemas_refuse() -> None:
    web = _resources()[("Deployment", "packager-web")]
    broken = yaml.safe_load(yaml.safe_dump(web))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_it_lists_every_manifest_but_the_secret_template_in_the_kustomization() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        path.name for path in _manifests() if path.name != "secret.example.yaml"
    )
    assert "secretGenerator" not in kustomization  # the Secret is created outside the repository


def _pod(resource: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = resource["spec"]["template"]["spec"]
    return pod


def test_it_probes_and_drains_the_web_pods() -> None:
    web = _resources()[("Deployment", "packager-web")]
    assert web["spec"]["replicas"] == 2
    pod = _pod(web)
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    # The preStop sleep, then gunicorn's graceful timeout, fit in the grace period.
    graceful = int(re.search(r'"GUNICORN_GRACEFUL_TIMEOUT", "(\d+)"', (ROOT / "config" / "gunicorn.py").read_text())[1])  # type: ignore[index]
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + graceful
    assert container["args"][:2] == ["gunicorn", "config.wsgi"]


def test_it_runs_exactly_one_beat() -> None:
    beat = _resources()[("Deployment", "packager-beat")]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert _resources()[("Job", "packager-migrate")]["spec"]["template"]["spec"]["containers"][0]["args"][-2:] == [
        "migrate",
        "--noinput",
    ]


def test_it_takes_settings_from_the_config_map_and_secrets_from_the_secret() -> None:
    resources = _resources()
    read = _settings_read()
    settings = resources[("ConfigMap", "packager-settings")]["data"]
    secret = resources[("Secret", "packager-secrets")]["stringData"]
    assert not set(settings) - read, set(settings) - read
    assert not set(secret) - read, set(secret) - read
    assert all(value == "" for value in secret.values()), "the template holds no values"
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"} <= set(secret)
    assert not set(settings) & set(secret)
    for (kind, name), resource in resources.items():
        if kind not in {"Deployment", "Job"}:
            continue
        pod = _pod(resource)
        for container in pod["containers"] + pod.get("initContainers", []):
            assert "env" not in container, f"{name}: settings come from the ConfigMap and the Secret only"
            sources = {next(iter(source)): next(iter(source.values()))["name"] for source in container["envFrom"]}
            assert sources == {"configMapRef": "packager-settings", "secretRef": "packager-secrets"}, name


def test_it_names_the_external_services() -> None:
    resources = _resources()
    for name in ("packager-postgres", "packager-redis", "packager-s3"):
        assert resources[("Service", name)]["spec"]["type"] == "ExternalName"
    settings = resources[("ConfigMap", "packager-settings")]["data"]
    assert "packager-s3" in settings["TEXT_STORAGE_ENDPOINT_URL"]


def test_it_renders_the_kustomization_when_kustomize_is_installed() -> None:
    kubectl, kustomize = shutil.which("kubectl"), shutil.which("kustomize")
    if kustomize:
        command = [kustomize, "build", str(KUBERNETES)]
    elif kubectl:
        command = [kubectl, "kustomize", str(KUBERNETES)]
    else:
        # This machine's image ships kubectl; Debian only packages kubectl 1.20, whose kustomize
        # refuses the `labels` field, so make test cannot install one that renders it.
        pytest.skip(
            "no kustomize, nor a kubectl to render it, on this machine (Debian's kubernetes-client 1.20 predates "
            "kustomize's `labels`); every manifest is still validated above against the 1.30 schemas"
        )
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rendered = [document for document in yaml.safe_load_all(result.stdout) if document]
    assert len(rendered) == sum(len(_documents(path)) for path in _manifests()) - 1  # all but the secret template
    for document in rendered:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        assert document["metadata"]["labels"]["app.kubernetes.io/part-of"] == "packager"
    images = {
        container["image"]
        for document in rendered
        if document["kind"] in {"Deployment", "Job"}
        for container in _pod(document)["containers"]
    }
    assert images == {"registry.example.org/packager:latest"}
