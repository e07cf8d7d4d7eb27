"""The demo's synthetic data, tiny base model and lm-eval tasks (fast: tiny sizes)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import yaml

from selectbench import formatting
from selectbench.demo import data
from selectbench.demo.tiny_model import build_tiny_llama, train_tokenizer
from selectbench.evaluation.demo_tasks import TASK_NAMES, write_demo_tasks

POOL_FILES = sorted(data.SOURCE_FILES.values())


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def read_pool(folder) -> dict[str, list[dict]]:
    return {f: read_jsonl(Path(folder) / f) for f in POOL_FILES}


@pytest.fixture(scope="module")
def pool_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pool")
    data.make_demo_pool(out, n_rows=600, seed=3, defect_rate=0.2)
    return out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    metrics = build_tiny_llama(out, data.make_pretrain_corpus(120, seed=0), vocab_size=600,
                               hidden_size=32, num_layers=1, num_heads=2, max_position=256,
                               pretrain_steps=3, batch_size=2, seq_len=32)
    return out, metrics


# ----------------------------------------------------------------------------- pool


def test_pool_is_deterministic(tmp_path, pool_dir):
    data.make_demo_pool(tmp_path / "a", n_rows=600, seed=3, defect_rate=0.2)
    data.make_demo_pool(tmp_path / "b", n_rows=600, seed=4, defect_rate=0.2)
    for f in POOL_FILES + ["manifest.json"]:
        assert (tmp_path / "a" / f).read_bytes() == (pool_dir / f).read_bytes()
    assert any((tmp_path / "b" / f).read_bytes() != (pool_dir / f).read_bytes()
               for f in POOL_FILES)


def test_manifest_counts_rows(pool_dir):
    manifest = json.loads((pool_dir / "manifest.json").read_text())
    assert manifest == {f: len(rows) for f, rows in read_pool(pool_dir).items()}
    assert sum(manifest.values()) == 600


def test_defect_counts_and_ids(pool_dir):
    rows = [r for rs in read_pool(pool_dir).values() for r in rs]
    kinds = Counter(r["defect"] for r in rows)
    assert kinds == {"none": 480, "wrong_answer": 30, "truncated": 30, "duplicate": 30,
                     "off_topic": 30}
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    for f, rs in read_pool(pool_dir).items():
        task = next(t for t, file in data.SOURCE_FILES.items() if file == f)
        assert all(r["id"].startswith(f"{task}-") for r in rs)


@pytest.mark.parametrize("rate", [0.0, 0.37])
def test_defect_rate_is_exact(tmp_path, rate):
    data.make_demo_pool(tmp_path, n_rows=101, seed=0, defect_rate=rate)
    rows = [r for rs in read_pool(tmp_path).values() for r in rs]
    assert sum(r["defect"] != "none" for r in rows) == round(rate * 101)


def content(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("id", "defect")}


def test_duplicates_copy_an_earlier_clean_row(pool_dir):
    for rows in read_pool(pool_dir).values():
        order = sorted(rows, key=lambda r: int(r["id"].rsplit("-", 1)[1]))
        for i, row in enumerate(order):
            if row["defect"] == "duplicate":
                earlier = [content(r) for r in order[:i] if r["defect"] == "none"]
                assert content(row) in earlier


def test_clean_rows_are_distinct(pool_dir):
    clean = [json.dumps(content(r), sort_keys=True)
             for rs in read_pool(pool_dir).values() for r in rs if r["defect"] == "none"]
    assert len(set(clean)) == len(clean)


def test_sentiment_defects_change_the_answer(pool_dir):
    labels = set(data.SENTIMENT_LABELS)
    for row in read_pool(pool_dir)["question_answer.jsonl"]:
        answer, defect = row["answer"], row["defect"]
        if defect in ("none", "duplicate", "wrong_answer"):
            assert answer in labels
        elif defect == "truncated":
            assert answer not in labels and any(label.startswith(answer) for label in labels)
        else:
            assert answer not in labels


def test_rows_are_valid_in_their_format(pool_dir):
    pool = read_pool(pool_dir)

    def text(x):
        return isinstance(x, str) and x.strip() != ""

    for r in pool["alpaca.jsonl"]:
        assert text(r["instruction"]) and isinstance(r["input"], str) and text(r["output"])
    for r in pool["prompt_completion.jsonl"]:
        assert text(r["prompt"]) and text(r["completion"])
    for r in pool["question_answer.jsonl"]:
        assert text(r["question"]) and text(r["answer"])
    for r in pool["sharegpt.jsonl"]:
        turns = [t for t in r["conversations"] if t["from"] != "system"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        assert turns and all(text(t["value"]) for t in turns)
    for r in pool["messages.jsonl"]:
        roles = [m["role"] for m in r["messages"]]
        rest = roles[1:] if roles[0] == "system" else roles
        assert rest == ["user", "assistant"] * (len(rest) // 2) and rest
        assert all(text(m["content"]) for m in r["messages"])
    assert any(len(r["conversations"]) > 2 for r in pool["sharegpt.jsonl"])
    assert any(r["messages"][0]["role"] == "system" for r in pool["messages.jsonl"])
    assert any(r["input"] for r in pool["alpaca.jsonl"])


def test_describe_responses_are_the_longest(pool_dir):
    pool = read_pool(pool_dir)
    describe = [t["value"] for r in pool["sharegpt.jsonl"] if r["defect"] == "none"
                for t in r["conversations"] if t["from"] == "gpt"]
    others = [r["answer"] for r in pool["question_answer.jsonl"] if r["defect"] == "none"]
    assert min(map(len, describe)) > max(map(len, others))


def test_eval_items_are_held_out(tmp_path):
    data.make_demo_pool(tmp_path, n_rows=3000, seed=0, defect_rate=0.1)
    pool = read_pool(tmp_path)
    prompts = {r["question"] for r in pool["question_answer.jsonl"]}
    prompts |= {r["prompt"] for r in pool["prompt_completion.jsonl"]}
    for task in ("sentiment", "category"):
        items = data.eval_examples(task, 200, seed=0)
        assert len({ex.prompt for ex in items}) == 200
        assert not {ex.prompt for ex in items} & prompts


@pytest.mark.parametrize("task", ["sentiment", "category"])
def test_eval_items_are_a_prefix_stable_stream(task):
    # the demo query sets take the items after the benchmark's first n
    assert data.eval_examples(task, 10, seed=0) == data.eval_examples(task, 25, seed=0)[:10]


def test_pretrain_corpus_avoids_held_out_combinations():
    corpus = "\n".join(data.make_pretrain_corpus(500, seed=0)).lower()
    rng = random.Random(0)
    held_out = [data.review(rng, "eval")[0][:-1] for _ in range(300)]
    held_out += [data.category_items(rng, "eval")[1] for _ in range(300)]
    pool = [data.category_items(rng, "pool")[1] for _ in range(300)]
    assert not any(text.lower() in corpus for text in held_out)
    assert any(text.lower() in corpus for text in pool)  # the check can find combinations


def test_pretrain_corpus_is_plain_and_deterministic():
    docs = data.make_pretrain_corpus(50, seed=1)
    assert docs == data.make_pretrain_corpus(50, seed=1) != data.make_pretrain_corpus(50, 2)
    assert len(docs) == 50 and all(docs)
    assert not any(tag in doc for doc in docs for tag in formatting.SPECIAL_TOKENS)


# ----------------------------------------------------------------------------- model


def test_tokenizer_round_trip_bos_tags_offsets():
    tok = train_tokenizer(data.make_pretrain_corpus(200, seed=0), vocab_size=800)
    messages = [{"role": "user", "content": "Name the category: mango, plum and pear."},
                {"role": "assistant", "content": "fruit"}]
    text = formatting.render(messages, tok.eos_token).text
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert tok(text, add_special_tokens=False)["input_ids"] == ids[1:]
    assert tok.decode(ids, skip_special_tokens=False) == "<s>" + text
    for tag in formatting.SPECIAL_TOKENS + (tok.eos_token,):
        assert len(tok(tag, add_special_tokens=False)["input_ids"]) == 1
    # a word is one and the same token at a line start and after a space
    assert tok("\nfruit", add_special_tokens=False)["input_ids"][1:] == \
        tok(" fruit", add_special_tokens=False)["input_ids"][1:]
    enc = formatting.encode(tok, messages)
    targets = [i for i, m in zip(enc.input_ids, enc.loss_mask) if m]
    assert tok.decode(targets, skip_special_tokens=False) == "fruit" + tok.eos_token


def test_model_saves_and_loads_like_a_hub_model(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, metrics = tiny_model
    assert set(metrics) == {"params", "pretrain_tokens", "final_loss", "wall_s",
                            "flops_estimate"}
    assert metrics["flops_estimate"] == 6 * metrics["params"] * metrics["pretrain_tokens"]
    lines = (out / "pretrain_loss.csv").read_text().splitlines()
    assert lines[0] == "step,loss" and len(lines) == 4
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(out)
    assert sum(p.numel() for p in model.parameters()) == metrics["params"]
    assert tok.bos_token == "<s>" and tok.eos_token == "</s>" and tok.pad_token == "<pad>"
    assert tok.model_max_length == 256
    enc = tok(formatting.prompt_for([{"role": "user", "content": "Hi"}]), return_tensors="pt")
    assert enc["input_ids"][0, 0].item() == tok.bos_token_id
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape[-1] == len(tok)
    user, assistant = model.get_input_embeddings().weight[
        tok.convert_tokens_to_ids(["<|user|>", "<|assistant|>"])]
    assert torch.cosine_similarity(user, assistant, dim=0) < 0.9


def test_build_is_deterministic(tmp_path, tiny_model):
    _, metrics = tiny_model
    again = build_tiny_llama(tmp_path, data.make_pretrain_corpus(120, seed=0), vocab_size=600,
                             hidden_size=32, num_layers=1, num_heads=2, max_position=256,
                             pretrain_steps=3, batch_size=2, seq_len=32)
    assert again["final_loss"] == metrics["final_loss"]


# ----------------------------------------------------------------------------- lm-eval tasks


class _TaggedLoader(yaml.SafeLoader):
    """Reads lm-eval task YAMLs: a `!function` tag becomes the string it stands for."""


_TaggedLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def test_demo_task_files(tmp_path):
    names = write_demo_tasks(tmp_path / "tasks", seed=0, n_per_task=12)
    assert names == list(TASK_NAMES)
    for name in names:
        text = (tmp_path / "tasks" / f"{name}.yaml").read_text()
        config = yaml.load(text, Loader=_TaggedLoader)      # `!function`: lm-eval's own tag
        assert config["task"] == name and config["dataset_path"] == "json"
        assert config["custom_dataset"] == "!function selectbench_task_loader.load"
        rel = Path(config["dataset_kwargs"]["data_files"]["test"])
        assert not rel.is_absolute()                        # relative to the YAML: a moved tree still works
        data_file = tmp_path / "tasks" / rel
        assert data_file.exists()
        docs = read_jsonl(data_file)
        assert len(docs) == 12
        assert all(d["prompt"].startswith("<|user|>\n") and d["prompt"].endswith("<|assistant|>\n")
                   for d in docs)
        if config["output_type"] == "multiple_choice":
            assert all(d["choices"][d["label"]] == d["answer"] for d in docs)
        else:
            assert config["generation_kwargs"]["until"] == ["\n", "</s>", "<|user|>"]


def test_demo_tasks_run_in_lm_eval_offline(tmp_path, tiny_model):
    import lm_eval
    from lm_eval.tasks import TaskManager

    out, _ = tiny_model
    names = write_demo_tasks(tmp_path, seed=0, n_per_task=4)
    res = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": str(out), "dtype": "float32", "add_bos_token": True},
        tasks=names, task_manager=TaskManager(include_path=str(tmp_path), include_defaults=False),
        bootstrap_iters=0, device="cpu", batch_size=4)
    assert 0 <= res["results"]["demo_sentiment_mc"]["acc,none"] <= 1
    assert 0 <= res["results"]["demo_category_gen"]["exact_match,strip"] <= 1
    sample = res["samples"]["demo_sentiment_mc"][0]
    assert sample["arguments"][0][0].endswith("<|assistant|>\n")
    assert [a[1] for a in sample["arguments"]] == list(data.SENTIMENT_LABELS)
