"""The fixed-length FLOPs model of 2503.01807 and `selectbench cost estimate`.

N parameters, L tokens per example, x selected rows, y pool rows, E epochs:

- training on a subset: 6·N·L·x·E (forward + backward, 6 FLOPs per parameter per token);
- a forward-only scorer (perplexity, RDS, raters): 2·N·L·y per model pass over the pool
  (IFD makes two passes: with and without the prompt);
- an embedding scorer: 2·N_emb·L·y with the embedder's own parameter count;
- LESS: its warm-up training 6·N·L·(fraction·y)·E_w plus one forward+backward per pool
  row per warm-up checkpoint, 6·N·L·y·E_w (one checkpoint per warm-up epoch);
- IFD with a pre-experienced model: the pre-experienced training
  6·N·L·(clusters·per_cluster)·E_pre and the embedding pass it clusters, plus its passes;
- DiverseEvol: each round r ≥ 1 trains on the subset so far and embeds the pool;
- random / balanced / full / length / random scores: the training alone.

A term of a job shared by several units (a score file read by every budget and seed, a
warm-up, a pre-experienced model, a round shared by base models and presets) is listed in
full on each unit (`selection_flops`) and divided over them (`selection_flops_amortized`:
summed over units it is the config's real total).

Selector compute (k-center, k-means, ZIP compression) has no FLOPs term here: it is
measured (the select job's benchmark), see `selectbench.analysis.cost`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import ConfigError

NO_FLOP_SCORERS = frozenset({"length", "random", "alpagasus_api"})
PASSES = {"ifd": 2}   # model passes over the pool per scorer (default 1)
ESTIMATE_COLUMNS = ["pool", "base_model", "preset", "method", "budget", "seed", "examples", "epochs",
                    "n_params", "tokens_per_row", "tokens_per_row_from", "selection_flops", "finetune_flops",
                    "total_flops", "full_data_flops", "selection_detail"]


def train_flops(n: float, L: float, x: float, epochs: float) -> float:
    """6·N·L·x·E."""
    return 6.0 * n * L * x * epochs


def forward_flops(n: float, L: float, y: float, passes: int = 1) -> float:
    """2·N·L·y per pass."""
    return 2.0 * n * L * y * passes


def tiny_llama_params(p: dict) -> int:
    """Parameters of the demo's tied-embedding Llama from its build params (vocab_size is the
    tokenizer's target size: the trained BPE may be smaller, so this is an upper bound)."""
    v, h, layers = int(p.get("vocab_size", 4096)), int(p.get("hidden_size", 128)), int(p.get("num_layers", 2))
    inter = int(p.get("intermediate_size") or 4 * h)
    per_layer = 4 * h * h + 3 * h * inter + 2 * h      # q,k,v,o + gate,up,down + two RMSNorms
    return v * h + layers * per_layer + h              # tied embeddings + final norm


def model_params(models: dict, name: str) -> int:
    """Declared (`params_b`) or derived parameter count of a config model; a clear error otherwise."""
    m = models.get(name)
    if m is None:
        raise ConfigError(f"models: no model '{name}' (needed for the cost estimate)")
    if m.get("params_b"):
        return int(round(float(m["params_b"]) * 1e9))
    b = m.get("build")
    if b and b["generator"] == "tiny_llama":
        return tiny_llama_params(b["params"])
    if b and b["generator"] == "pre_experienced":
        return model_params(models, b["params"]["base_model"])
    raise ConfigError(f"models.{name}: declare 'params_b' (parameter count in billions) for the cost estimate")


def tokens_per_row(pool: str, stats_path, fallback: float | None) -> tuple[float, str]:
    """Mean tokens per row of a pool: its stats.json (approximate, model-independent tokens:
    `approx_tokens_mean.total`; a stats.json written before that key existed: the median of
    `approx_tokens.total`), else `fallback`."""
    path = Path(stats_path)
    if path.exists():
        with open(path) as fh:
            stats = json.load(fh)
        mean = (stats.get("approx_tokens_mean") or {}).get("total")
        if mean is not None:
            return float(mean), f"{path} (mean)"
        total = stats.get("approx_tokens", {}).get("total", {})
        if total.get("0.5") is not None:
            return float(total["0.5"]), f"{path} (median)"
    if fallback is None:
        raise ConfigError(f"pool '{pool}': no {path} (the pool is not normalized yet) and no "
                          "--tokens-per-row given; pass --tokens-per-row N")
    return float(fallback), "--tokens-per-row"


