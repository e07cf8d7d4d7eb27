"""Tests of selectbench.pools: raw pool formats → one normalized, audited schema."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selectbench.errors import ConfigError, DataError
from selectbench.pools import FORMATS, normalize_pool, pool_stats, read_pool, write_pool
from selectbench.pools import load as pool_load
from selectbench.pools.stats import approx_tokens

SHARED_POOLS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pools"


# --------------------------------------------------------------------------- helpers


def write_jsonl(path: Path, rows) -> Path:
    """Write `rows` (dicts, or raw str lines) as JSONL; .gz paths are gzipped."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def one_source(path: Path, fmt: str, rows: int, **extra) -> dict:
    """A pool config with one source named 'src' reading `path`."""
    return {"rows": rows, "sources": [{"name": "src", "path": path.name, "format": fmt, **extra}]}


def load_rows(tmp_path: Path, fmt: str, rows, expected: int | None = None, name="data.jsonl", **extra):
    """Normalize `rows` written to tmp_path/name in format `fmt`."""
    path = write_jsonl(tmp_path / name, rows)
    n = len(rows) if expected is None else expected
    return normalize_pool("p", one_source(path, fmt, n, **extra), tmp_path)


def user_assistant(prompt: str, response: str) -> list[dict]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def assert_names(exc: pytest.ExceptionInfo, file: str, row: int | None, field: str | None):
    """The error names the file, the row (as 'file:row') and the field."""
    msg = str(exc.value)
    assert file in msg, msg
    if row is not None:
        assert f"{file}:{row}" in msg, msg
    if field is not None:
        assert f"'{field}'" in msg, msg


# --------------------------------------------------------------------------- formats


def test_formats_tuple():
    assert FORMATS == (
        "alpaca", "prompt_completion", "question_answer", "sharegpt", "messages", "instances", "dolly", "wildchat", "auto",
    )


def test_wildchat_conversation_field(tmp_path):
    rows = [{"conversation_hash": "h", "conversation": [
        {"role": "user", "content": "Hi", "language": "English", "turn_identifier": 1},
        {"role": "assistant", "content": "Hello!", "language": "English", "turn_identifier": 1}]}]
    df = load_rows(tmp_path, "wildchat", rows)
    assert df["messages"].tolist() == [user_assistant("Hi", "Hello!")]
    assert load_rows(tmp_path, "auto", rows, name="auto.jsonl")["messages"].tolist() == df["messages"].tolist()


def test_dolly_with_and_without_context(tmp_path):
    rows = [{"instruction": "Summarize.", "context": "A long text.", "response": "Short.", "category": "summarization"},
            {"instruction": "Name a color.", "context": "", "response": "Red."}]
    df = load_rows(tmp_path, "dolly", rows)
    assert df["messages"].tolist() == [user_assistant("Summarize.\n\nA long text.", "Short."),
                                       user_assistant("Name a color.", "Red.")]
    assert load_rows(tmp_path, "auto", rows, name="auto.jsonl")["messages"].tolist() == df["messages"].tolist()
    with pytest.raises(DataError) as exc:
        load_rows(tmp_path, "dolly", [{"instruction": "x", "context": ""}], name="bad.jsonl")
    assert_names(exc, "bad.jsonl", 1, "response")


def test_alpaca_with_and_without_input(tmp_path):
    rows = [
        {"instruction": "Add.", "input": "2 + 2", "output": "4"},
        {"instruction": "Say hi.", "input": "", "output": "hi"},
        {"instruction": "Say yo.", "output": "yo"},
        {"instruction": "Say ok.", "input": None, "output": "ok"},
        {"instruction": " Keep  spaces ", "input": "  \n", "output": " verbatim\n"},
    ]
    df = load_rows(tmp_path, "alpaca", rows)
    assert list(df.columns) == ["id", "source", "messages", "origin"]
    assert df["messages"].tolist() == [
        user_assistant("Add.\n\n2 + 2", "4"),
        user_assistant("Say hi.", "hi"),
        user_assistant("Say yo.", "yo"),
        user_assistant("Say ok.", "ok"),
        user_assistant(" Keep  spaces ", " verbatim\n"),
    ]
    assert df["id"].tolist() == [f"src-{i}" for i in range(5)]
    assert set(df["source"]) == {"src"}
    assert df["origin"].tolist() == [f"data.jsonl:{i}" for i in range(1, 6)]


