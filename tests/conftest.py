"""Test tiers and the fixtures every folder shares.

Tiers (pytest markers, applied here from the folder and the fixtures a test uses, or written on a
test whose body needs them):

* ``unit``    -- everything not in another tier: pure functions, pinned assets, pretrained models;
* ``page``    -- Streamlit's AppTest runs a page script in this process (tests/pages, page tests elsewhere);
* ``trained`` -- needs a self-trained model (``python -m core train --all`` makes them; a fresh machine
                 trains them on first use, about 1-2 minutes each on two cores);
* ``server``  -- starts a real server process (Streamlit, HAProxy, the classroom);
* ``browser`` -- drives Debian's Chromium through Playwright;
* ``report``  -- the quick report that checks every figure the README quotes;
* ``heavy``   -- written on a test whose own computation takes most of a minute on two cores (soft
                 debiasing, benchmarks of new embeddings, attribution sweeps): about 80 % of the fast
                 tier's time in 8 tests.

``make test`` runs all of them; ``make test-fast`` runs ``not (trained or server or browser or report or heavy)``.
In that fast run (``TEST_TIER=fast``) a test that reaches the training cache without the ``trained``
marker fails and says so, so the fast tier cannot start training behind anyone's back.

Session fixtures: the models and embeddings several modules use are loaded once per run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIERS = ("unit", "page", "trained", "server", "browser", "report", "heavy")
FOLDER_TIERS = {"browser": "browser", "serving": "server", "pages": "page"}
# Fixtures that mean a tier wherever they are used (directly or through another fixture).
FIXTURE_TIERS = {
    "shapes_cnn": "trained", "shapes_fcn": "trained", "shapes_yolo": "trained", "tanks_cnn": "trained",
    "server": "server", "dashboard_server": "server", "haproxy": "server",
    "playwright": "browser",  # (the names `browser` and `page` are also used by AppTest fixtures elsewhere)
    "app": "page", "quick_report": "report",
}
FAST = os.environ.get("TEST_TIER", "") == "fast"


def pytest_configure(config):
    for name in TIERS:
        config.addinivalue_line("markers", f"{name}: test tier (see tests/conftest.py)")


def tiers_of(item) -> set[str]:
    found = {m.name for m in item.iter_markers() if m.name in TIERS}
    if item.get_closest_marker("slow"):  # the older marker: "trains or downloads something"
        found.add("trained")
    parts = Path(str(item.fspath)).relative_to(ROOT).parts
    if len(parts) > 1 and parts[1] in FOLDER_TIERS:
        found.add(FOLDER_TIERS[parts[1]])
    found |= {tier for name, tier in FIXTURE_TIERS.items() if name in item.fixturenames}
    return found or {"unit"}


# `make test` runs two pytest-xdist processes with --dist loadfile: every file is one unit of work (its
# module fixtures start once), except that the AppTest page files in tests/pages share one process: they run
# the same pages, whose models, embeddings and replayed sections that process then loads and computes once
# (quiet, tests/pages alone: 151 s in one process; 316 s of test time when spread over two). xdist's own
# --dist loadgroup cannot do it with pytest 9 (it renames node ids through an attribute pytest 9 ignores).
SHARED_FOLDERS = ("tests/pages/",)


def xdist_scope(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return next((folder for folder in SHARED_FOLDERS if path.startswith(folder)), path)


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return FileScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    for item in items:
        for tier in sorted(tiers_of(item) - {m.name for m in item.iter_markers()}):
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def _fast_tier_never_trains(request, monkeypatch):
    """Under ``make test-fast``: a test that reaches the training cache without the ``trained`` marker fails,
    naming the model and the missing marker. The cache call itself raises TrainingError at once (it may run
    on a page's job-pool thread, where a pytest failure would only hang the page), and the test fails at
    teardown."""
    if not FAST or request.node.get_closest_marker("trained"):
        yield
        return
    import importlib

    from core.train import TrainingError

    refused: list[str] = []

    def refuse(name, *args, **kwargs):
        refused.append(name)
        raise TrainingError(f"the fast test tier loads no self-trained model ('{name}')")

    # Each trainer's module calls the cache through its own name (core.train's own tests call it directly).
    for module in ("core.vision.train", "core.vision.tanks", "core.fcn.segmentation", "core.detection.train"):
        monkeypatch.setattr(importlib.import_module(module), "cached_or_trained", refuse)
    yield
    if refused:
        pytest.fail(f"{request.node.nodeid} needs the self-trained model(s) {sorted(set(refused))}: mark it "
                    "@pytest.mark.trained (or use the shapes_cnn / shapes_yolo fixtures)")


# ----------------------------------------------------------------------------- one dashboard server


@pytest.fixture(scope="session")
def dashboard_server():
    """``streamlit run dashboard/app.py`` on a free loopback port, shared by every test that needs a plain
    dashboard (the browser sweep, the scripted student). A low message-cache threshold, so a client that
    caches messages gets ref_hash messages even on small pages (browsers handle both)."""
    from tests.helpers import streamlit_server

    with streamlit_server(ROOT, "streamlit-test", ("--global.minCachedMessageSize", "1000")) as base:
        yield base


# ----------------------------------------------------------------------------- shared models and data


@pytest.fixture(scope="session")
def emotion_cnn():
    """The pinned FER emotion CNN (offline asset), loaded once per run."""
    from core.vision import zoo

    return zoo.load_model("emotion-cnn")


@pytest.fixture(scope="session")
def efficientnet_lite0():
    """EfficientNet-Lite0 converted from the pinned PyTorch weights (cached conversion), loaded once per run."""
    from core.vision import zoo

    return zoo.load_model("efficientnet-lite0")


@pytest.fixture(scope="session")
def shapes_cnn():
    """The self-trained shapes classifier (trained on first use), loaded once per run."""
    from core.vision import zoo

    return zoo.load_model("shapes-cnn")


@pytest.fixture(scope="session")
def shapes_yolo():
    from core.detection.train import load_shapes_yolo

    return load_shapes_yolo()


@pytest.fixture(scope="session")
def w2v_small():
    """The Bolukbasi word2vec subset (offline asset), loaded once per run. Shared: never mutate it."""
    from core.embeddings.sources import load_named

    return load_named("w2v-small")


@pytest.fixture(scope="session")
def w2v_test_13k():
    from core.embeddings.sources import load_named

    return load_named("w2v-test-13k")
