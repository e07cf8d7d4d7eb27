"""Judged pairwise win rate of a checkpoint against a reference model (AlpacaEval-style).

2410.15225 ("Chasing Random") reported AlpacaEval; 2402.05123 (the survey) reports the
"winning rate" (wins − losses) / N + 1. For one instruction set and one checkpoint:

1. **Generations.** The checkpoint answers every instruction greedily (`max_new_tokens`),
   loaded exactly as the lm-eval job loads it (`lmeval.model_args_for` → lm-eval's `HFLM`:
   base model + LoRA adapter, or a full checkpoint, or the base model alone for the
   `base` row). The prompt is the single user turn ``instruction`` (+ blank line +
   ``input``) in the Tulu format fine-tuning trains on (`prompt_format: tulu`) or through
   the model's own chat template (`chat_template`). The reference's outputs are computed
   once per instruction set (rule `winrate_reference`): a reference model's greedy
   generations the same way, or a field of the instruction file (AlpacaEval ships its
   reference outputs in the dataset).
2. **Judging with position swap.** Every instruction is judged twice, (candidate,
   reference) and (reference, candidate). The pair is a **win** only if both orders
   prefer the candidate, a **loss** only if both prefer the reference, otherwise a
   **tie** (the judge changed its mind with the order, or had no preference). A judge
   that always picks position 1 therefore gives only ties (win rate 0, winning score 1).
   Both per-order preferences are kept in the per-example records, so order bias is
   auditable (`winrate.order` in the JSON sums them up).
   - A **local judge** (a causal LM of `models`) reads the next-token logits of "1" and
     "2" at the answer position (`rating.next_token_logits`, the Alpagasus machinery):
     deterministic, no sampling; equal logits = no preference.
   - An **API judge** (an OpenAI-compatible chat endpoint, `alpagasus.chat_completion`,
     temperature 0) must answer "1" or "2" (also "(1)", "Output (2)", …). Any other reply
     is an error naming the instruction id and the order, unless `unparsable: tie`
     (that order then has no preference; the count is recorded).
3. **Metrics** (all means over instructions of a per-instruction value, so lm-eval's
   `mean_stderr` is their standard error and the paired per-example bootstrap applies):
   `win_rate` = wins/N, `winning_score` = (wins − losses)/N + 1 (per instruction 2, 1, 0),
   `win_rate_ties_half` = (wins + ½·ties)/N (AlpacaEval's count), and `loss_rate`,
   `tie_rate`. The reports assume higher is better for every metric in ``results``, so
   `loss_rate` and `tie_rate` live in the JSON's ``winrate`` block (with their standard
   errors), not in ``results``.

The JSON follows lm-eval's aggregated-results schema (``results``, ``configs``,
``versions``, ``n-shot``, ``higher_is_better``, ``n-samples``, ``config``, …) with the
per-example records under ``samples`` like `lmeval.evaluate`'s, so `analysis.tidy`,
significance, generalization and the verdict read it like any benchmark JSON.
"""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, ScoreError
from ..formatting import SPECIAL_TOKENS, prompt_for
from ..io import atomic_write_text

VERSION = 1
CHOICES = ("1", "2")
METRICS = ("win_rate", "winning_score", "win_rate_ties_half")   # in `results` (higher is better)
EXTRA_METRICS = ("loss_rate", "tie_rate")                      # in the `winrate` block
OUTCOME_VALUES = {  # per-instruction value of each metric for a win (+1), tie (0), loss (-1)
    "win_rate": {1: 1.0, 0: 0.0, -1: 0.0},
    "winning_score": {1: 2.0, 0: 1.0, -1: 0.0},
    "win_rate_ties_half": {1: 1.0, 0: 0.5, -1: 0.0},
    "loss_rate": {1: 0.0, 0: 0.0, -1: 1.0},
    "tie_rate": {1: 0.0, 0: 1.0, -1: 0.0},
}
OUTCOME_NAMES = {1: "win", 0: "tie", -1: "loss"}
PROMPT_FORMATS = ("tulu", "chat_template")
JUDGE_FORMATS = ("auto", "tulu", "chat_template")