def test_prompt_completion_and_question_answer(tmp_path):
    pc = load_rows(tmp_path, "prompt_completion", [{"prompt": "P?", "completion": "C."}], name="pc.jsonl")
    qa = load_rows(tmp_path, "question_answer", [{"question": "Q?", "answer": "A."}], name="qa.jsonl")
    assert pc["messages"][0] == user_assistant("P?", "C.")
    assert qa["messages"][0] == user_assistant("Q?", "A.")


def test_sharegpt_multi_turn_and_role_names(tmp_path):
    conv = [
        {"from": "system", "value": "Be brief."},
        {"from": "human", "value": "Hi"},
        {"from": "gpt", "value": "Hello", "weight": None},
        {"from": "user", "value": "And?"},
        {"from": "chatgpt", "value": "1"},
        {"from": "user", "value": "More"},
        {"from": "bing", "value": "2"},
        {"from": "user", "value": "More"},
        {"from": "bard", "value": "3"},
        {"from": "user", "value": "Last"},
        {"from": "assistant", "value": "4"},
    ]
    df = load_rows(tmp_path, "sharegpt", [{"conversations": conv}])
    roles = [m["role"] for m in df["messages"][0]]
    assert roles == ["system", "user", "assistant"] + ["user", "assistant"] * 4
    assert [m["content"] for m in df["messages"][0]] == [t["value"] for t in conv]


def test_messages_multi_turn(tmp_path):
    msgs = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "u2"},
        {"role": "assistant", "content": "a2"},
    ]
    df = load_rows(tmp_path, "messages", [{"messages": msgs}])
    assert df["messages"][0] == msgs


def test_instances_one_row_per_instance(tmp_path):
    rows = [
        {"id": "seed_task_0", "name": "n", "instruction": "Do X.", "is_classification": False,
         "instances": [{"input": "", "output": "done"}, {"input": "with this", "output": "done too"}]},
        {"id": "seed_task_1", "name": "m", "instruction": "Do Y.", "instances": [{"output": "y"}]},
    ]
    df = load_rows(tmp_path, "instances", rows, expected=3, id_field="id")
    assert df["id"].tolist() == ["seed_task_0-0", "seed_task_0-1", "seed_task_1-0"]
    assert df["messages"].tolist() == [
        user_assistant("Do X.", "done"),
        user_assistant("Do X.\n\nwith this", "done too"),
        user_assistant("Do Y.", "y"),
    ]
    assert df["origin"].tolist() == ["data.jsonl:1", "data.jsonl:1", "data.jsonl:2"]
    default_ids = load_rows(tmp_path, "instances", rows, expected=3, name="d.jsonl")
    assert default_ids["id"].tolist() == ["src-0-0", "src-0-1", "src-1-0"]


def test_auto_detects_each_format(tmp_path):
    rows = [
        {"messages": user_assistant("m", "M")},
        {"conversations": [{"from": "human", "value": "s"}, {"from": "gpt", "value": "S"}]},
        {"instruction": "i", "instances": [{"input": "x", "output": "I"}]},
        {"instruction": "a", "input": "", "output": "A"},
        {"prompt": "p", "completion": "P"},
        {"question": "q", "answer": "Q"},
    ]
    df = load_rows(tmp_path, "auto", rows)
    assert df["messages"].tolist() == [
        user_assistant("m", "M"), user_assistant("s", "S"), user_assistant("i\n\nx", "I"),
        user_assistant("a", "A"), user_assistant("p", "P"), user_assistant("q", "Q"),
    ]
    assert df["id"].tolist()[2] == "src-2-0"


def test_id_source_and_label_fields(tmp_path):
    rows = [
        {"id": "a", "task": "t1", "prompt": "p", "completion": "c", "defect": "none", "score": 1},
        {"id": 7, "task": "t2", "prompt": "p", "completion": "c", "defect": "typo", "score": None},
    ]
    df = load_rows(tmp_path, "prompt_completion", rows, id_field="id", source_field="task",
                   label_columns=["defect", "score"])
    assert list(df.columns) == ["id", "source", "messages", "origin", "defect", "score"]
    assert df["id"].tolist() == ["a", "7"]
    assert df["source"].tolist() == ["t1", "t2"]
    assert df["defect"].tolist() == ["none", "typo"]
    assert df["score"].tolist()[0] == 1 and pd.isna(df["score"].tolist()[1])


