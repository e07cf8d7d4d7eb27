"""Bad inputs stop with a clear error naming file, row and field, and leave no output.

One test per case of docs/bad-inputs.md (issue 10 §5) that is not covered elsewhere;
the table there lists every case and its test."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from selectbench.config import check_config
from selectbench.errors import ConfigError, DataError
from selectbench.io import read_json
from selectbench.pools import normalize_pool, read_pool, write_pool

ROOT = Path(__file__).resolve().parent.parent


def ua(prompt="p", response="r"):
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def pool_cfg(*sources, rows=1):
    return {"rows": rows, "sources": [{"name": f"s{i}", "path": p, "format": f}
                                      for i, (p, f) in enumerate(sources)]}


# ------------------------------------------------------------------ source files

@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"[]"], ids=["zero-byte", "blank-lines", "empty-list"])
def test_source_without_rows_is_an_error(tmp_path, content):
    name = "empty.json" if content == b"[]" else "empty.jsonl"
    (tmp_path / "ok.jsonl").write_text(json.dumps({"messages": ua()}) + "\n")
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=rf"{name}: source 's1' holds no rows"):
        normalize_pool("p", pool_cfg(("ok.jsonl", "messages"), (name, "messages")), tmp_path)


def test_lone_surrogate_escape_names_file_row_and_field(tmp_path):
    good = json.dumps({"messages": ua()})
    bad = '{"messages": [{"role": "user", "content": "hi \\ud800 there"}, {"role": "assistant", "content": "r"}]}'
    (tmp_path / "s.jsonl").write_text(good + "\n" + bad + "\n")
    with pytest.raises(DataError) as exc:
        normalize_pool("p", pool_cfg(("s.jsonl", "messages"), rows=2), tmp_path)
    msg = str(exc.value)
    assert "s.jsonl:2: field 'messages[0].content': invalid Unicode: lone surrogate '\\ud800'" in msg
    bad_id = '{"id": "a\\udfff", "instruction": "i", "output": "o"}'
    (tmp_path / "a.jsonl").write_text(bad_id + "\n")
    cfg = {"rows": 1, "sources": [{"name": "a", "path": "a.jsonl", "format": "alpaca", "id_field": "id"}]}
    with pytest.raises(DataError, match=r"a.jsonl:1: field 'id': invalid Unicode"):
        normalize_pool("p", cfg, tmp_path)


@pytest.mark.parametrize("stream", [False, True], ids=["in-memory", "streaming"])
def test_mixed_type_label_names_file_line_field_and_both_types(tmp_path, stream):
    """Issue 21 §2: `defect: true` in some rows and `"yes"` on line 4 of the second file."""
    from selectbench.pools import write_normalized_pool

    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"instruction": "i", "output": f"o{i}", "defect": True})
                                              + "\n" for i in range(2)))
    rows = [{"instruction": "i", "output": f"p{i}", "defect": v} for i, v in enumerate([False, None, False, "yes"])]
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {"rows": 6, "sources": [{"name": n, "path": f"{n}.jsonl", "format": "alpaca", "label_columns": ["defect"]}
                                  for n in ("a", "b")]}
    out = tmp_path / "out"
    with pytest.raises(DataError) as exc:
        if stream:
            write_normalized_pool("p", cfg, out / "pool.parquet", out / "stats.json", tmp_path, chunk_rows=2)
        else:
            normalize_pool("p", cfg, tmp_path)
    assert str(exc.value) == (f"{tmp_path / 'b.jsonl'}:4: field 'defect': label is a string ('yes') here but a "
                              "boolean (True) at a.jsonl:1; a label column holds one type: write every 'defect' "
                              "as a boolean, or every one as a string")
    assert not out.exists() or not any(out.iterdir())
    # ints and floats mix (Arrow stores a double); nulls are missing values of any type
    rows = [{"instruction": "i", "output": f"q{i}", "defect": v} for i, v in enumerate([1, 0.5, None])]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ok = {"rows": 3, "sources": [{"name": "c", "path": "c.jsonl", "format": "alpaca", "label_columns": ["defect"]}]}
    assert normalize_pool("p", ok, tmp_path)["defect"].tolist()[:2] == [1, 0.5]


def test_control_character_in_content_is_kept_with_a_warning(tmp_path, caplog):
    """Issue 21 §4: a NUL (or another C0 control, not tab/newline) is data, but the log and the
    terminal name its file, line and field; past five rows per source they are counted."""
    import logging

    rows = [{"messages": ua("fine\tand\nok")}, {"messages": ua("p", "a NUL \x00 here")}]
    rows += [{"messages": ua(f"bell \x07 {i}")} for i in range(6)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with caplog.at_level(logging.WARNING, logger="selectbench"):
        df = normalize_pool("p", pool_cfg(("c.jsonl", "messages"), rows=8), tmp_path)
    assert df["messages"].tolist()[1][1]["content"] == "a NUL \x00 here"
    warned = [r.getMessage() for r in caplog.records]
    assert warned[0] == f"{tmp_path / 'c.jsonl'}:2: field 'messages[1].content': control character '\\x00' " \
                        "in the content (kept as is)"
    assert warned[1].endswith("c.jsonl:3: field 'messages[0].content': control character '\\x07' in the content "
                              "(kept as is)")
    assert len(warned) == 6 and warned[-1].endswith("c.jsonl: 7 records in all hold control characters "
                                                    "(the first 5 are named above)")


def test_model_that_cannot_load_names_its_reference(tmp_path):
    """Issue 21 §2 sweep: transformers says "Repo id must be in the form …" for a missing local
    directory; the error names the directory (or hub name) and what could not load."""
    from selectbench.modeling import ModelRef, load_causal_lm, load_tokenizer

    missing = str(tmp_path / "models" / "nope")
    with pytest.raises(DataError, match=rf"^{missing}: tokenizer: model directory not found"):
        load_tokenizer(ModelRef(missing))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=rf"^{tmp_path / 'empty'}: cannot load the model \(local directory\): "):
        load_causal_lm(ModelRef(str(tmp_path / "empty")), "cpu", None)
    with pytest.raises(DataError, match=r"^org/not-cached-anywhere: cannot load the tokenizer \(hub model\): "):
        load_tokenizer(ModelRef("org/not-cached-anywhere"))


def test_utf8_bom_is_accepted(tmp_path):
    bom = b"\xef\xbb\xbf"
    (tmp_path / "a.jsonl").write_bytes(bom + (json.dumps({"instruction": "i", "output": "o"}) + "\n").encode())
    (tmp_path / "b.json").write_bytes(bom + json.dumps([{"prompt": "p", "completion": "c"}]).encode())
    df = normalize_pool("p", {"rows": 2, "sources": [{"name": "a", "path": "a.jsonl", "format": "alpaca"},
                                                     {"name": "b", "path": "b.json", "format": "prompt_completion"}]},
                        tmp_path)
    assert df["messages"].tolist()[0][0]["content"] == "i" and len(df) == 2


@pytest.mark.parametrize("turns,field,fragment", [
    ([("assistant", "hi"), ("user", "u"), ("assistant", "a")], "messages[0]", "must start with the user's turn"),
    ([("system", "s"), ("assistant", "hi"), ("user", "u"), ("assistant", "a")], "messages[1]",
     "must start with the user's turn"),
    ([("user", "u"), ("assistant", "a"), ("system", "s"), ("user", "u2"), ("assistant", "a2")], "messages[2]",
     "system message after the conversation started"),
])
def test_conversation_order(tmp_path, turns, field, fragment):
    row = {"messages": [{"role": r, "content": c} for r, c in turns]}
    (tmp_path / "c.jsonl").write_text(json.dumps({"messages": ua()}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError) as exc:
        normalize_pool("p", pool_cfg(("c.jsonl", "messages"), rows=2), tmp_path)
    assert f"c.jsonl:2: field '{field}'" in str(exc.value) and fragment in str(exc.value)


def test_valid_conversations_with_leading_system_and_repeated_roles(tmp_path):
    rows = [{"messages": [{"role": "system", "content": "s"}, {"role": "system", "content": "s2"}] + ua()},
            {"messages": [{"role": "user", "content": "u"}, {"role": "user", "content": "u2"}] + ua()}]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert len(normalize_pool("p", pool_cfg(("c.jsonl", "messages"), rows=2), tmp_path)) == 2


def test_same_source_file_twice_is_an_error(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"messages": ua()}) + "\n")
    cfg = pool_cfg(("a.jsonl", "messages"), ("./a.jsonl", "messages"), rows=2)
    with pytest.raises(ConfigError, match=r"sources 's0' and 's1' read the same file .*a.jsonl"):
        normalize_pool("p", cfg, tmp_path)
    demo = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    demo["pools"]["demo"]["sources"].append(dict(demo["pools"]["demo"]["sources"][0], name="again"))
    with pytest.raises(ConfigError, match=r"pools.demo.sources\[5\]: reads the same file as sources\[0\]"):
        check_config(demo)


def test_exact_duplicate_content_is_counted_in_stats(tmp_path):
    rows = [{"messages": ua("a", "b")}, {"messages": ua("a", "b")}, {"messages": ua("a", "b")},
            {"messages": ua("c", "d")}, {"messages": ua("c", "d")}, {"messages": ua("e", "f")}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    df = normalize_pool("p", pool_cfg(("d.jsonl", "messages"), rows=6), tmp_path)
    write_pool(df, tmp_path / "pool.parquet", tmp_path / "stats.json")
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["exact_duplicates"] == {"rows": 3, "groups": 2}


# ------------------------------------------------------------------ job outputs read by later jobs

@pytest.fixture
def pool_files(tmp_path):
    rows = [{"messages": ua(f"q{i}", "r" * (i + 1))} for i in range(6)]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    df = normalize_pool("p", pool_cfg(("p.jsonl", "messages"), rows=6), tmp_path)
    write_pool(df, tmp_path / "pool.parquet", tmp_path / "stats.json")
    return tmp_path


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_score_fails_select_naming_file_and_id(pool_files, bad):
    from selectbench.selection.run import select

    pool = read_pool(pool_files / "pool.parquet")
    scores = pd.DataFrame({"id": pool["id"], "score": np.arange(6, dtype=float)})
    scores.loc[3, "score"] = bad
    scores.to_parquet(pool_files / "scores.parquet", index=False)
    out = pool_files / "sel.json"
    with pytest.raises(DataError) as exc:
        select(pool_files / "pool.parquet", pool_files / "stats.json", pool_files / "scores.parquet", "m",
               "top_k", {}, 2, 0, out, cost_path=pool_files / "sel.cost.json")
    msg = str(exc.value)
    assert "scores.parquet:4: field 'score'" in msg and f"id '{pool['id'][3]}'" in msg
    assert not out.exists() and not (pool_files / "sel.cost.json").exists()


def _damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    else:  # bytes overwritten inside the first page: the footer is intact, the data is not
        path.write_bytes(data[:8] + b"\xff" * 40 + data[48:])


@pytest.mark.parametrize("how", ["truncated", "empty", "corrupt"])
def test_corrupt_score_file_fails_select_naming_it(pool_files, how):
    from selectbench.selection.run import select

    pool = read_pool(pool_files / "pool.parquet")
    scores = pool_files / "scores.parquet"
    pd.DataFrame({"id": pool["id"], "score": np.arange(6, dtype=float)}).to_parquet(scores, index=False)
    _damage(scores, how)
    out = pool_files / "sel.json"
    with pytest.raises(DataError, match=r"scores.parquet: cannot read this score file as Parquet: .*"
                                        r"if it is truncated or corrupt, delete it and rerun the job that writes it"):
        select(pool_files / "pool.parquet", pool_files / "stats.json", scores, "m", "top_k", {}, 2, 0, out,
               cost_path=pool_files / "sel.cost.json")
    assert not out.exists() and not (pool_files / "sel.cost.json").exists()


@pytest.mark.parametrize("how", ["truncated", "empty"])
def test_corrupt_pool_fails_select_and_finetune_naming_it(pool_files, tmp_path, how):
    from selectbench.selection.run import select
    from selectbench.training import finetune_selection

    _damage(pool_files / "pool.parquet", how)
    with pytest.raises(DataError, match=r"pool.parquet: cannot read this pool as Parquet"):
        select(pool_files / "pool.parquet", pool_files / "stats.json", None, "m", "random", {}, 2, 0,
               pool_files / "sel.json")
    assert not (pool_files / "sel.json").exists()
    sel = pool_files / "selection.json"
    sel.write_text(json.dumps({"ids": ["s0-0", "s0-1"]}))
    with pytest.raises(DataError, match=r"pool.parquet: cannot read this pool as Parquet"):
        finetune_selection(pool_files / "pool.parquet", sel, {"name_or_path": "unused", "revision": None},
                           {"peft": "lora"}, 0, "cpu", tmp_path / "ck", tmp_path / "loss.csv", tmp_path / "m.json")
    assert not (tmp_path / "ck").exists()


def test_truncated_json_names_the_file(pool_files):
    from selectbench.selection.run import select

    stats = pool_files / "stats.json"
    stats.write_text(stats.read_text()[:40])
    with pytest.raises(DataError, match=r"stats.json: pool stats is not valid JSON at line .*truncated"):
        select(pool_files / "pool.parquet", stats, None, "m", "random", {}, 2, 0, pool_files / "sel.json")
    assert not (pool_files / "sel.json").exists()
    sel = pool_files / "selection.json"
    sel.write_text('{"ids": ["p-0", "p-1"')
    with pytest.raises(DataError, match=r"selection.json: selection is not valid JSON"):
        read_json(sel, "selection")


def test_truncated_selection_fails_finetune_before_training(pool_files, tmp_path):
    from selectbench.training import finetune_selection

    sel = pool_files / "selection.json"
    sel.write_text('{"ids": ["s0-0", "s0-1"')
    with pytest.raises(DataError, match=r"selection.json: selection is not valid JSON.*truncated"):
        finetune_selection(pool_files / "pool.parquet", sel, {"name_or_path": "unused", "revision": None},
                           {"peft": "lora"}, 0, "cpu", tmp_path / "ck", tmp_path / "loss.csv", tmp_path / "m.json")
    assert not (tmp_path / "ck").exists()


def test_checkpoint_without_adapter_weights(tmp_path):
    from selectbench.evaluation.lmeval import model_args_for

    ck = tmp_path / "model"
    ck.mkdir()
    base = {"name_or_path": "results/models/tiny", "revision": None}
    with pytest.raises(DataError, match=r"model: not a selectbench checkpoint: no selectbench_checkpoint.json"):
        model_args_for(str(ck), base, "cpu", "float32", 1)
    (ck / "selectbench_checkpoint.json").write_text(json.dumps({"peft": "lora"}))
    (ck / "adapter_config.json").write_text("{}")
    with pytest.raises(DataError, match=r"incomplete LoRA adapter: no adapter_model.safetensors or adapter_model.bin"):
        model_args_for(str(ck), base, "cpu", "float32", 1)
    (ck / "adapter_model.safetensors").write_bytes(b"x")
    assert model_args_for(str(ck), base, "cpu", "float32", 1)["peft"] == str(ck)


def test_misspelled_lm_eval_task_named_with_suggestion(tmp_path):
    from lm_eval.tasks import TaskManager

    from selectbench.evaluation.lmeval import _check_task_names

    (tmp_path / "t.yaml").write_text(yaml.safe_dump({
        "task": "my_task", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": "x.jsonl"}},
        "test_split": "test", "output_type": "generate_until", "doc_to_text": "{{q}}", "doc_to_target": "{{a}}",
        "metric_list": [{"metric": "exact_match"}]}))
    tm = TaskManager(include_path=str(tmp_path), include_defaults=False)
    _check_task_names(tm, {"mine": {"lm_eval_task": "my_task"}})
    with pytest.raises(ConfigError, match=r"evaluation.tasks.mine.lm_eval_task: unknown lm-eval task 'my_tsk' "
                                          r"\(did you mean 'my_task'\?\)"):
        _check_task_names(tm, {"mine": {"lm_eval_task": "my_tsk"}})


TASK = {"dataset_path": "json", "dataset_kwargs": {"data_files": {"test": "x.jsonl"}}, "test_split": "test",
        "output_type": "generate_until", "doc_to_text": "{{q}}", "doc_to_target": "{{a}}",
        "metric_list": [{"metric": "exact_match"}]}


def test_unreadable_task_yaml_is_named_with_its_line(tmp_path):
    """lm-eval's task index skips a YAML file it cannot parse (a debug message only): a task
    defined there is 'unknown', and `selectbench validate --tasks` names the file and line."""
    inc = tmp_path / "my_tasks"
    inc.mkdir()
    (inc / "good.yaml").write_text(yaml.safe_dump({"task": "my_good", **TASK}))
    # line 3 is indented under a plain value: not YAML
    (inc / "broken.yaml").write_text("task: my_broken\ndataset_path: json\n  test_split: test\n")
    cfg = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    cfg["evaluation"]["include_path"] = "my_tasks"
    cfg["evaluation"]["tasks"] = {"good": {"lm_eval_task": "my_good", "num_fewshot": 0},
                                  "mine": {"lm_eval_task": "my_broken", "num_fewshot": 0}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    r = subprocess.run([sys.executable, "-m", "selectbench.cli", "validate", "c.yaml", "--tasks"], cwd=tmp_path,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode != 0
    assert "evaluation.tasks.mine.lm_eval_task: unknown lm-eval task 'my_broken'" in r.stderr, r.stderr[-3000:]
    assert f"cannot read: {inc / 'broken.yaml'}:3: mapping values are not allowed in this context" in r.stderr, r.stderr[-3000:]
    # with the broken file's task dropped from the config, the tasks check passes (the file is warned about)
    del cfg["evaluation"]["tasks"]["mine"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "selectbench.cli", "validate", "c.yaml", "--tasks"], cwd=tmp_path,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


# ------------------------------------------------------------------ the workflow: fails before expensive jobs

@pytest.mark.slow
def test_misspelled_task_stops_the_run_before_any_model_job(tmp_path):
    """A real `snakemake` run: the early check_tasks job fails; no model, score or checkpoint."""
    cfg = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    cfg["pools"]["demo"]["rows"] = 50
    cfg["pools"]["demo"]["build"]["params"]["n_rows"] = 50
    cfg["methods"] = {"random": {"selector": "random"}, "longest": cfg["methods"]["longest"]}
    cfg["budgets"], cfg["seeds"] = [10], [0]
    cfg["evaluation"]["tasks"]["arc"] = {"lm_eval_task": "arc_easyy", "num_fewshot": 0}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    r = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(ROOT / "Snakefile"),
                        "--directory", str(tmp_path), "--configfile", "tiny.yaml", "-c1"],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "Error in rule check_tasks" in out
    log = (tmp_path / "logs/tasks/check.log").read_text()
    assert "unknown lm-eval task 'arc_easyy' (did you mean 'arc_easy'?)" in log
    # lm-eval knows ~15,000 task names: the error lists the 20 closest and how to list them all
    line = next(ln for ln in out.splitlines() if "unknown lm-eval task" in ln)
    assert len(line) < 1500 and line.endswith("; list them all with `lm-eval ls tasks`"), line[:3000]
    assert "the closest of " in line and "arc_easy, " in line
    for d in ("results/models", "results/scores", "results/checkpoints", "results/evals", "results/checks"):
        assert not (tmp_path / d).exists(), d


def test_docs_table_names_existing_tests():
    """docs/bad-inputs.md cites tests that exist (`file::name`, `::name` = same file)."""
    import re

    doc = (ROOT / "docs/bad-inputs.md").read_text()
    cited = 0
    for row in doc.splitlines():
        if not row.startswith("|"):
            continue
        current = None
        for file, name in re.findall(r"`(test_\w+\.py)?::(test_\w+)`", row):
            current = file or current
            assert current, row
            assert re.search(rf"^def {name}\(", (ROOT / "tests" / current).read_text(), re.M), f"{current}::{name}"
            cited += 1
    assert cited >= 35