@dataclass(frozen=True)
class Term:
    what: str
    flops: float
    key: tuple = ()     # the job that spends it (shared by every unit whose terms carry the same key)


def scorer_terms(exp, scorer: str, score_model: str, pool: str, L: float, y: float,
                 scorer_params: dict) -> list[Term]:
    """FLOPs terms of one score file (pool × scorer × scorer model)."""
    from ..config import NO_MODEL
    from ..scoring import model_param_names

    if scorer in NO_FLOP_SCORERS:
        return []
    models = exp.models
    terms = []
    if scorer == "less":
        warm = _warmup_of(exp, scorer_params)
        n = model_params(models, warm["base_model"] if warm else score_model)
        if warm:
            e = float(warm["preset"]["epochs"])
            wkey = ("warmup", pool, str(scorer_params.get("warmup_dir_file")))
            terms.append(Term("less warm-up", train_flops(n, L, round(warm["fraction"] * y), e), wkey))
            terms.append(Term("less gradients", train_flops(n, L, y, e), ("score", pool, scorer, score_model)))
        else:
            raise ConfigError(f"scoring.less.warmup_dir_file: no warm-up of the config matches "
                              f"{scorer_params.get('warmup_dir_file')!r}")
        return terms
    names = [] if score_model == NO_MODEL else [score_model]
    names += model_param_names(scorer_params)
    for name in dict.fromkeys(names):
        terms += _pre_experienced_terms(exp, name, L, y)
        terms.append(Term(f"{scorer} pass ({name})",
                          forward_flops(model_params(models, name), L, y, PASSES.get(scorer, 1)),
                          ("score", pool, scorer, score_model)))
    return terms


def _warmup_of(exp, params: dict) -> dict | None:
    path = str(params.get("warmup_dir_file") or "")
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return exp.raw.get("warmups", {}).get(name)


def _pre_experienced_terms(exp, name: str, L: float, y: float) -> list[Term]:
    b = exp.models.get(name, {}).get("build")
    if not b or b["generator"] != "pre_experienced":
        return []
    p = b["params"]
    n = model_params(exp.models, p["base_model"])
    emb = p["embedding"]
    emb_model = emb.get("scorer_model")
    out = [Term(f"pre-experienced training ({name})",
                train_flops(n, L, int(p["clusters"]) * int(p["per_cluster"]), float(p["preset"]["epochs"])),
                ("model", name))]
    if emb_model and emb["scorer"] not in NO_FLOP_SCORERS:
        out.append(Term(f"pre-experienced embedding ({emb_model})", forward_flops(model_params(exp.models, emb_model), L, y),
                        ("score", p["pool"], emb["scorer"], emb_model)))
    return out


def round_terms(exp, method, L: float, x: int, y: float, key: tuple = ()) -> list[Term]:
    """DiverseEvol: round r ≥ 1 trains on the subset so far and embeds the whole pool."""
    from ..training.rounds import round_sizes

    p = method.params
    n = model_params(exp.models, p["base_model"])
    sizes = round_sizes(x, int(p.get("rounds", 3)))
    e = float(p["preset"]["epochs"])
    terms = []
    for r in range(1, len(sizes)):
        terms.append(Term(f"round {r} training", train_flops(n, L, sum(sizes[:r]), e), key + (r,)))
        terms.append(Term(f"round {r} embedding", forward_flops(n, L, y), key + (r, "embed")))
    return terms