def test_sources_in_config_order_and_blank_lines(tmp_path):
    write_jsonl(tmp_path / "b.jsonl", [{"question": "q1", "answer": "a1"}, "", "  ", {"question": "q2", "answer": "a2"}])
    write_jsonl(tmp_path / "a.jsonl", [{"prompt": "p", "completion": "c"}])
    cfg = {"rows": 3, "sources": [
        {"name": "b", "path": "b.jsonl", "format": "question_answer"},
        {"name": "a", "path": "a.jsonl", "format": "prompt_completion"},
    ]}
    df = normalize_pool("p", cfg, tmp_path)
    assert df["id"].tolist() == ["b-0", "b-1", "a-0"]
    assert df["origin"].tolist() == ["b.jsonl:1", "b.jsonl:4", "a.jsonl:1"]


# --------------------------------------------------------------------------- file kinds


def test_json_array_and_data_object(tmp_path):
    rows = [{"prompt": "p1", "completion": "c1"}, {"prompt": "p2", "completion": "c2"}]
    (tmp_path / "list.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    (tmp_path / "obj.json").write_text(json.dumps({"data": rows}), encoding="utf-8")
    for name in ("list.json", "obj.json"):
        df = normalize_pool("p", one_source(tmp_path / name, "prompt_completion", 2), tmp_path)
        assert df["messages"].tolist() == [user_assistant("p1", "c1"), user_assistant("p2", "c2")]
        assert df["origin"].tolist() == [f"{name}:1", f"{name}:2"]


def test_gzipped_jsonl_and_json(tmp_path):
    rows = [{"question": "q", "answer": "a"}]
    df = load_rows(tmp_path, "question_answer", rows, name="data.jsonl.gz")
    assert df["messages"][0] == user_assistant("q", "a")
    (tmp_path / "d.json.gz").write_bytes(gzip.compress(json.dumps(rows).encode()))
    df = normalize_pool("p", one_source(tmp_path / "d.json.gz", "question_answer", 1), tmp_path)
    assert df["messages"][0] == user_assistant("q", "a")


def test_parquet_input_with_nested_messages(tmp_path):
    table = pa.Table.from_pylist([
        {"messages": user_assistant("u", "a"), "defect": "none"},
        {"messages": user_assistant("u2", "a2"), "defect": "dup"},
    ])
    pq.write_table(table, tmp_path / "in.parquet")
    df = normalize_pool("p", one_source(tmp_path / "in.parquet", "messages", 2, label_columns=["defect"]), tmp_path)
    assert df["messages"].tolist() == [user_assistant("u", "a"), user_assistant("u2", "a2")]
    assert df["defect"].tolist() == ["none", "dup"]
    assert df["origin"].tolist() == ["in.parquet:1", "in.parquet:2"]


def test_hub_branch_loads_local_dataset_dir(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    hub_dir = tmp_path / "hubdata"
    hub_dir.mkdir()
    conv = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]
    write_jsonl(hub_dir / "train.jsonl", [{"conversations": conv}, {"conversations": conv[:1]}])
    cfg = {"rows": 1, "sources": [{"name": "hub", "hub": str(hub_dir), "split": "train", "format": "sharegpt"}]}
    with pytest.raises(DataError) as exc:
        normalize_pool("p", cfg, tmp_path)
    assert_names(exc, "hubdata@default[train]", 2, "conversations")
    write_jsonl(hub_dir / "train.jsonl", [{"conversations": conv}])
    df = normalize_pool("p", cfg, tmp_path)
    assert df["messages"][0] == user_assistant("hi", "hello")
    assert df["origin"][0] == f"hf:{hub_dir}@default[train]:1"


# --------------------------------------------------------------------------- row errors


ROW_ERRORS = [
    # (format, bad row, field named, message fragment)
    ("alpaca", {"instruction": "i", "output": ""}, "output", "empty"),
    ("alpaca", {"instruction": "i", "output": "   \n"}, "output", "empty"),
    ("alpaca", {"output": "o"}, "instruction", "missing"),
    ("alpaca", {"instruction": "i", "input": 3, "output": "o"}, "input", "expected a string"),
    ("prompt_completion", {"prompt": "p", "completion": ["c"]}, "completion", "got list"),
    ("prompt_completion", {"prompt": None, "completion": "c"}, "prompt", "got null"),
    ("question_answer", {"question": "q"}, "answer", "missing"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
                                    {"from": "robot", "value": "c"}]}, "conversations[2].from", "unknown role"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": 5}]},
     "conversations[1].value", "got int"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "a"}, {"value": "b"}]}, "conversations[1].from", "missing"),
    ("sharegpt", {"conversations": "hi"}, "conversations", "expected a list"),
    ("sharegpt", {"conversations": [{"from": "gpt", "value": "b"}]}, "conversations", "no user"),
    ("messages", {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": " "}]},
     "messages[1].content", "empty"),
    ("messages", {"messages": [{"role": "human", "content": "u"}, {"role": "assistant", "content": "a"}]},
     "messages[0].role", "unknown role"),
    ("messages", {"messages": user_assistant("u", "a") + [{"role": "user", "content": "u2"}]},
     "messages", "last message"),
    ("messages", {"messages": [{"role": "user", "content": "u"}]}, "messages", "no assistant"),
    ("messages", {"messages": []}, "messages", "no messages"),
    ("messages", {"messages": ["hi"]}, "messages[0]", "expected an object"),
    ("instances", {"instruction": "i", "instances": []}, "instances", "empty list"),
    ("instances", {"instruction": "i", "instances": [{"input": "x", "output": "o"}, {"input": "y"}]},
     "instances[1].output", "missing"),
    ("instances", {"instances": [{"output": "o"}]}, "instruction", "missing"),
]