JUDGE_SYSTEM = ("You are a careful evaluator of AI assistants. You compare two outputs written for the same "
                "instruction and choose the better one.")
JUDGE_TEMPLATE = (
    "Select the output, (1) or (2), that better follows the instruction below: the more helpful, accurate "
    "and relevant one. Neither the order of the outputs nor their length may influence your choice.\n\n"
    "## Instruction:\n{instruction}\n\n"
    "## Output (1):\n{output_1}\n\n"
    "## Output (2):\n{output_2}\n\n"
    "## Which output is better, (1) or (2)? Answer with the single digit 1 or 2."
)


# ---------------------------------------------------------------------------- instruction sets

def task_name(set_name: str) -> str:
    """The report task name of an instruction set (the JSON's file stem)."""
    return f"winrate_{set_name}"


def user_turn(row: dict) -> str:
    """The instruction as one user turn: instruction, blank line, input (as pools store Alpaca rows)."""
    return row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")


def _text_field(path, row_no, row: dict, key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        what = "missing" if value is None else f"not a string ({type(value).__name__})"
        raise DataError(path, row_no, key, what)
    if required and not value.strip():
        raise DataError(path, row_no, key, "empty")
    return value


def _rows_of(path: Path):
    from ..pools.load import read_file_rows

    if not path.is_file():
        raise DataError(path, None, None, "instruction file not found")
    if not path.name.lower().endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet")):
        raise DataError(path, None, None, "an instruction file is .jsonl, .json or .parquet (a normalized pool)")
    return read_file_rows(path)


def parse_instructions(rows, where, set_name: str, id_field: str | None = "id",
                       reference_field: str | None = None, limit: int | None = None) -> list[dict]:
    """Validated instruction records {id, instruction, input[, reference]} from raw rows.

    A row is {id, instruction[, input]} (JSONL / JSON, AlpacaEval's files) or a normalized
    pool row {id, messages} (instruction = the context before the last assistant turn, the
    `reference_field` "output" = that turn). `id_field: null` numbers the rows
    `<set>-<row>`. Every problem is a DataError naming file, row and field.
    """
    from ..scoring.rating import instruction_and_response

    out, seen = [], {}
    for row_no, row in rows:
        if limit is not None and len(out) >= limit:
            break
        if not isinstance(row, dict):
            raise DataError(where, row_no, None, f"expected an object, got {type(row).__name__}")
        if id_field is None:
            id_ = f"{set_name}-{row_no:04d}"
        else:
            raw = row.get(id_field)
            if isinstance(raw, bool) or not isinstance(raw, (str, int)) or not str(raw).strip():
                raise DataError(where, row_no, id_field, "missing or empty id (set id_field: null to number rows)")
            id_ = str(raw)
        if id_ in seen:
            raise DataError(where, row_no, id_field, f"duplicate id '{id_}' (first at row {seen[id_]})")
        seen[id_] = row_no
        if "messages" in row and "instruction" not in row:
            try:
                instruction, response = instruction_and_response(row["messages"])
            except (ValueError, TypeError, KeyError):
                raise DataError(where, row_no, "messages", f"id '{id_}': no assistant turn") from None
            rec = {"id": id_, "instruction": instruction, "input": ""}
            extra = {"output": response}
        else:
            rec = {"id": id_, "instruction": _text_field(where, row_no, row, "instruction"),
                   "input": _text_field(where, row_no, row, "input", required=False)}
            extra = row
        if reference_field is not None:
            rec["reference"] = _text_field(where, row_no, extra, reference_field)
        out.append(rec)
    if not out:
        raise DataError(where, None, None, "no instructions")
    return out


def read_instructions(path) -> list[dict]:
    """The normalized instruction file a `winrate_instructions` job wrote."""
    path = Path(path)
    rows = []
    for row_no, row in _rows_of(path):
        if not isinstance(row, dict) or "id" not in row or "instruction" not in row:
            raise DataError(path, row_no, None, "not a normalized instruction record {id, instruction, input}")
        rows.append(row)
    return rows


def demo_instructions(seed: int, n_per_task: int) -> list[dict]:
    """Held-out demo instructions (sentiment and category questions never in the demo pool),
    with the gold answer as `output`."""
    from ..demo.data import eval_examples

    rows = []
    for task in ("sentiment", "category"):
        for i, ex in enumerate(eval_examples(task, n_per_task, seed)):
            rows.append({"id": f"{task}-{i:03d}", "instruction": ex.prompt, "input": "", "output": ex.response})
    return rows


def _hub_rows(spec: dict, where: str):
    """Rows of a hub dataset: one file of the dataset repo (`file`, e.g. AlpacaEval's
    alpaca_eval_gpt4_baseline.json) or `datasets.load_dataset(hub, subset, split)`."""
    try:
        if spec.get("file"):
            from huggingface_hub import hf_hub_download

            local = hf_hub_download(spec["hub"], spec["file"], repo_type="dataset", revision=spec.get("revision"))
            return list(_rows_of(Path(local)))
        import datasets

        ds = datasets.load_dataset(spec["hub"], spec.get("subset"), split=spec.get("split") or "train",
                                   revision=spec.get("revision"))
        return list(enumerate(ds, 1))
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - any loading failure is reported with the dataset named
        raise DataError(where, None, None, f"cannot load the instruction set: {type(e).__name__}: {e}") from e


def write_instructions(set_name: str, spec: dict, out_path) -> int:
    """`evaluation.winrate.<set>` → results/winrate/<set>/instructions.jsonl; returns the row count."""
    ins = spec["instructions"]
    ref_field = spec["reference"].get("field")
    if "build" in ins:
        b = ins["build"]
        if b["generator"] != "demo_instructions":
            raise ConfigError(f"evaluation.winrate.{set_name}.instructions.build: unknown instruction-set "
                              f"generator '{b['generator']}'")
        where = f"evaluation.winrate.{set_name}.instructions.build"
        rows = list(enumerate(demo_instructions(**b["params"]), 1))
    elif "hub" in ins:
        where = ins["hub"] + (f"/{ins['file']}" if ins.get("file") else "")
        rows = _hub_rows(ins, where)
    else:
        where = ins["path"]
        rows = _rows_of(Path(ins["path"]))
    recs = parse_instructions(rows, where, set_name, ins.get("id_field", "id"), ref_field, ins.get("limit"))
    atomic_write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in recs), out_path)
    return len(recs)


