"""The one trainer entry (core.train): a hung child is killed and reported, a failed one leaves its log
and falls back to this process (without process-wide seeding), a real child trains a tiny model."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import core  # noqa: F401
from core import train as T

TINY_SHAPES = {"version": 3, "seed": 0, "n_train": 96, "n_test": 24, "size": 16, "epochs": 1, "batch": 32}


def fake_child(monkeypatch, code: str) -> None:
    """Replace the child's command line by a small Python program."""
    monkeypatch.setattr(T, "child_command", lambda *args: [sys.executable, "-c", code])


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


HUNG = ("import os, sys, time, pathlib; pathlib.Path({pidfile!r}).write_text(str(os.getpid()));"
        "print('PROGRESS 0.1000 starting', flush=True); sys.stderr.write('stuck in the data loader\\n');"
        "sys.stderr.flush(); time.sleep(600)")


def test_a_hung_child_is_killed_and_its_log_named(monkeypatch, tmp_path):
    pidfile = tmp_path / "pid"
    fake_child(monkeypatch, HUNG.format(pidfile=str(pidfile)))
    seen = []
    path = tmp_path / "model.keras"
    with pytest.raises(T.TrainingError) as info:
        T.train_in_child("shapes-cnn", path, {}, {}, lambda f, m: seen.append((f, m)), timeout=5)
    assert not isinstance(info.value, T.ChildFailed)  # a timeout is reported, not retried in this process
    log = path.with_suffix(".log")
    assert str(log) in str(info.value) and "5 s" in str(info.value)
    assert "stuck in the data loader" in log.read_text()
    assert seen == [(0.1, "starting")]
    assert gone(int(pidfile.read_text()))


def test_a_timeout_is_not_followed_by_training_here(monkeypatch, tmp_path):
    fake_child(monkeypatch, HUNG.format(pidfile=str(tmp_path / "pid")))
    called = []
    monkeypatch.setitem(T.TRAINERS, "fake", "tests.core.test_train:fake_trainer")
    monkeypatch.setattr(sys.modules[__name__], "CALLS", called)
    with pytest.raises(T.TrainingError):
        T.cached_or_trained("fake", tmp_path / "fake.keras", {"seed": 0}, lambda f, m: None, timeout=3)
    assert called == []


def test_cancelling_kills_the_child(monkeypatch, tmp_path):
    pidfile = tmp_path / "pid"
    fake_child(monkeypatch, HUNG.format(pidfile=str(pidfile)))

    def cancel(fraction, message):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        T.train_in_child("shapes-cnn", tmp_path / "model.keras", {}, {}, cancel, timeout=60)
    assert gone(int(pidfile.read_text()))


CALLS: list = []


def fake_trainer(recipe: dict, path: Path, progress, **options) -> dict:
    CALLS.append((recipe, options))
    path.write_bytes(b"model")
    card = {"recipe": recipe, "options": options}
    path.with_suffix(".json").write_text(json.dumps(card))
    return card


def test_a_failed_child_falls_back_to_this_process_without_global_seeding(monkeypatch, tmp_path):
    fake_child(monkeypatch, "import sys; sys.stderr.write('ImportError: boom\\n'); sys.exit(3)")
    monkeypatch.setitem(T.TRAINERS, "fake", "tests.core.test_train:fake_trainer")
    calls = []
    monkeypatch.setattr(sys.modules[__name__], "CALLS", calls)
    keras = T.import_keras()
    monkeypatch.setattr(keras.utils, "set_random_seed", lambda seed: pytest.fail("process-wide seeding in-process"))
    messages = []
    path = tmp_path / "fake.keras"
    card = T.cached_or_trained("fake", path, {"seed": 7}, lambda f, m: messages.append(m), options={"decoder": "x"})
    assert card == {"recipe": {"seed": 7}, "options": {"decoder": "x"}} and calls == [({"seed": 7}, {"decoder": "x"})]
    log = path.with_suffix(".log")
    assert any("exit code 3" in m and str(log) in m and "this process instead" in m for m in messages)
    assert "ImportError: boom" in log.read_text()
    # cached now: no second training, the same card
    assert T.cached_or_trained("fake", path, {"seed": 7}, lambda f, m: None, options={"decoder": "x"}) == card
    assert len(calls) == 1


@pytest.mark.trained
def test_the_real_shapes_trainer_in_process_does_not_seed_the_process(monkeypatch, tmp_path):
    from core.vision.train import train_shapes_cnn

    keras = T.import_keras()
    monkeypatch.setattr(keras.utils, "set_random_seed", lambda seed: pytest.fail("process-wide seeding in-process"))
    model, card = train_shapes_cnn(recipe=TINY_SHAPES, path=tmp_path / "tiny.keras", subprocess_ok=False)
    assert card["recipe"] == TINY_SHAPES and 0.0 <= card["accuracy"] <= 1.0
    assert model.output_shape[-1] == 6


@pytest.mark.trained
def test_a_real_child_trains_through_python_m_core_train(tmp_path):
    path = tmp_path / "child.keras"
    seen = []
    T.train_in_child("shapes-cnn", path, TINY_SHAPES, {}, lambda f, m: seen.append((f, m)), timeout=600)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["recipe"] == TINY_SHAPES and path.exists()
    assert seen and seen[-1][0] == 1.0 and "held-out accuracy" in seen[-1][1]


def test_unknown_trainer_is_a_sentence():
    with pytest.raises(ValueError, match="Unknown trainer 'nope'; choose one of shapes-cnn"):
        T.trainer("nope")
    assert set(T.TRAINERS) == {"shapes-cnn", "tanks-cnn", "shapes-fcn", "shapes-fcn-skips", "shapes-yolo"}
    for name in T.TRAINERS:
        assert callable(T.trainer(name))


def fake_loader(progress=None, size=1):
    """A loader like train_shapes_cnn: trains (here: writes a file) only when the cache has no model."""
    path = T.model_dir() / f"fake-{size}.keras"
    if not path.exists():
        progress(0.5, "epoch 1/1")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights")
    return path


def test_train_all_trains_each_model_once_with_progress(monkeypatch, tmp_path):
    from tests.core.test_cli import run

    monkeypatch.setenv("DASHBOARD_CACHE", str(tmp_path))
    monkeypatch.setattr(T, "SELF_TRAINED", (("fake-1", "tests.core.test_train:fake_loader", {"size": 1}),
                                            ("fake-2", "tests.core.test_train:fake_loader", {"size": 2})))
    first = run("train", "--all")
    assert [line.split()[:2] for line in first.stdout.splitlines()] == [["fake-1", "trained"], ["fake-2", "trained"]]
    assert "fake-2: epoch 1/1" in first.stderr and "[100%] 2 self-trained models ready" in first.stderr
    again = json.loads(run("train", "--all", "--json").stdout)
    assert [(m["name"], m["trained_now"]) for m in again["models"]] == [("fake-1", False), ("fake-2", False)]
    only = json.loads(run("train", "fake-2", "--json").stdout)
    assert [m["name"] for m in only["models"]] == ["fake-2"]
    bad = run("train", "fake-3", check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error: Unknown model 'fake-3'")
    assert run("train", check=False).returncode == 2
