"""The container files, checked without a Docker engine: Dockerfile sources and commands, compose.yaml,
deploy/k8s/, and deploy/haproxy-compose.cfg — the latter also run for real on loopback, with a tiny DNS
server standing in for Docker's, to show that server-template finds the replicas and the dynamic cookie
keeps a browser on one of them.
"""

from __future__ import annotations

import re
import shlex
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from serving import classroom
from tests.helpers import free_port
from tests.serving.conftest import get, ws_connect

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


# ----------------------------------------------------------------------------- Dockerfile


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_copies_only_what_exists_and_is_not_dockerignored():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    copies = [rest for word, rest in _dockerfile_instructions() if word == "COPY"]
    assert copies
    sources = []
    for rest in copies:
        args = [a for a in shlex.split(rest) if not a.startswith("--")]
        sources += args[:-1]
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: missing"
        assert src.rstrip("/") not in ignored, f"COPY {src}: excluded by .dockerignore"
    for needed in ("requirements.txt", "core/", "assets/", "dashboard/", "serving/", "pages/", ".streamlit/"):
        assert needed in sources, needed


def test_dockerfile_bakes_assets_and_models_and_runs_one_worker():
    from core.cli import build_parser
    from core.fcn.segmentation import MODEL_NAMES

    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim-bookworm")
    assert ("EXPOSE", "8501") in instructions
    cmd = [rest for word, rest in instructions if word == "CMD"][-1]
    assert cmd == '["python", "-m", "serving.serve", "--host", "0.0.0.0", "--port", "8501"]'
    runs = " && ".join(rest for word, rest in instructions if word == "RUN")
    core_cmds = [shlex.split(c.split(">")[0]) for c in re.findall(r"python -m core ([^&]+)", runs)]
    parser = build_parser()
    for argv in core_cmds:  # every build-time command is one the CLI accepts
        parser.parse_args(argv)
    from core.train import SELF_TRAINED

    assert ["train", "--all"] in core_cmds  # the image holds every self-trained model
    assert {"shapes-cnn", "shapes-yolo", MODEL_NAMES["transpose"], "tanks-cnn-1.0"} <= {n for n, _, _ in SELF_TRAINED}
    assert ["assets", "fetch", "--offline-defaults"] in core_cmds


# ----------------------------------------------------------------------------- compose and Kubernetes