# ---------------------------------------------------------------------------- generation

def chat_text(tok, messages, fmt: str) -> tuple[str, bool]:
    """(prompt text, add_special_tokens) of `messages` in the Tulu format or the tokenizer's chat template."""
    if fmt == "tulu":
        return prompt_for(messages), True
    if fmt == "chat_template":
        if not getattr(tok, "chat_template", None):
            raise ConfigError(f"{getattr(tok, 'name_or_path', 'the model')}: the tokenizer has no chat template; "
                              "use prompt_format: tulu")
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), False
    raise ConfigError(f"prompt_format must be one of {', '.join(PROMPT_FORMATS)} (got {fmt!r})")


def stop_token_ids(tok, fmt: str) -> list[int]:
    """EOS, plus the Tulu role tags where they are single tokens (a Tulu-trained model ends its
    turn with EOS; a weaker one may run on into the next tag)."""
    ids = [tok.eos_token_id]
    if fmt == "tulu":
        for tag in SPECIAL_TOKENS:
            t = tok.convert_tokens_to_ids(tag)
            if isinstance(t, int) and t != tok.unk_token_id and t not in ids:
                ids.append(t)
    return [i for i in ids if i is not None]


def load_hflm(checkpoint, base: dict, device: str, batch_size: int):
    """The model and tokenizer exactly as the lm-eval job loads them (HFLM, model_args_for)."""
    import torch
    from lm_eval.models.huggingface import HFLM

    from .lmeval import model_args_for

    dtype = "bfloat16" if device == "cuda" and torch.cuda.is_bf16_supported() else "float32"
    args = model_args_for(checkpoint, base, device, dtype, batch_size)
    lm = HFLM(**args, add_bos_token=True)
    return lm, args


