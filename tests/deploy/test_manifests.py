"""The deployment files: every Kubernetes manifest validates against the Kubernetes JSON
schemas (offline, strict: unknown fields are errors) and the Dockerfile runs a real
subcommand as an unprivileged user. No container engine nor cluster runs here; these
checks are what CI can do without one."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from hee_monitor.cli import cli

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
#: the oldest Kubernetes minor still supported upstream when these files were written
K8S_VERSION = "1.32"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                out.append((f"{path.name}:{doc.get('kind')}/{doc['metadata']['name']}", doc))
    return out


DOCUMENTS = _documents()


def test_there_are_manifests() -> None:
    kinds = sorted(doc["kind"] for _name, doc in DOCUMENTS)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Service"]


@pytest.mark.parametrize(("name", "doc"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_manifest_is_valid_kubernetes(name: str, doc: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    import kubernetes_validate

    doc = next(d for _n, d in DOCUMENTS if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(doc))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    broken = json.loads(json.dumps(doc))
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 30  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def _deployments() -> list[dict[str, Any]]:
    return [d for _n, d in DOCUMENTS if d["kind"] == "Deployment"]


def test_deployments_probe_healthz_stop_gracefully_and_are_scraped() -> None:
    configmap = next(d for _n, d in DOCUMENTS if d["kind"] == "ConfigMap")
    for deployment in _deployments():
        pod = deployment["spec"]["template"]
        spec = pod["spec"]
        assert spec["terminationGracePeriodSeconds"] >= 30
        assert spec["securityContext"]["runAsNonRoot"] is True
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        (container,) = spec["containers"]
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["path"] == "/healthz"
        port = int(annotations["prometheus.io/port"])
        assert port in [p["containerPort"] for p in container["ports"]]
        # the listener really is on that port and on every address
        args = container["args"]
        assert str(port) in args and "0.0.0.0" in args
        _assert_real_command(args)
        secret_keys = {
            e["valueFrom"]["secretKeyRef"]["key"]: e["name"]
            for e in container["env"]
            if "valueFrom" in e
        }
        assert secret_keys["database-url"] == "HEE_DATABASE_URL"
        assert secret_keys["webhook-secret"] == "HEE_WEBHOOK_SECRET"
        assert secret_keys["github-app-id"] == "HEE_GITHUB_APP_ID"
        env = {e["name"]: e.get("value") for e in container["env"]}
        key_file = Path(env["HEE_GITHUB_APP_PRIVATE_KEY_FILE"])
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert str(key_file.parent) == mounts["github-app-key"]
        assert configmap["data"]["HEE_CONFIG"].startswith(mounts["config"] + "/")
        # the secrets are referenced, never written into a manifest
        assert all("value" not in e or "secret" not in e["name"].lower() for e in container["env"])


def test_the_service_selects_the_serve_pods() -> None:
    service = next(d for _n, d in DOCUMENTS if d["kind"] == "Service")
    serve = next(d for d in _deployments() if "serve" in d["metadata"]["name"])
    labels = serve["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def _dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def test_dockerfile_runs_as_an_unprivileged_user_from_a_slim_python() -> None:
    instructions = _dockerfile()
    final_stage = instructions[
        max(i for i, (ins, _r) in enumerate(instructions) if ins == "FROM") :
    ]
    users = [rest for ins, rest in final_stage if ins == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    args = dict(rest.split("=", 1) for ins, rest in instructions if ins == "ARG" and "=" in rest)
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert "postgres" in args["EXTRAS"] and "llm" not in args["EXTRAS"]  # llm: opt in
    healthcheck = next(rest for ins, rest in instructions if ins == "HEALTHCHECK")
    assert "/healthz" in healthcheck


def test_dockerfile_cmd_is_a_real_subcommand() -> None:
    instructions = _dockerfile()
    entrypoint = json.loads(next(r for i, r in instructions if i == "ENTRYPOINT"))
    cmd = json.loads(next(r for i, r in instructions if i == "CMD"))
    assert entrypoint == ["hee-monitor"]
    _assert_real_command(cmd)


def _assert_real_command(args: list[str]) -> None:
    """``args`` parse as a hee-monitor subcommand with those options (click's own parser)."""
    group_ctx = cli.make_context("hee-monitor", [*args], resilient_parsing=True)
    name, command, rest = cli.resolve_command(group_ctx, [*args])
    assert command is not None, f"{shlex.join(args)}: no such subcommand"
    ctx = command.make_context(name or "", [*rest], resilient_parsing=False)
    assert ctx.params, ctx
    assert re.fullmatch(r"[a-z-]+", args[0])
