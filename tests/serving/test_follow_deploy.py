"""The room store in the container files: compose and Kubernetes run one Redis without persistence
next to the workers and point every worker at it (DASHBOARD_REDIS_URL), with an optional presenter secret."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_has_a_redis_every_replica_uses():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    app, redis = compose["services"]["app"], compose["services"]["redis"]
    assert app["environment"]["DASHBOARD_REDIS_URL"] == "redis://redis:6379/0"
    assert "DASHBOARD_PRESENTER_SECRET" in app["environment"] and "redis" in app["depends_on"]
    assert redis["image"].startswith("redis:") and "ports" not in redis  # reachable by the replicas only
    assert redis["command"][redis["command"].index("--save") + 1] == "" and "--appendonly" in redis["command"]


def test_k8s_has_a_redis_every_pod_uses():
    docs = [d for p in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    kustomize = next(d for d in docs if d["kind"] == "Kustomization")
    assert "redis.yaml" in kustomize["resources"]
    sts = next(d for d in docs if d["kind"] == "StatefulSet")
    svc = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "cnnvis-redis")
    (redis,) = sts["spec"]["template"]["spec"]["containers"]
    assert redis["args"][:2] == ["--save", ""] and svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    env = {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DASHBOARD_REDIS_URL"]["value"] == f"redis://{svc['metadata']['name']}:{svc['spec']['ports'][0]['port']}/0"
    assert env["DASHBOARD_PRESENTER_SECRET"]["valueFrom"]["secretKeyRef"]["optional"] is True


def test_haproxy_logs_leave_the_query_string_out():
    """The presenter's link carries its secret in the query string: both HAProxy configs log the path only."""
    from serving.classroom import haproxy_config

    for cfg in (haproxy_config("0.0.0.0", 8501, [("w1", 40001)]), (ROOT / "deploy" / "haproxy-compose.cfg").read_text()):
        fmt = next(line for line in cfg.splitlines() if line.strip().startswith("log-format"))
        fields = fmt.split('"')[1].split()
        assert "%{+Q}HP" in fields and not {"%r", "%{+Q}r", "%HU", "%{+Q}HU"} & set(fields), fields