def generate_outputs(model, tok, rows: list[dict], fmt: str, max_new_tokens: int, batch_size: int,
                     device: str) -> list[str]:
    """Greedy answers to every instruction (`rating.generate_texts`), stripped."""
    from ..scoring.rating import generate_texts

    enc = []
    for r in rows:
        text, special = chat_text(tok, [{"role": "user", "content": user_turn(r)}], fmt)
        enc.append(list(tok(text, add_special_tokens=special)["input_ids"]))
    texts = generate_texts(model, tok, enc, max_new_tokens, batch_size, device,
                           stop_ids=stop_token_ids(tok, fmt))
    return [t.strip() for t in texts]


def write_reference(set_name: str, spec: dict, instructions_path, model: dict | None, device: str,
                    out_path, threads: int = 1) -> dict:
    """The reference outputs of an instruction set, once: a model's greedy generations or the
    instruction file's reference field. JSONL {id, output}."""
    rows = read_instructions(instructions_path)
    ref = spec["reference"]
    t0 = time.time()
    if ref.get("field"):
        outputs, generator = [r["reference"] for r in rows], f"field:{ref['field']}"
    else:
        from ..modeling import resolve_device, use_threads

        use_threads(threads)
        dev = resolve_device(device)
        lm, args = load_hflm(None, model, dev, spec["batch_size"])
        outputs = generate_outputs(lm.model, lm.tokenizer, rows, ref.get("prompt_format", spec["prompt_format"]),
                                   spec["max_new_tokens"], spec["batch_size"], dev)
        generator = f"model:{ref['model']}"
    text = "".join(json.dumps({"id": r["id"], "output": o, "generator": generator}, ensure_ascii=False,
                              sort_keys=True) + "\n" for r, o in zip(rows, outputs))
    atomic_write_text(text, out_path)
    return {"rows": len(rows), "generator": generator, "seconds": round(time.time() - t0, 3)}


def read_reference(path, rows: list[dict]) -> list[str]:
    """Reference outputs in instruction order; a missing or extra id is a DataError."""
    path = Path(path)
    by_id = {}
    for row_no, rec in _rows_of(path):
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
            raise DataError(path, row_no, "id", "missing")
        by_id[rec["id"]] = _text_field(path, row_no, rec, "output", required=False)
    missing = [r["id"] for r in rows if r["id"] not in by_id]
    if missing:
        raise DataError(path, None, "id", f"no reference output for instruction id '{missing[0]}' "
                                         f"({len(missing)} missing): rerun winrate_reference")
    return [by_id[r["id"]] for r in rows]


# ---------------------------------------------------------------------------- judging

def judge_messages(instruction: str, output_1: str, output_2: str) -> list[dict]:
    """The judge's [system, user] chat for one ordered pair."""
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": JUDGE_TEMPLATE.format(instruction=instruction, output_1=output_1,
                                                             output_2=output_2)}]


def ordered_pairs(rows: list[dict], candidate: list[str], reference: list[str]) -> list[dict]:
    """2N judge inputs: instruction i as (candidate, reference) at 2i, (reference, candidate) at 2i + 1."""
    out = []
    for r, c, ref in zip(rows, candidate, reference):
        inst = user_turn(r)
        out.append({"instruction": inst, "output_1": c, "output_2": ref})
        out.append({"instruction": inst, "output_1": ref, "output_2": c})
    return out


def judge_format(tok, fmt: str) -> str:
    if fmt == "auto":
        return "chat_template" if getattr(tok, "chat_template", None) else "tulu"
    if fmt not in PROMPT_FORMATS:
        raise ConfigError(f"judge.prompt_format must be one of {', '.join(JUDGE_FORMATS)} (got {fmt!r})")
    return fmt