@pytest.mark.parametrize("fmt,bad,field,fragment", ROW_ERRORS)
def test_bad_row_names_file_row_and_field(tmp_path, fmt, bad, field, fragment):
    good = {
        "alpaca": {"instruction": "i", "output": "o"},
        "prompt_completion": {"prompt": "p", "completion": "c"},
        "question_answer": {"question": "q", "answer": "a"},
        "sharegpt": {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]},
        "messages": {"messages": user_assistant("u", "a")},
        "instances": {"instruction": "i", "instances": [{"output": "o"}]},
    }[fmt]
    with pytest.raises(DataError) as exc:
        load_rows(tmp_path, fmt, [good, good, bad], name="bad.jsonl")
    assert_names(exc, "bad.jsonl", 3, field)
    assert fragment in str(exc.value)


def test_auto_unknown_format_names_keys(tmp_path):
    with pytest.raises(DataError) as exc:
        load_rows(tmp_path, "auto", [{"prompt": "p", "completion": "c"}, {"text": "t", "label": 1}], name="x.jsonl")
    assert_names(exc, "x.jsonl", 2, None)
    assert "unknown format" in str(exc.value) and "['label', 'text']" in str(exc.value)


def test_non_object_row(tmp_path):
    with pytest.raises(DataError) as exc:
        load_rows(tmp_path, "auto", ['["a", "b"]'], name="x.jsonl")
    assert_names(exc, "x.jsonl", 1, None)
    assert "expected an object, got list" in str(exc.value)


def test_invalid_json_line(tmp_path):
    with pytest.raises(DataError) as exc:
        load_rows(tmp_path, "prompt_completion", [{"prompt": "p", "completion": "c"}, '{"prompt": "p",'], name="j.jsonl")
    assert_names(exc, "j.jsonl", 2, None)
    assert "invalid JSON" in str(exc.value)


def test_non_utf8_bytes_name_the_line(tmp_path):
    good = json.dumps({"prompt": "p", "completion": "c"}).encode()
    (tmp_path / "u.jsonl").write_bytes(good + b"\n" + good + b"\n" + b'{"prompt": "caf\xe9", "completion": "c"}\n')
    with pytest.raises(DataError) as exc:
        normalize_pool("p", one_source(tmp_path / "u.jsonl", "prompt_completion", 3), tmp_path)
    assert_names(exc, "u.jsonl", 3, None)
    assert "invalid UTF-8" in str(exc.value)