def estimate(exp, stats_dir="results/pools", tokens_per_row_fallback: float | None = None,
             gpu_flops: float | None = None, strict: bool = True) -> pd.DataFrame:
    """Modelled FLOPs of every fine-tuned unit of a config (nothing needs to have run).
    `strict=False` (the report rule): a unit whose model sizes are unknown gets empty FLOPs and
    a `note` saying which `params_b` to declare, instead of an error."""
    from ..config import ALL

    rows = []
    for pool in exp.pools:
        y = float(exp.pools[pool]["rows"])
        L, L_from = tokens_per_row(pool, Path(stats_dir) / pool / "stats.json", tokens_per_row_fallback)
        score_cache: dict = {}
        for pool_, bm, preset, method, budget, seed in exp.finetune_units():
            if pool_ != pool:
                continue
            m = exp.methods[method]
            x = y if budget == ALL else float(budget)
            key = dict(pool=pool, base_model=bm, preset=preset, method=method, budget=budget, seed=seed,
                       examples=int(x), epochs=float(exp.presets[preset]["epochs"]), tokens_per_row=L,
                       tokens_per_row_from=L_from)
            try:
                terms = []
                for sc, sm in m.score_files():
                    if (sc, sm) not in score_cache:
                        score_cache[(sc, sm)] = scorer_terms(exp, sc, sm, pool, L, y, _scorer_params(exp, sc, pool))
                    terms += score_cache[(sc, sm)]
                if m.selector == "diverse_evol":
                    terms += round_terms(exp, m, L, int(x), y, ("round", pool, method, budget, seed))
                n = model_params(exp.models, bm)
            except ConfigError as err:
                if strict:
                    raise
                rows.append(dict(key, note=str(err), _terms=[]))   # the report still renders; the row says why
                continue
            e = key["epochs"]
            sel = sum(t.flops for t in terms)
            ft = train_flops(n, L, x, e)
            rows.append(dict(key, n_params=n, selection_flops=sel, finetune_flops=ft, total_flops=sel + ft,
                             full_data_flops=train_flops(n, L, y, e),
                             selection_detail="; ".join(f"{t.what}={t.flops:.3g}" for t in terms), _terms=terms,
                             note=""))
    share: dict = {}
    for r in rows:
        for key in {t.key for t in r["_terms"]}:
            share[key] = share.get(key, 0) + 1
    for r in rows:
        terms = r.pop("_terms")
        if "selection_flops" in r:
            r["selection_flops_amortized"] = sum(t.flops / share[t.key] for t in terms)
            r["total_flops_amortized"] = r["selection_flops_amortized"] + r["finetune_flops"]
    df = pd.DataFrame(rows, columns=ESTIMATE_COLUMNS + ["selection_flops_amortized", "total_flops_amortized", "note"])
    if gpu_flops is not None:
        if gpu_flops <= 0:
            raise ValueError(f"--gpu-flops must be > 0 (sustained FLOP/s per GPU), got {gpu_flops}")
        for c in ("selection", "finetune", "total", "total_flops_amortized"):
            name = c if c.endswith("amortized") else f"{c}_flops"
            df[f"{c.replace('_flops', '')}_gpu_hours"] = df[name] / gpu_flops / 3600.0
        df["gpu_flops_per_s"] = gpu_flops
    return df


def _scorer_params(exp, scorer: str, pool: str) -> dict:
    from ..scoring import SCORERS

    params = SCORERS.get(scorer).resolved_params(exp.scoring.get(scorer, {}))
    return {k: v.format(pool=pool) if k.endswith("_file") and isinstance(v, str) else v for k, v in params.items()}


def write_modelled_table(config: dict, cost_csv, gpu_flops: float, out_path,
                         stats_dir="results/pools") -> pd.DataFrame:
    """The fixed-length model of every unit of `config` beside the FLOPs counted from the tokens
    the jobs processed (cost.csv): `*_flops_tokens` and the ratio model ÷ tokens."""
    from ..config import check_config
    from ..io import atomic_write_text

    model = estimate(check_config(config), stats_dir, None, gpu_flops, strict=False)
    keys = ["pool", "base_model", "preset", "method", "budget", "seed"]
    tok = pd.read_csv(cost_csv, dtype={"budget": str, "seed": str})
    missing = [c for c in keys + ["selection_flops", "finetune_flops", "total_flops"] if c not in tok.columns]
    if missing:
        raise ValueError(f"{cost_csv}: missing column(s) {', '.join(missing)}")
    tok = tok[keys + ["selection_flops", "finetune_flops", "total_flops"]].rename(
        columns={c: f"{c}_tokens" for c in ("selection_flops", "finetune_flops", "total_flops")})
    model["budget"], model["seed"] = model["budget"].astype(str), model["seed"].astype(str)
    out = model.merge(tok, on=keys, how="left")
    out["total_model_over_tokens"] = out["total_flops"] / out["total_flops_tokens"]
    atomic_write_text(out.to_csv(index=False), out_path)
    return out