def judge_local(model, tok, pairs: list[dict], fmt: str, batch_size: int, max_length: int, device: str,
                ids: list[str]) -> dict:
    """Position preferred per ordered pair from the next-token logits of "1" and "2".

    Returns {"preferred": int array [2N] (1, 2; 0 = equal logits), "logits": [2N, 2],
    "p_choice": [2N, 2] (softmax over the two), "choice_mass": [2N] (full-softmax
    probability on the two tokens), "truncated": [2N], "tokens": prompt tokens}.
    """
    from ..scoring.rating import check_finite, digit_token_ids, fill_prompts, next_token_logits, softmax

    fmt = judge_format(tok, fmt)
    pair_ids = [f"{i}" for i in ids for _ in range(2)]

    def build(p):
        text, _ = chat_text(tok, judge_messages(p["instruction"], p["output_1"], p["output_2"]), fmt)
        return text

    enc, truncated = fill_prompts(tok, build, pairs, pair_ids, max_length, add_special_tokens=(fmt == "tulu"),
                                  cut=("instruction", "output_1", "output_2"))
    choice_ids = digit_token_ids(tok, CHOICES)
    logits, lognorm = next_token_logits(model, enc, choice_ids, tok.pad_token_id, batch_size, device)
    check_finite(logits, pair_ids, "a judge logit")
    preferred = np.where(logits[:, 0] > logits[:, 1], 1, np.where(logits[:, 1] > logits[:, 0], 2, 0))
    return {"preferred": preferred.astype(int), "logits": logits, "p_choice": softmax(logits),
            "choice_mass": np.exp(logits - lognorm[:, None]).sum(axis=1), "truncated": truncated,
            "tokens": sum(len(e) for e in enc), "prompt_format": fmt}


_CHOICE = re.compile(r"^\W*(?:output\s*)?\(?\s*([12])\s*\)?\W*$", re.I)


def parse_choice(text: str, id_: str, order: str, unparsable: str = "error") -> int:
    """1 or 2 from an API judge's reply ("1", "(2)", "Output (1)."); else 0 under
    `unparsable: tie`, or a ScoreError naming the instruction id and the order."""
    m = _CHOICE.match(text.strip())
    if m:
        return int(m.group(1))
    if unparsable == "tie":
        return 0
    snippet = text.strip().replace("\n", " ")[:80]
    raise ScoreError(f"instruction id '{id_}' ({order}): the judge's reply is not '1' or '2': '{snippet}' "
                     "(set judge.unparsable: tie to count such replies as no preference)")


