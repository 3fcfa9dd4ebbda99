"""`python -m core bias|debias|evaluate`: the documented JSON keys and files, checked from outside."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.embeddings.io import parse_embedding
from tests.core.test_cli import run


def test_bias_json():
    payload = json.loads(run("bias", "--json").stdout)
    assert len(payload["explained_variance"]) == 10
    assert 0.55 < payload["explained_variance"][0] < 0.65
    assert payload["n_neutral"] == 303
    assert abs(payload["direct_bias"] - 0.0731) < 1e-3
    assert len(payload["projections"]) == 320 and payload["projections"]["homemaker"] > 0
    single = json.loads(run("bias", "--json", "--direction", "single").stdout)
    assert single["direction"] == "single" and single["direct_bias"] != payload["direct_bias"]


def test_debias_writes_word2vec_binary(tmp_path, w2v_small):
    out = tmp_path / "hard.bin"
    payload = json.loads(run("debias", "--method", "hard", "--out", str(out), "--json").stdout)
    assert payload["direct_bias_after"] < 1e-6 < payload["direct_bias_before"]
    written = parse_embedding(out)
    original = w2v_small
    assert written.words == original.words  # same words, same order
    assert np.allclose(np.linalg.norm(written.vectors, axis=1), 1.0, atol=1e-5)
    from gensim.models import KeyedVectors

    assert len(KeyedVectors.load_word2vec_format(str(out), binary=True)) == len(original)


@pytest.mark.heavy
def test_evaluate_json_debiased():
    payload = json.loads(run("evaluate", "--json", "--debiased", "hard", "--permutations", "1000").stdout)
    assert payload["evaluated"] == "hard-debiased"
    sim = payload["benchmarks"]["similarity"]
    assert {"WordSim353", "SimLex-999", "MEN", "RG-65", "MTurk-771", "RW"} <= set(sim)
    assert set(payload["benchmarks"]["analogies"]) == {"Google", "MSR"}
    assert len(payload["weat"]) == 10
    assert payload["original"]["clustering"]["kmeans_accuracy"] > payload["clustering"]["kmeans_accuracy"] > 0.6


def test_unknown_embedding_is_a_sentence():
    proc = run("bias", "--embedding", "/no/such/file.bin", check=False)
    assert proc.returncode == 2 and "neither a known embedding" in proc.stderr


def test_sentiment_json_texts_and_groups():
    payload = json.loads(run("sentiment", "--json", "--embedding", "w2v-test-13k", "--text", "Let's go get Italian food",
                             "--text", "Let's go get Mexican food").stdout)
    assert payload["accuracy"] > 0.9
    texts = payload["texts"]
    assert texts["Let's go get Italian food"] > texts["Let's go get Mexican food"]
    groups = json.loads(run("sentiment", "--groups", "--json").stdout)
    assert set(groups["groups"]) == {"european_american", "african_american"}
    assert groups["groups"]["european_american"] > groups["groups"]["african_american"]
    assert groups["anova_f"] > 0 and 0 <= groups["anova_p"] < 0.05


@pytest.mark.heavy
def test_soft_debias_cli(tmp_path, w2v_small):
    out = tmp_path / "soft.bin"
    payload = json.loads(run("debias", "--method", "soft", "--lambda", "0.2", "--steps", "100", "--out", str(out),
                             "--json").stdout)
    assert payload["direct_bias_after"] < payload["direct_bias_before"]
    assert payload["objective_end"] < payload["objective_start"]
    assert parse_embedding(out).words == w2v_small.words