def test_json_file_errors(tmp_path):
    (tmp_path / "bad.json").write_text('[\n {"prompt": "p", "completion": "c"},\n {"prompt": }\n]', encoding="utf-8")
    with pytest.raises(DataError) as exc:
        normalize_pool("p", one_source(tmp_path / "bad.json", "prompt_completion", 2), tmp_path)
    assert "bad.json" in str(exc.value) and "invalid JSON at line 3" in str(exc.value)

    (tmp_path / "enc.json").write_bytes(b'[\n{"prompt": "p", "completion": "c"},\n{"prompt": "\xff", "completion": "c"}]')
    with pytest.raises(DataError) as exc:
        normalize_pool("p", one_source(tmp_path / "enc.json", "prompt_completion", 2), tmp_path)
    assert "enc.json" in str(exc.value) and "invalid UTF-8 at line 3" in str(exc.value)

    rows = [{"prompt": "p", "completion": "c"}, {"prompt": "p", "completion": ""}]
    (tmp_path / "el.json").write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(DataError) as exc:
        normalize_pool("p", one_source(tmp_path / "el.json", "prompt_completion", 2), tmp_path)
    assert_names(exc, "el.json", 2, "completion")

    (tmp_path / "scalar.json").write_text('{"rows": []}', encoding="utf-8")
    with pytest.raises(DataError, match="scalar.json.*expected a JSON list"):
        normalize_pool("p", one_source(tmp_path / "scalar.json", "prompt_completion", 0), tmp_path)