def judge_api(pairs: list[dict], ids: list[str], judge: dict) -> dict:
    """Position preferred per ordered pair by an OpenAI-compatible endpoint (temperature 0)."""
    from ..scoring.alpagasus import chat_completion, chat_url

    url = chat_url(judge["api_url"])
    key = os.environ.get(judge["api_key_env"]) if judge.get("api_key_env") else None
    orders = ("candidate first", "reference first")

    def ask(j):
        try:
            return chat_completion(url, judge["api_model"], judge_messages(**pairs[j]), key, int(judge["max_tokens"]),
                                   float(judge["api_timeout"]), int(judge["api_retries"]),
                                   float(judge["api_backoff_s"]))
        except RuntimeError as e:
            raise ScoreError(f"instruction id '{ids[j // 2]}' ({orders[j % 2]}): the judge endpoint {url} "
                             f"failed: {e}") from None

    with ThreadPoolExecutor(max_workers=max(1, int(judge["api_workers"]))) as ex:
        replies = list(ex.map(ask, range(len(pairs))))           # results in pair order
    texts = [t for t, _ in replies]
    preferred = np.array([parse_choice(t, ids[j // 2], orders[j % 2], judge["unparsable"])
                          for j, t in enumerate(texts)], dtype=int)
    return {"preferred": preferred, "texts": texts,
            "tokens": sum(int(u.get("total_tokens", 0) or 0) for _, u in replies)}


# ---------------------------------------------------------------------------- metrics

def outcomes(preferred) -> np.ndarray:
    """+1 win / 0 tie / −1 loss per instruction from the 2N positions preferred
    (candidate is position 1 at even indices, position 2 at odd ones)."""
    p = np.asarray(preferred, dtype=int).reshape(-1, 2)
    cand_first, cand_second = p[:, 0], p[:, 1]
    win = (cand_first == 1) & (cand_second == 2)
    loss = (cand_first == 2) & (cand_second == 1)
    return win.astype(int) - loss.astype(int)


def metric_values(outcome) -> dict[str, np.ndarray]:
    """Per-instruction value of every metric (their means are the metrics)."""
    o = np.asarray(outcome, dtype=int)
    return {m: np.array([OUTCOME_VALUES[m][int(v)] for v in o], dtype=float) for m in (*METRICS, *EXTRA_METRICS)}


def stderr(values) -> float | str:
    """lm-eval's `mean_stderr` (sample standard deviation / √N); "N/A" below two items, as lm-eval writes."""
    from lm_eval.api.metrics import mean_stderr

    v = list(map(float, values))
    return float(mean_stderr(v)) if len(v) > 1 else "N/A"


def summarize(outcome, preferred) -> dict:
    """{metric: value}, {metric: stderr}, counts and the order-bias audit."""
    o = np.asarray(outcome, dtype=int)
    vals = metric_values(o)
    p = np.asarray(preferred, dtype=int).reshape(-1, 2)
    n = len(o)
    judged = p.size
    order = {
        "position_1_preferred": float((p == 1).sum() / judged),
        "position_2_preferred": float((p == 2).sum() / judged),
        "no_preference": float((p == 0).sum() / judged),
        "candidate_preferred_when_first": float((p[:, 0] == 1).mean()),
        "candidate_preferred_when_second": float((p[:, 1] == 2).mean()),
        "consistent_pairs": float(((p[:, 0] == 1) & (p[:, 1] == 2) | (p[:, 0] == 2) & (p[:, 1] == 1)).mean()),
    }
    return {
        "values": {m: float(v.mean()) for m, v in vals.items()},
        "stderr": {m: stderr(v) for m, v in vals.items()},
        "counts": {"n": n, "wins": int((o == 1).sum()), "ties": int((o == 0).sum()), "losses": int((o == -1).sum())},
        "order": order,
    }


# ---------------------------------------------------------------------------- the JSON

def result_record(task: str, set_name: str, spec: dict, rows, candidate, reference, judged: dict,
                  model_args: dict, judge_desc: dict, wall_s: float) -> dict:
    """lm-eval's aggregated-results schema + selectbench's keys + per-example `samples`."""
    import hashlib

    import lm_eval

    pref = np.asarray(judged["preferred"], dtype=int)
    out = outcomes(pref)
    s = summarize(out, pref)
    vals = metric_values(out)
    results = {"alias": task}
    for m in METRICS:
        results[f"{m},none"] = s["values"][m]
        results[f"{m}_stderr,none"] = s["stderr"][m]
    samples = []
    for i, r in enumerate(rows):
        rec = {
            "doc_id": i, "id": r["id"], "filter": "none", "metrics": list(METRICS),
            "outcome": OUTCOME_NAMES[int(out[i])],
            "preferred": {"candidate_first": int(pref[2 * i]), "reference_first": int(pref[2 * i + 1])},
            "output": candidate[i], "reference_output": reference[i],
            "doc_hash": hashlib.sha256(user_turn(r).encode()).hexdigest(),
        }
        rec.update({m: float(vals[m][i]) for m in (*METRICS, *EXTRA_METRICS)})
        if "p_choice" in judged:
            rec["p_candidate"] = {"candidate_first": float(judged["p_choice"][2 * i, 0]),
                                  "reference_first": float(judged["p_choice"][2 * i + 1, 1])}
            rec["choice_mass"] = [float(judged["choice_mass"][2 * i]), float(judged["choice_mass"][2 * i + 1])]
            rec["truncated"] = bool(judged["truncated"][2 * i] or judged["truncated"][2 * i + 1])
        if "texts" in judged:
            rec["judge_replies"] = [judged["texts"][2 * i], judged["texts"][2 * i + 1]]
        samples.append(rec)
    n = len(rows)
    task_config = {"task": task, "output_type": "pairwise_judged", "instruction_set": set_name,
                   "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in METRICS],
                   "winrate": spec, "judge": judge_desc}
    model_name = model_args.get("peft") or model_args.get("pretrained")
    return {
        "results": {task: results},
        "groups": {},
        "group_subtasks": {task: []},
        "configs": {task: task_config},
        "versions": {task: VERSION},
        "n-shot": {task: 0},
        "higher_is_better": {task: {m: True for m in METRICS}},
        "n-samples": {task: {"original": n, "effective": n}},
        "config": {"model": "hf", "model_args": ",".join(f"{k}={v}" for k, v in model_args.items()),
                   "batch_size": spec["batch_size"], "device": model_args.get("device"),
                   "gen_kwargs": {"do_sample": False, "max_new_tokens": spec["max_new_tokens"]},
                   "random_seed": None, "bootstrap_iters": 0},
        "task_hashes": {task: hashlib.sha256("".join(x["doc_hash"] for x in samples).encode()).hexdigest()},
        "model_source": "hf",
        "model_name": str(model_name),
        "model_name_sanitized": re.sub(r"[^\w.-]", "__", str(model_name)),
        "date": time.time(),
        "total_evaluation_time_seconds": str(round(wall_s, 3)),
        "lm_eval_version": getattr(lm_eval, "__version__", None),
        # selectbench's keys (as lmeval.evaluate writes them)
        "task": task,
        "model_args": model_args,
        "wall_s": round(wall_s, 3),
        "winrate": {**s, "metrics_in_results": list(METRICS), "judge": judge_desc,
                    "rule": "win: both orders prefer the candidate; loss: both prefer the reference; "
                            "otherwise tie"},
        "samples": {task: samples},
    }


def judge_description(judge: dict, judge_model: dict | None) -> dict:
    if judge.get("model"):
        return {"kind": "local", "model": judge["model"], "name_or_path": judge_model["name_or_path"],
                "revision": judge_model.get("revision"), "decision": "next-token logits of '1' vs '2'"}
    return {"kind": "api", "api_url": judge["api_url"], "api_model": judge["api_model"],
            "unparsable": judge["unparsable"]}


def evaluate_winrate(checkpoint, base: dict, set_name: str, spec: dict, instructions_path, reference_path,
                     judge_model: dict | None, device: str, out_path, threads: int = 1) -> dict:
    """Generate with the checkpoint (or the base model), judge both orders, write the JSON."""
    import gc

    import torch

    from ..modeling import load_causal_lm, load_tokenizer, resolve_device, resolve_dtype, use_threads, ModelRef

    t0 = time.time()
    use_threads(threads)
    dev = resolve_device(device)
    task = task_name(set_name)
    rows = read_instructions(instructions_path)
    reference = read_reference(reference_path, rows)
    lm, model_args = load_hflm(checkpoint, base, dev, spec["batch_size"])
    candidate = generate_outputs(lm.model, lm.tokenizer, rows, spec["prompt_format"], spec["max_new_tokens"],
                                 spec["batch_size"], dev)
    del lm
    gc.collect()
    if dev == "cuda":
        torch.cuda.empty_cache()
    pairs = ordered_pairs(rows, candidate, reference)
    ids = [r["id"] for r in rows]
    judge = spec["judge"]
    desc = judge_description(judge, judge_model)
    if judge.get("model"):
        ref = ModelRef(judge_model["name_or_path"], judge_model.get("revision"))
        tok = load_tokenizer(ref)
        model = load_causal_lm(ref, dev, resolve_dtype(judge["precision"], dev))
        judged = judge_local(model, tok, pairs, judge["prompt_format"], judge["batch_size"], judge["max_length"],
                             dev, ids)
        desc["prompt_format"] = judged["prompt_format"]
    else:
        if not judge.get("api_url"):
            raise ConfigError(f"evaluation.winrate.{set_name}.judge: give `model` or `api_url`")
        judged = judge_api(pairs, ids, judge)
        desc["unparsed_replies"] = int((np.asarray(judged["preferred"]) == 0).sum())
    desc["judge_tokens"] = int(judged["tokens"])
    record = result_record(task, set_name, spec, rows, candidate, reference, judged, model_args, desc,
                           time.time() - t0)
    atomic_write_text(json.dumps(record, sort_keys=True, indent=1, ensure_ascii=False) + "\n", out_path)
    return record
