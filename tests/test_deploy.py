"""The deployment files (deploy/compose.yaml, deploy/k8s/) only use what the product has:
every ALLIANCE_* variable is a setting, every command a CLI command with valid options,
the probes hit a real route; and their shape is the replicated one (N replicas that hold no
index, one writer of the index, PostgreSQL with pgvector for the index, Redis, a proxy)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from bot.cli import cli
from bot.config import REPO_ROOT, Settings

DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"
# Settings being added on other branches at the time of writing (request guards, speed):
# accepted while they are missing from bot.config, and only them. Remove this allowance
# once those branches are merged.
VARIABLE = re.compile(r"\bALLIANCE_[A-Z0-9_]+")


def deploy_files() -> list[Path]:
    return [
        DEPLOY / "compose.yaml",
        DEPLOY / "Caddyfile",
        *sorted(K8S.glob("*.yaml")),
        REPO_ROOT / "Dockerfile",
    ]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def k8s_objects() -> list[dict]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        out += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return out


def of_kind(kind: str) -> list[dict]:
    return [o for o in k8s_objects() if o.get("kind") == kind]


def containers(pod_spec: dict) -> list[dict]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def pod_specs() -> list[dict]:
    specs = [o["spec"]["template"]["spec"] for o in of_kind("Deployment") + of_kind("Job")]
    specs += [o["spec"]["jobTemplate"]["spec"]["template"]["spec"] for o in of_kind("CronJob")]
    return specs


def ours(image: str | None) -> bool:
    return (image or "").split(":")[0].endswith("alliance-bot")


def all_commands() -> list[list[str]]:
    """The commands run in our image (PostgreSQL's, Redis' and Caddy's are theirs)."""
    commands = []
    for service in compose()["services"].values():
        command = service.get("command")
        if command and ours(service.get("image")):
            commands.append(shlex.split(command) if isinstance(command, str) else list(command))
    for spec in pod_specs():
        commands += [
            list(c["command"]) + list(c.get("args", []))
            for c in containers(spec)
            if "command" in c and ours(c["image"])
        ]
    docker_cmd = re.search(r"^CMD (\[.*\])$", (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M)
    commands.append(yaml.safe_load(docker_cmd.group(1)))
    return commands


def bot_arguments(command: list[str]) -> list[str] | None:
    """The CLI arguments of an `alliance-bot ...` or `python -m bot ...` command."""
    if command[0] == "alliance-bot":
        return command[1:]
    if len(command) > 2 and command[0].startswith("python") and command[1:3] == ["-m", "bot"]:
        return command[3:]
    return None


def test_every_variable_is_a_setting():
    settings = {f"ALLIANCE_{name.upper()}" for name in Settings.model_fields}
    used = {v for path in deploy_files() for v in VARIABLE.findall(path.read_text(encoding="utf-8"))}
    assert {"ALLIANCE_STORE_URL", "ALLIANCE_REDIS_URL", "ALLIANCE_DATABASE_URL"} <= used
    unknown = used - settings
    assert not unknown, f"not settings in bot/config.py: {sorted(unknown)}"


def test_every_command_is_a_cli_command_with_valid_options():
    checked = []
    for command in all_commands():
        arguments = bot_arguments(command)
        if arguments is None:
            assert command[:2] == ["sh", "-c"], f"not a command of ours: {command}"
            continue
        name, rest = arguments[0], arguments[1:]
        assert name in cli.commands, f"`{name}` is not a command of alliance-bot"
        try:  # parses the options and arguments as the real CLI would, without running
            cli.commands[name].make_context(name, list(rest))
        except click.UsageError as e:
            pytest.fail(f"{command}: {e}")
        checked.append(name)
    # Both files serve and ingest; the image serves.
    assert checked.count("serve") == 3 and checked.count("ingest") == 2


def test_probes_use_the_health_route():
    from bot.api.routes.health import router

    paths = {route.path for route in router.routes}
    for spec in pod_specs():
        for c in spec["containers"]:
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                if probe in c:
                    assert c[probe]["httpGet"]["path"] in paths
    deployment = of_kind("Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert deployment["readinessProbe"]["httpGet"]["path"] == "/health"
    assert deployment["livenessProbe"]["httpGet"]["path"] == "/health"


def test_compose_replicas_read_the_index_from_postgresql_and_mount_none():
    services = compose()["services"]
    assert {"bot", "ingest", "postgres", "redis", "proxy"} <= set(services)
    bot, ingest = services["bot"], services["ingest"]
    assert bot["deploy"]["replicas"] >= 2
    assert "pgvector" in services["postgres"]["image"]
    # No index volume anywhere: the index is in the database, written by the ingest alone.
    assert not [
        s for s in services.values() if any(str(v).startswith("index:") for v in s.get("volumes", []))
    ]
    assert "index" not in (compose().get("volumes") or {})
    for service in (bot, ingest):
        assert service["environment"]["ALLIANCE_STORE_URL"].startswith("postgresql://")
        assert "@postgres:" in service["environment"]["ALLIANCE_STORE_URL"]
    assert not any("/srv/documents" in str(v) for v in bot.get("volumes", []))  # replicas never ingest
    assert bot["depends_on"]["ingest"]["condition"] == "service_completed_successfully"
    assert ingest["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot["environment"]["ALLIANCE_REDIS_URL"].startswith("redis://redis:")
    assert "@postgres:" in bot["environment"]["ALLIANCE_DATABASE_URL"]
    caddy = [v for v in services["proxy"]["volumes"] if "Caddyfile" in v][0]
    assert (DEPLOY / caddy.split(":")[0]).resolve().is_file()
    assert "name bot" in (DEPLOY / "Caddyfile").read_text(encoding="utf-8")


def test_k8s_objects_fit_together():
    kinds = {o["kind"] for o in k8s_objects()}
    assert {"Deployment", "Service", "PodDisruptionBudget", "PersistentVolumeClaim", "CronJob"} <= kinds
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")

    deployment = of_kind("Deployment")[0]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert of_kind("Service")[0]["spec"]["selector"] == labels
    assert of_kind("PodDisruptionBudget")[0]["spec"]["selector"]["matchLabels"] == labels
    assert of_kind("PodDisruptionBudget")[0]["spec"]["minAvailable"] < deployment["spec"]["replicas"]

    claims = {o["metadata"]["name"]: o for o in of_kind("PersistentVolumeClaim")}
    serve_spec = deployment["spec"]["template"]["spec"]
    ingest_spec = of_kind("CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert not serve_spec.get("volumes")  # replicas hold no index: it is in PostgreSQL
    assert "alliance-index" not in claims
    volumes = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in ingest_spec["volumes"]}
    assert set(volumes.values()) <= set(claims)
    for spec in (serve_spec, ingest_spec):
        for c in containers(spec):
            if c is not spec.get("initContainers", [None])[0]:
                assert c["resources"]["requests"]["memory"]
            store = {e["name"]: e for e in c.get("env", [])}["ALLIANCE_STORE_URL"]
            assert store["valueFrom"]["secretKeyRef"]["key"] == "store-url"
            assert all(m.get("readOnly") for m in c.get("volumeMounts", []))  # documents only, read
    configmaps = {o["metadata"]["name"] for o in of_kind("ConfigMap")}
    for spec in (serve_spec, ingest_spec):
        for c in spec["containers"]:
            assert {e["configMapRef"]["name"] for e in c.get("envFrom", [])} <= configmaps


def dockerfile_stages() -> list[str]:
    """The Dockerfile's stages, each from its FROM line to the next (comments dropped)."""
    text = "\n".join(
        line
        for line in (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if not line.startswith("#")
    )
    return ["FROM" + part for part in re.split(r"^FROM", text, flags=re.M)[1:]]


def test_the_image_serves_without_torch_as_a_non_root_user():
    build, final = dockerfile_stages()[0], dockerfile_stages()[-1]
    assert len(dockerfile_stages()) == 2 and " AS build" in build.splitlines()[0]
    # The build stage converts the model with the CPU build of torch, never CUDA's.
    assert "--index-url https://download.pytorch.org/whl/cpu torch==" in build
    assert "alliance-bot model install" in build and "alliance-bot ingest" in build
    # The image: the serving profile without a resolver, then the package without its dependencies.
    installs = re.findall(r"pip install ([^\n&\\]+)", final)
    assert installs and all("--no-deps" in i for i in installs), installs
    assert any("-r requirements/serve.txt" in i for i in installs)
    assert "torch" not in " ".join(installs)
    served = (REPO_ROOT / "requirements" / "serve.txt").read_text(encoding="utf-8")
    pinned = {line.split("==")[0] for line in served.splitlines() if line and not line.startswith("#")}
    assert not pinned & {"torch", "transformers", "sentence-transformers", "onnx", "onnxscript"}
    assert not [p for p in pinned if p.startswith(("nvidia-", "triton"))]
    # What the first stage made is copied in; the server runs as the unprivileged user.
    assert "COPY --from=build --chown=alliance:alliance /opt/alliance/model" in final
    assert "COPY --from=build --chown=alliance:alliance /opt/alliance/index" in final
    users = re.findall(r"^USER (\S+)", final, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(rf"useradd .*--uid {re.escape(users[-1])}\b|useradd .* {re.escape(users[-1])}\b", final)
    # compose and k8s run that image.
    for service in ("ingest", "bot"):
        assert compose()["services"][service]["image"] == "alliance-bot:latest"
    assert compose()["services"]["ingest"]["build"] == ".."
    for spec in pod_specs():
        assert all(ours(c["image"]) for c in spec["containers"])