def test_parquet_bad_row_and_bad_file(tmp_path):
    pq.write_table(pa.Table.from_pylist([{"question": "q", "answer": "a"}, {"question": "q", "answer": None}]),
                   tmp_path / "in.parquet")
    with pytest.raises(DataError) as exc:
        normalize_pool("p", one_source(tmp_path / "in.parquet", "question_answer", 2), tmp_path)
    assert_names(exc, "in.parquet", 2, "answer")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="junk.parquet.*cannot read Parquet"):
        normalize_pool("p", one_source(tmp_path / "junk.parquet", "question_answer", 0), tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.jsonl.*file not found"):
        normalize_pool("p", one_source(tmp_path / "nope.jsonl", "auto", 0), tmp_path)


def test_id_source_and_label_errors(tmp_path):
    rows = [{"id": "a", "prompt": "p", "completion": "c", "s": "x", "lab": 1},
            {"prompt": "p", "completion": "c", "s": "x", "lab": 1}]
    with pytest.raises(DataError) as exc:
        load_rows(tmp_path, "prompt_completion", rows, id_field="id", name="i.jsonl")
    assert_names(exc, "i.jsonl", 2, "id")
    rows[1]["id"] = "  "
    with pytest.raises(DataError, match="empty id"):
        load_rows(tmp_path, "prompt_completion", rows, id_field="id", name="i.jsonl")
    rows[1]["id"], rows[1]["s"] = "b", ""
    with pytest.raises(DataError) as exc:
        load_rows(tmp_path, "prompt_completion", rows, source_field="s", name="s.jsonl")
    assert_names(exc, "s.jsonl", 2, "s")
    del rows[0]["lab"]
    with pytest.raises(DataError) as exc:
        load_rows(tmp_path, "prompt_completion", rows, label_columns=["lab"], name="l.jsonl")
    assert_names(exc, "l.jsonl", 1, "lab")


def test_duplicate_ids_name_both_places(tmp_path):
    rows = [{"id": "x", "prompt": "p", "completion": "c"}, {"id": "y", "prompt": "p", "completion": "c"},
            {"id": "x", "prompt": "p", "completion": "c"}]
    with pytest.raises(DataError) as exc:
        load_rows(tmp_path, "prompt_completion", rows, id_field="id", name="d.jsonl")
    assert_names(exc, "d.jsonl", 3, "id")
    assert "duplicate id 'x' (first at d.jsonl:1)" in str(exc.value)

    write_jsonl(tmp_path / "a.jsonl", rows[1:2])
    write_jsonl(tmp_path / "b.jsonl", rows[:2])
    cfg = {"rows": 3, "sources": [
        {"name": "a", "path": "a.jsonl", "format": "auto", "id_field": "id"},
        {"name": "b", "path": "b.jsonl", "format": "auto", "id_field": "id"},
    ]}
    with pytest.raises(DataError) as exc:
        normalize_pool("p", cfg, tmp_path)
    assert_names(exc, "b.jsonl", 2, "id")
    assert "duplicate id 'y' (first at a.jsonl:1)" in str(exc.value)


def test_row_count_mismatch_names_actual_count(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_rows(tmp_path, "question_answer", [{"question": "q", "answer": "a"}] * 3, expected=5)
    assert "rows: 5" in str(exc.value) and "hold 3 rows" in str(exc.value)


# --------------------------------------------------------------------------- config errors


@pytest.mark.parametrize("change,fragment", [
    ({"format": "csv"}, "'format' must be one of"),
    ({"hub": "org/ds", "split": "train"}, "exactly one of 'path' and 'hub'"),
    ({"path": "data.csv"}, "unsupported file type"),
    ({"id_feild": "id"}, "unknown keys ['id_feild']"),
    ({"label_columns": ["id"]}, "label_columns"),
    ({"label_columns": "defect"}, "label_columns"),
    ({"name": ""}, "'name' must be a non-empty string"),
])
def test_bad_source_config(tmp_path, change, fragment):
    cfg = {"rows": 1, "sources": [{"name": "src", "path": "data.jsonl", "format": "auto", **change}]}
    with pytest.raises(ConfigError, match="pool 'p'") as exc:
        normalize_pool("p", cfg, tmp_path)
    assert fragment in str(exc.value)


@pytest.mark.parametrize("cfg,fragment", [
    ({"sources": [{"name": "s", "path": "a.jsonl", "format": "auto"}]}, "'rows'"),
    ({"rows": 1, "sources": []}, "'sources'"),
    ({"rows": 1, "sources": [{"name": "s", "hub": "org/ds", "format": "auto"}]}, "'split'"),
    ({"rows": 1, "sources": [{"name": "s", "path": "a.jsonl", "format": "auto"},
                             {"name": "s", "path": "b.jsonl", "format": "auto"}]}, "repeat"),
    ({"rows": 1, "sources": [{"name": "s", "path": "a.jsonl", "format": "auto", "label_columns": ["d"]},
                             {"name": "t", "path": "b.jsonl", "format": "auto"}]}, "same 'label_columns'"),
])
def test_bad_pool_config(tmp_path, cfg, fragment):
    with pytest.raises(ConfigError) as exc:
        normalize_pool("p", cfg, tmp_path)
    assert fragment in str(exc.value)


# --------------------------------------------------------------------------- parquet, stats


@pytest.fixture
def small_pool(tmp_path) -> pd.DataFrame:
    rows = [
        {"id": "r1", "messages": [{"role": "system", "content": "Sé breve."}] + user_assistant("¿Hola?", "Hola, ¿qué tal?"),
         "defect": "none"},
        {"id": "r2", "messages": user_assistant("2+2=?", "4") + user_assistant("and 3+3", "6"), "defect": "typo"},
        {"id": "r3", "messages": user_assistant("x", "y"), "defect": "none"},
    ]
    return load_rows(tmp_path, "messages", rows, id_field="id", label_columns=["defect"], name="small.jsonl")


def test_parquet_round_trip(tmp_path, small_pool):
    write_pool(small_pool, tmp_path / "out" / "pool.parquet", tmp_path / "out" / "stats.json")
    back = read_pool(tmp_path / "out" / "pool.parquet")
    assert list(back.columns) == ["id", "source", "messages", "origin", "defect"]
    assert back.to_dict("records") == small_pool.to_dict("records")
    assert all(isinstance(m, list) and all(type(t) is dict for t in m) for m in back["messages"])
    schema = pq.read_schema(tmp_path / "out" / "pool.parquet")
    assert schema.field("messages").type == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    stats_text = (tmp_path / "out" / "stats.json").read_text(encoding="utf-8")
    assert json.loads(stats_text) == pool_stats(small_pool) == pool_stats(back)
    assert stats_text == json.dumps(pool_stats(back), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pool.parquet", "stats.json"]


def test_pool_stats_values(small_pool):
    stats = pool_stats(small_pool)
    assert stats["rows"] == 3
    assert stats["rows_per_source"] == {"src": 3}
    assert stats["turns"] == {"0": 2.0, "0.05": 2.1, "0.25": 2.5, "0.5": 3.0, "0.75": 3.5, "0.95": 3.9, "1": 4.0}
    assert stats["labels"] == {"defect": {"none": 2, "typo": 1}}
    # "¿Hola?" → ¿ Hola ? ; "Sé breve." → Sé breve .
    assert approx_tokens("¿Hola?") == 3 and approx_tokens("Sé breve.") == 3
    assert stats["approx_tokens"]["prompt"]["0"] == 1.0
    assert stats["approx_tokens"]["prompt"]["1"] == 9.0  # "2+2=?" (5) + "and 3+3" (4)
    assert stats["approx_tokens"]["response"]["1"] == 6.0  # "Hola, ¿qué tal?"
    assert set(stats["approx_tokens"]) == {"prompt", "response", "total"}


def test_pool_sha256_is_canonical_and_deterministic(tmp_path, small_pool):
    lines = "".join(
        json.dumps({"id": i, "source": s, "messages": m}, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
        for i, s, m in zip(small_pool["id"], small_pool["source"], small_pool["messages"])
    )
    expected = hashlib.sha256(lines.encode("utf-8")).hexdigest()
    assert pool_stats(small_pool)["pool_sha256"] == expected
    # origin and labels do not enter the hash; content and order do
    changed = small_pool.assign(origin="elsewhere:1", defect="x")
    assert pool_stats(changed)["pool_sha256"] == expected
    assert pool_stats(small_pool.iloc[::-1])["pool_sha256"] != expected
    edited = small_pool.copy()
    edited.at[2, "messages"] = user_assistant("x", "z")
    assert pool_stats(edited)["pool_sha256"] != expected


@pytest.mark.parametrize("fail_at", ["stats", "second_replace"])
def test_write_pool_leaves_nothing_on_failure(tmp_path, small_pool, monkeypatch, fail_at):
    out = tmp_path / "out"
    if fail_at == "stats":
        def boom(df):
            raise RuntimeError("boom")
        monkeypatch.setattr(pool_load, "pool_stats", boom)
    else:
        import selectbench.io as sio

        real_replace, calls = sio.os.replace, []

        def flaky_replace(src, dst):
            calls.append(dst)
            if len(calls) == 2:
                raise OSError("disk full")
            real_replace(src, dst)
        monkeypatch.setattr(sio.os, "replace", flaky_replace)
    with pytest.raises((RuntimeError, OSError)):
        write_pool(small_pool, out / "pool.parquet", out / "stats.json")
    assert not out.exists() or list(out.iterdir()) == []


# --------------------------------------------------------------------------- real data


@pytest.fixture
def shared_pools() -> Path:
    if not SHARED_POOLS.is_dir():
        pytest.skip(f"shared pool data not found at {SHARED_POOLS}; realism test needs ../shared/datasets/pools")
    return SHARED_POOLS


def test_real_pools_normalize(shared_pools, tmp_path):
    cfg = {"rows": 7473 + 175, "sources": [
        {"name": "gsm8k", "path": "gsm8k-train.jsonl.gz", "format": "question_answer"},
        {"name": "self_instruct", "path": "self-instruct-seed-tasks.jsonl", "format": "instances", "id_field": "id"},
    ]}
    df = normalize_pool("real", cfg, shared_pools)
    assert df["id"].iloc[0] == "gsm8k-0" and df["id"].iloc[-1] == "seed_task_174-0"
    assert df["origin"].iloc[-1] == "self-instruct-seed-tasks.jsonl:175"
    write_pool(df, tmp_path / "real.parquet", tmp_path / "real.json")
    back = read_pool(tmp_path / "real.parquet")
    stats = pool_stats(back)
    assert stats["rows_per_source"] == {"gsm8k": 7473, "self_instruct": 175}
    assert stats["pool_sha256"] == pool_stats(df)["pool_sha256"]


def test_real_t0_pool_has_empty_completions(shared_pools):
    # The T0 sample holds 1400 rows (lines 44938-46337, the seven trec_* templates)
    # whose completion is "": the loader must refuse them, not drop them.
    cfg = {"rows": 55185, "sources": [{"name": "t0", "path": "t0-train-50k.jsonl.gz", "format": "prompt_completion",
                                       "source_field": "source", "id_field": "id"}]}
    with pytest.raises(DataError) as exc:
        normalize_pool("t0", cfg, shared_pools)
    assert_names(exc, "t0-train-50k.jsonl.gz", 44938, "completion")
    assert "empty string" in str(exc.value)