def test_compose_runs_replicas_behind_haproxy_with_the_checked_config(haproxy):
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    app, proxy = compose["services"]["app"], compose["services"]["proxy"]
    assert app["build"] == "." and "replicas" in app["deploy"]
    assert str(app["deploy"]["resources"]["limits"]["cpus"]) == "1"
    assert "STREAMLIT_SERVER_COOKIE_SECRET" in app["environment"]
    assert re.fullmatch(r"haproxy:2\.\d+", proxy["image"])
    mount = next(v for v in proxy["volumes"] if "haproxy" in v)
    src, target = mount.split(":")[:2]
    assert (ROOT / src).is_file() and target == "/usr/local/etc/haproxy/haproxy.cfg"
    cfg = (ROOT / src).read_text()
    for line in ("cookie DASHBOARD_WORKER insert indirect nocache httponly dynamic", "dynamic-cookie-key",
                 "resolvers docker", "server-template app ", "timeout tunnel 1h", "balance leastconn"):
        assert line in cfg, line
    done = subprocess.run([haproxy, "-c", "-f", str(ROOT / src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout


def _k8s() -> dict[str, dict]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[doc["kind"]] = doc
    return docs


def test_k8s_manifests_fit_together():
    docs = _k8s()
    kustomize, deploy, service, ingress = (docs[k] for k in ("Kustomization", "Deployment", "Service", "Ingress"))
    assert sorted(kustomize["resources"]) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")

    pod = deploy["spec"]["template"]
    assert deploy["spec"]["replicas"] >= 2
    assert deploy["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    res = container["resources"]
    assert str(res["requests"]["cpu"]) == str(res["limits"]["cpu"]) == "1"
    assert res["requests"]["memory"] and res["limits"]["memory"]
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port_names == {"http": 8501}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/_stcore/health", "port": "http"}, probe
    assert container["command"][-4:] == ["--host", "0.0.0.0", "--port", "8501"]

    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (sport,) = service["spec"]["ports"]
    assert sport["targetPort"] in port_names

    ann = ingress["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert ann["nginx.ingress.kubernetes.io/session-cookie-name"] == "DASHBOARD_WORKER"
    assert int(ann["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(ann["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert ann["nginx.ingress.kubernetes.io/proxy-body-size"] == "50m"  # = Streamlit's own 50 MiB cap
    (rule,) = ingress["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"] and backend["port"]["name"] == sport["name"]


# ----------------------------------------------------------------------------- compose config, live


class _DNS:
    """Answers A queries for `name` with `addresses` (and nothing else) on 127.0.0.1:port, over UDP."""

    def __init__(self, name: str, addresses: list[str]):
        self.name, self.addresses = name, addresses
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                query, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.queries += 1
            labels, i = [], 12
            while query[i]:
                labels.append(query[i + 1:i + 1 + query[i]].decode())
                i += 1 + query[i]
            qtype = struct.unpack(">H", query[i + 1:i + 3])[0]
            question = query[12:i + 5]
            found = ".".join(labels).lower() == self.name
            answers = [struct.pack(">HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(a)
                       for a in self.addresses] if found and qtype == 1 else []
            flags = 0x8180 if found else 0x8183  # response, recursion available; NXDOMAIN if unknown
            header = query[:2] + struct.pack(">HHHHH", flags, 1, len(answers), 0, 0)
            self.sock.sendto(header + question + b"".join(answers), peer)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


def test_compose_haproxy_finds_replicas_by_dns_and_keeps_a_browser_on_one(haproxy, tmp_path):
    """The compose config as is, but for three loopback stand-ins: the DNS server's address, the
    frontend port and the replicas' port; two real workers on 127.0.0.2 and 127.0.0.3 share that port
    the way replicas share 8501 on their own addresses."""
    port, front = free_port(), free_port()
    replicas = ["127.0.0.2", "127.0.0.3"]
    dns = _DNS("app", replicas)
    workers = [classroom.Child(f"r{k}", classroom.worker_command(port, warm=False, host=ip), tmp_path / f"r{k}.log",
                               env=None, port=port) for k, ip in enumerate(replicas, start=1)]
    cfg = (ROOT / "deploy" / "haproxy-compose.cfg").read_text()
    cfg = cfg.replace("nameserver docker 127.0.0.11:53", f"nameserver docker 127.0.0.1:{dns.port}")
    cfg = cfg.replace("bind :8501", f"bind 127.0.0.1:{front}").replace("app:8501", f"app:{port}")
    (tmp_path / "haproxy.cfg").write_text(cfg)
    proxy = classroom.Child("haproxy", [haproxy, "-db", "-f", str(tmp_path / "haproxy.cfg")], tmp_path / "haproxy.log",
                            env=None)
    base = f"http://127.0.0.1:{front}"
    try:
        for w in workers:
            w.start()
        for w, ip in zip(workers, replicas, strict=True):
            deadline = time.monotonic() + 60
            while not classroom.healthy(port, host=ip):
                assert w.alive() and time.monotonic() < deadline, (tmp_path / f"{w.name}.log").read_text()[-2000:]
                time.sleep(0.3)
        proxy.start()
        seen: dict[str, str] = {}  # server name -> its dynamic cookie value
        deadline = time.monotonic() + 30
        while len(seen) < 2:
            assert proxy.alive() and time.monotonic() < deadline, (seen, (tmp_path / "haproxy.log").read_text()[-2000:])
            try:
                _, headers = get(base + "/")
            except OSError:
                time.sleep(0.5)
                continue
            cookie = re.search(r"DASHBOARD_WORKER=([^;]+)", headers["Set-Cookie"] or "")
            if headers["X-Dashboard-Worker"] and cookie:
                seen[headers["X-Dashboard-Worker"]] = cookie.group(1)
            time.sleep(0.2)
        assert dns.queries > 0
        assert all(re.fullmatch(r"app\d+", name) for name in seen), seen
        assert len(set(seen.values())) == 2, "one cookie value per replica"
        for name, value in seen.items():  # the cookie decides, for page loads and websockets, every time
            for _ in range(3):
                assert get(base + "/", f"DASHBOARD_WORKER={value}")[1]["X-Dashboard-Worker"] == name
                with ws_connect(base, f"DASHBOARD_WORKER={value}") as ws:
                    assert ws.response.headers["X-Dashboard-Worker"] == name
    finally:
        classroom.stop_all([proxy, *workers])
        dns.close()


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    # Each test above stops what it started; nothing with this test's loopback stand-ins may remain.
    assert subprocess.run(["pgrep", "-f", "--", "--host 127.0.0.[23] "], capture_output=True).returncode == 1
