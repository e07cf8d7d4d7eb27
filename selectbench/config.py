"""Experiment configuration: schema validation, cross-checks, typed view.

`check_config(dict) -> Experiment` is called by the Snakefile at parse time and
by `selectbench validate`. Every error names the offending key and, where a
name is unknown, suggests the closest known one.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError
from .registry import REQUIRED, did_you_mean, unknown

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"

# Generators that build inputs inside the workflow (the demo), with their parameters.
# (pool generators are a registry that plug-ins extend: builders.POOL_GENERATORS)
GENERATORS = {
    "model": {"tiny_llama": {"vocab_size", "hidden_size", "num_layers", "num_heads",
                             "intermediate_size", "max_position", "pretrain_docs",
                             "pretrain_steps", "batch_size", "seq_len", "lr", "seed"},
              "pre_experienced": {"base_model", "pool", "embedding", "clusters", "per_cluster",
                                  "preset", "seed", "sampling", "low_pct", "high_pct", "batch_size",
                                  "max_length"}},
    "tasks": {"demo_tasks": {"seed", "n_per_task"}},
    "queries": {"demo_queries": {"seed", "n_per_task", "per_task"},
                "lm_eval_fewshot": {"tasks", "include_path"}},
    "instructions": {"demo_instructions": {"seed", "n_per_task"}},
}
PRE_EXPERIENCED_REQUIRED = {"base_model", "pool", "embedding", "clusters", "per_cluster", "preset", "seed"}
NO_MODEL = "none"   # scorer_model wildcard value of scorers that need no model
ALL = "all"         # budget wildcard value of methods that take the whole pool


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    """The config schema (read once; callers must not mutate it)."""
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that rejects a key given twice in one mapping (PyYAML keeps the last)."""


def _strict_mapping(loader: _StrictLoader, node, deep: bool = False):
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: PyYAML reports it itself
            continue
        if first is not None:
            raise ConfigError(
                f"{loader.name}:{key_node.start_mark.line + 1}: duplicated key '{key}' "
                f"(first at line {first}); YAML would silently keep only the last one")
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def load_yaml_strict(path) -> Any:
    """Parse a YAML (or JSON) config file; a duplicated key is a ConfigError naming file and line."""
    with open(path, encoding="utf-8-sig") as fh:
        text = fh.read()
    loader = _StrictLoader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    finally:
        loader.dispose()


def _typed(value: Any) -> Any:
    """A `--config` structure with its string leaves parsed as YAML scalars ('0' → 0)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return parsed if isinstance(parsed, (int, float, bool, type(None), str)) else value
    return value


def type_cli_config(config: dict, cli) -> dict:
    """Give `--config key=value` structures their YAML types, in place.

    Snakemake parses a `--config` value with int/float/bool and then YAML's BaseLoader,
    which keeps every nested value a string (`seeds=[0]` → ['0']). Lists and mappings
    given on the command line are re-typed here; top-level scalars already are.
    """
    for key, value in dict(cli or {}).items():
        if isinstance(value, (list, dict)) and key in config:
            if isinstance(value, dict) and isinstance(config[key], dict):
                for sub in value:
                    if sub in config[key]:
                        config[key][sub] = _typed(config[key][sub]) if isinstance(value[sub], (str, list, dict)) else config[key][sub]
            else:
                config[key] = _typed(config[key])
    return config


def _resolve(schema: dict, defs: dict) -> dict:
    """`schema` with a `$ref` replaced by its definition (keys beside the `$ref` win)."""
    if "$ref" not in schema:
        return schema
    target = defs[schema["$ref"].split("/")[-1]]
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}


def apply_defaults(obj: Any, schema: dict | None = None, defs: dict | None = None) -> Any:
    """Fill the schema's `default`s into `obj` in place (at every depth) and return it."""
    if schema is None:
        schema = load_schema()
        defs = schema.get("$defs", {})
    schema = _resolve(schema, defs)
    if not isinstance(obj, dict):
        if isinstance(obj, list) and isinstance(schema.get("items"), dict):
            for item in obj:
                apply_defaults(item, schema["items"], defs)
        return obj
    props = schema.get("properties", {})
    for key, sub in props.items():
        sub_r = _resolve(sub, defs)
        if key not in obj and "default" in sub_r:
            obj[key] = copy.deepcopy(sub_r["default"])
        if key in obj:
            apply_defaults(obj[key], sub, defs)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in obj:
            if key not in props:
                apply_defaults(obj[key], extra, defs)
    return obj


def canonical(value: Any) -> Any:
    """`value` in the one form a rule's params take, whatever way the config was written.

    Snakemake decides a rerun by comparing the `repr` of each param with the one it recorded,
    so a mapping's key order, an OrderedDict (Snakemake reads a JSON config into those), a
    tuple for a list, or `3.0` for `3` would rerun jobs whose inputs are the same. Mappings
    become plain dicts with sorted keys, tuples lists, and a whole-number float an int. List
    order is kept: it carries meaning (budgets, task lists, sources). The values are copies,
    so YAML anchors no longer share one object.
    """
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value, key=lambda k: (type(k).__name__, str(k)))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def canonicalize_config(config: dict) -> dict:
    """Replace `config`'s contents, in place, by their canonical form (see `canonical`)."""
    canon = canonical(config)
    config.clear()
    config.update(canon)
    return config


@dataclass(frozen=True)
class Method:
    name: str
    selector: str
    scorer: str | None = None
    scorer_model: str | None = None
    params: dict = field(default_factory=dict)
    embedding: tuple[str, str] | None = None   # (scorer, scorer_model or NO_MODEL)

    @property
    def score_model(self) -> str:
        return self.scorer_model or NO_MODEL

    def score_files(self) -> list[tuple[str, str]]:
        """(scorer, scorer_model) of every score file the selection reads."""
        out = [(self.scorer, self.score_model)] if self.scorer else []
        return out + ([self.embedding] if self.embedding and self.embedding not in out else [])


@dataclass(frozen=True)
class Experiment:
    raw: dict
    name: str
    pools: dict
    models: dict
    methods: dict[str, Method]
    budgets: tuple[int, ...]
    seeds: tuple[int, ...]
    base_models: tuple[str, ...]
    presets: dict
    tasks: dict
    scoring: dict

    def budgets_of(self, method: str) -> tuple[str, ...]:
        from .selection import SELECTORS

        spec = SELECTORS.get(self.methods[method].selector)
        return (ALL,) if not spec.uses_budget else tuple(str(b) for b in self.budgets)

    @property
    def selected_pools(self) -> list[str]:
        """Pools the methods select from (a pool with `select: false` only feeds derived pools)."""
        return [p for p, spec in self.pools.items() if spec.get("select", True)]

    def selection_units(self):
        """(pool, method, budget, seed) for every selected-index file."""
        return [(p, m, b, s) for p in self.selected_pools for m in self.methods
                for b in self.budgets_of(m) for s in self.seeds]

    def score_units(self):
        """(pool, scorer, scorer_model) for every score file."""
        return sorted({(p, sc, sm) for p in self.selected_pools
                       for m in self.methods.values() for sc, sm in m.score_files()})

    def finetune_units(self):
        """(pool, base_model, preset, method, budget, seed) for every checkpoint."""
        return [(p, bm, pr, m, b, s) for (p, m, b, s) in self.selection_units()
                for bm in self.base_models for pr in self.presets]


def _check_keys(obj: Any, schema: dict, defs: dict, where: str) -> None:
    """Unknown keys anywhere the schema closes a mapping, with a suggestion."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].split("/")[-1]]
    if not isinstance(obj, dict):
        if isinstance(obj, list) and isinstance(schema.get("items"), dict):
            for i, item in enumerate(obj):
                _check_keys(item, schema["items"], defs, f"{where}[{i}]")
        return
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, value in obj.items():
        if key in props:
            _check_keys(value, props[key], defs, f"{where}.{key}" if where else key)
        elif extra is False:
            raise ConfigError(
                f"unknown key '{key}' in {where or 'the config'}{did_you_mean(key, props)}; "
                f"allowed: {', '.join(sorted(props))}")
        elif isinstance(extra, dict):
            _check_keys(value, extra, defs, f"{where}.{key}" if where else key)


_YAML11_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+")


def _number_hint(error) -> str:
    """Why a number came out a string: YAML 1.1 (PyYAML, Snakemake) reads `1e-2` as text."""
    value = error.instance
    if error.validator == "type" and isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
        mantissa, exp = re.split("[eE]", value.strip())
        fixed = f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exp}"
        return f" (YAML reads an exponent without a decimal point as text: write {fixed})"
    return ""


def _schema_errors(config: dict, schema: dict) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}{_number_hint(e)}"
                 for e in errors[:10]]
        raise ConfigError("config does not match schemas/config.schema.yaml:\n" + "\n".join(lines))


def _check_params(kind: str, name: str, given: dict, allowed, where: str, origin=None) -> None:
    """Every given parameter is declared; every declared one without a default
    (`registry.REQUIRED`) is given. `origin`: where the implementation lives (plug-ins)."""
    from_ = f" ({origin})" if origin is not None and not origin.builtin else ""
    for key in given:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown parameter '{key}' for {kind} '{name}'{from_}"
                              f"{did_you_mean(key, allowed)}; allowed: {', '.join(sorted(allowed)) or '(none)'}")
    if isinstance(allowed, dict):
        missing = sorted(k for k, v in allowed.items() if v is REQUIRED and k not in given)
        if missing:
            raise ConfigError(f"{where}: {kind} '{name}'{from_} needs parameter"
                              f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} (declared without a default)")


def generators(kind: str) -> dict:
    """Generator name → its parameters, for one kind of `build:` (pool generators from their
    registry, plug-ins included)."""
    if kind == "pool":
        from .builders import POOL_GENERATORS

        return {n: POOL_GENERATORS.get(n).params for n in POOL_GENERATORS}
    return GENERATORS[kind]


def _check_build(kind: str, build: dict | None, where: str) -> None:
    if build is None:
        return
    gens = generators(kind)
    if build["generator"] not in gens:
        raise ConfigError(f"{where}.build: {unknown(f'{kind} generator', build['generator'], gens)}")
    origin = None
    if kind == "pool":
        from .builders import POOL_GENERATORS

        origin = POOL_GENERATORS.origin(build["generator"])
    _check_params("generator", build["generator"], build["params"], gens[build["generator"]], f"{where}.build",
                  origin)


def _check_preset(preset: dict, where: str) -> None:
    lora_keys = {"lora_r", "lora_alpha", "lora_dropout", "target_modules"}
    if preset["peft"] == "lora" and not lora_keys <= preset.keys():
        raise ConfigError(f"{where}: a LoRA preset needs {', '.join(sorted(lora_keys - preset.keys()))}")
    if preset["peft"] == "full" and lora_keys & preset.keys():
        raise ConfigError(f"{where}: full fine-tuning takes no {', '.join(sorted(lora_keys & preset.keys()))}")


def _check_preset_dict(preset, where: str) -> None:
    """An inline preset (in method or generator params) against the schema's preset."""
    schema = load_schema()
    if not isinstance(preset, dict):
        raise ConfigError(f"{where}: a preset is a mapping")
    _check_keys(preset, schema["$defs"]["preset"], schema["$defs"], where)
    errors = list(jsonschema.Draft202012Validator(schema["$defs"]["preset"]).iter_errors(preset))
    if errors:
        raise ConfigError(f"{where}: {errors[0].message}")
    _check_preset(preset, where)


def _check_derived(name: str, pools: dict) -> None:
    """A derived pool names existing, non-circular parents; its declared rows fit the subsample."""
    where = f"pools.{name}.derive"
    d = pools[name]["derive"]
    parents = [d["from"]] if isinstance(d["from"], str) else list(d["from"])
    for parent in parents:
        if parent not in pools or parent == name:
            raise ConfigError(f"{where}.from: {unknown('pool', parent, set(pools) - {name})}")
    seen, stack = {name}, list(parents)
    while stack:
        p = stack.pop()
        if p == name:
            raise ConfigError(f"{where}.from: pool '{name}' derives from itself (through {', '.join(parents)})")
        if p in seen or "derive" not in pools.get(p, {}):
            continue
        seen.add(p)
        nxt = pools[p]["derive"]["from"]
        stack.extend([nxt] if isinstance(nxt, str) else nxt)
    sub = d.get("subsample")
    want = sum(sub.values()) if isinstance(sub, dict) else sub
    if want is not None and want != pools[name]["rows"]:
        raise ConfigError(f"pools.{name}.rows: declared {pools[name]['rows']}, but derive.subsample gives {want}")
    if isinstance(sub, int) and d.get("sources") is None:
        parent_rows = sum(pools[p]["rows"] for p in parents)
        if sub > parent_rows:
            raise ConfigError(f"{where}.subsample: {sub} rows from {parent_rows} declared parent rows")


def _one_of(obj: dict, keys: tuple, where: str) -> str:
    given = [k for k in keys if k in obj]
    if len(given) != 1:
        raise ConfigError(f"{where}: give exactly one of {', '.join(keys)} (got {', '.join(given) or 'none'})")
    return given[0]


def _check_winrate(name: str, spec: dict, tasks: dict, models: dict) -> None:
    """One `evaluation.winrate` instruction set: its source, reference and judge."""
    where = f"evaluation.winrate.{name}"
    task = f"winrate_{name}"
    if task in tasks:
        raise ConfigError(f"{where}: its report task '{task}' is also a key of evaluation.tasks; rename one")
    ins = spec["instructions"]
    kind = _one_of(ins, ("path", "hub", "build"), f"{where}.instructions")
    hub_only = [k for k in ("file", "subset", "split", "revision") if k in ins]
    if hub_only and kind != "hub":
        raise ConfigError(f"{where}.instructions: {', '.join(hub_only)} only with hub")
    if "file" in ins and ({"subset", "split"} & ins.keys()):
        raise ConfigError(f"{where}.instructions: file (one file of the repository) or subset/split "
                          "(datasets.load_dataset), not both")
    _check_build("instructions", ins.get("build"), f"{where}.instructions")
    ref = spec["reference"]
    if _one_of(ref, ("model", "field"), f"{where}.reference") == "model" and ref["model"] not in models:
        raise ConfigError(f"{where}.reference.model: {unknown('model', ref['model'], models)}")
    if "field" in ref and "prompt_format" in ref:
        raise ConfigError(f"{where}.reference: prompt_format applies to a reference model, not a field")
    judge = spec["judge"]
    if _one_of(judge, ("model", "api_url"), f"{where}.judge") == "model":
        if judge["model"] not in models:
            raise ConfigError(f"{where}.judge.model: {unknown('model', judge['model'], models)}")
        api = [k for k in ("api_model", "max_tokens", "unparsable", "api_workers", "api_timeout", "api_retries",
                           "api_backoff_s") if k in judge and judge[k] != _winrate_judge_default(k)]
        if api:
            raise ConfigError(f"{where}.judge: {', '.join(api)} apply to an API judge (api_url), not a local model")


def _winrate_judge_default(key: str):
    props = load_schema()["properties"]["evaluation"]["properties"]["winrate"]["additionalProperties"]
    return props["properties"]["judge"]["properties"][key].get("default")


def check_config(config: dict) -> Experiment:
    """Validate a config dict at parse time and return the typed experiment."""
    from .scoring import SCORERS
    from .selection import SELECTORS

    schema = load_schema()
    _check_keys(config, schema, schema.get("$defs", {}), "")
    _schema_errors(config, schema)
    apply_defaults(config, schema, schema.get("$defs", {}))
    _schema_errors(config, schema)  # the defaults themselves must validate
    # from here on every mapping is key-sorted: no job, list or param depends on how the
    # config was written (key order, JSON or YAML, 3 or 3.0)
    canonicalize_config(config)
    from .plugins import load as load_plugins

    load_plugins(config["plugins"])   # before any name is looked up (paths: relative to the working dir)

    models = config["models"]
    for name, m in models.items():
        _check_build("model", m.get("build"), f"models.{name}")
        b = m.get("build")
        if b and b["generator"] == "pre_experienced":
            p, where = b["params"], f"models.{name}.build.params"
            missing = PRE_EXPERIENCED_REQUIRED - p.keys()
            if missing:
                raise ConfigError(f"{where}: missing {', '.join(sorted(missing))}")
            if p["base_model"] not in models or p["base_model"] == name:
                raise ConfigError(f"{where}.base_model: {unknown('model', str(p['base_model']), set(models) - {name})}")
            if p["pool"] not in config["pools"]:
                raise ConfigError(f"{where}.pool: {unknown('pool', str(p['pool']), config['pools'])}")
            _check_preset_dict(p["preset"], f"{where}.preset")
            if p.get("sampling", "percentile") not in ("percentile", "uniform"):
                raise ConfigError(f"{where}.sampling: 'percentile' (Cherry's data_by_cluster.py) or 'uniform' "
                                  f"(got {p['sampling']!r})")
    for name, p in config["pools"].items():
        _check_build("pool", p.get("build"), f"pools.{name}")
        if "derive" in p:
            _check_derived(name, config["pools"])
        first: dict = {}
        for i, src in enumerate(p.get("sources", [])):
            ref = (os.path.normpath(src["path"]) if "path" in src
                   else (src.get("hub"), src.get("revision"), src.get("split")))
            if ref in first:
                raise ConfigError(f"pools.{name}.sources[{i}]: reads the same "
                                  f"{'file' if 'path' in src else 'dataset'} as sources[{first[ref]}] "
                                  f"({src.get('path') or src.get('hub')}): its rows would be in the pool twice; "
                                  "list it once")
            first[ref] = i
            if p.get("build") and "path" in src and not src["path"].startswith(f"results/raw/{name}/"):
                raise ConfigError(f"pools.{name}.sources[{i}].path: a built pool's files live under "
                                  f"results/raw/{name}/ (got '{src['path']}')")
    _check_build("tasks", config["evaluation"].get("local_tasks"), "evaluation")
    for name, q in config["query_sets"].items():
        _check_build("queries", q.get("build"), f"query_sets.{name}")

    from .scoring import model_param_names

    for sname, params in config["scoring"].items():
        spec = SCORERS.get(sname, "scoring")
        _check_params("scorer", sname, params, spec.params, f"scoring.{sname}", SCORERS.origin(sname))
        for mname in model_param_names(params):
            if mname not in models:
                raise ConfigError(f"scoring.{sname}: {unknown('model', mname, models)}")

    methods = {}
    for name, m in config["methods"].items():
        where = f"methods.{name}"
        sel = SELECTORS.get(m["selector"], f"{where}.selector")
        _check_params("selector", m["selector"], m.get("params", {}), sel.params, where + ".params",
                      SELECTORS.origin(m["selector"]))
        for key, value in m.get("params", {}).items():
            if key.endswith("_model") and value not in models:
                raise ConfigError(f"{where}.params.{key}: {unknown('model', str(value), models)}")
            if key == "preset":
                _check_preset_dict(value, f"{where}.params.preset")
        scorer = m.get("scorer")
        if sel.needs_scores and not scorer:
            raise ConfigError(f"{where}: selector '{m['selector']}' ranks by score; give a 'scorer'")
        if scorer and not sel.needs_scores:
            raise ConfigError(f"{where}: selector '{m['selector']}' ignores scores; remove 'scorer: {scorer}'")
        if scorer:
            spec = SCORERS.get(scorer, f"{where}.scorer")
            smodel = m.get("scorer_model")
            if spec.needs_model and not smodel:
                raise ConfigError(f"{where}: scorer '{scorer}' needs a 'scorer_model' (one of: {', '.join(models)})")
            if not spec.needs_model and smodel:
                raise ConfigError(f"{where}: scorer '{scorer}' uses no model; remove 'scorer_model'")
            if smodel and smodel not in models:
                raise ConfigError(f"{where}.scorer_model: {unknown('model', smodel, models)}")
        elif m.get("scorer_model"):
            raise ConfigError(f"{where}: 'scorer_model' without a 'scorer'")
        if m["selector"] == "mods":
            if scorer != "reward":
                raise ConfigError(f"{where}: selector 'mods' filters by a reward model; use 'scorer: reward'")
            for key in ("base_model", "preset"):
                if key not in m.get("params", {}):
                    raise ConfigError(f"{where}.params: selector 'mods' needs '{key}' (the seed model's training)")
        emb = m.get("embedding")
        if sel.needs_embeddings and not emb:
            raise ConfigError(f"{where}: selector '{m['selector']}' needs an 'embedding: {{scorer, scorer_model}}'")
        if emb and not sel.needs_embeddings:
            raise ConfigError(f"{where}: selector '{m['selector']}' uses no embeddings; remove 'embedding'")
        if emb:
            espec = SCORERS.get(emb["scorer"], f"{where}.embedding.scorer")
            if not espec.embeds:
                raise ConfigError(f"{where}.embedding: scorer '{emb['scorer']}' writes no embeddings")
            if espec.needs_model and emb.get("scorer_model") not in models:
                raise ConfigError(f"{where}.embedding.scorer_model: "
                                  f"{unknown('model', str(emb.get('scorer_model')), models)}")
            emb = (emb["scorer"], emb.get("scorer_model") or NO_MODEL)
        methods[name] = Method(name, m["selector"], scorer, m.get("scorer_model"), dict(m.get("params", {})),
                               emb)

    for bm in config["finetune"]["base_models"]:
        if bm not in models:
            raise ConfigError(f"finetune.base_models: {unknown('model', bm, models)}")
    for pname, preset in config["finetune"]["presets"].items():
        _check_preset(preset, f"finetune.presets.{pname}")
    for wname, w in config["warmups"].items():
        where = f"warmups.{wname}"
        _check_preset(w["preset"], f"{where}.preset")
        if w["preset"]["peft"] != "lora" or float(w["preset"]["epochs"]) != int(w["preset"]["epochs"]):
            raise ConfigError(f"{where}.preset: a warm-up is LoRA with a whole number of epochs "
                              "(one checkpoint per epoch)")
        if w["base_model"] not in models:
            raise ConfigError(f"{where}.base_model: {unknown('model', w['base_model'], models)}")

    for b in config["budgets"]:
        if b <= 0:
            raise ConfigError(f"budgets: budget {b} must be > 0")
        for pname, p in config["pools"].items():
            if p.get("select", True) and b > p["rows"]:
                raise ConfigError(f"budgets: budget {b} is larger than pool '{pname}' ({p['rows']} rows)")

    if not any(p.get("select", True) for p in config["pools"].values()):
        raise ConfigError("pools: every pool has select: false; nothing to select from")

    for kind in ("normalize", "select"):      # jobs that never load a model
        if config["compute"]["resources"][kind]["gpu"]:
            raise ConfigError(f"compute.resources.{kind}.gpu: {kind} jobs use no GPU (only CPU and memory); "
                              "set it to 0 or leave it out")

    baseline = config["report"]["baseline_method"]
    if baseline is not None and baseline not in methods:
        raise ConfigError(f"report.baseline_method: {unknown('method', baseline, methods)}")

    local = config["evaluation"].get("local_tasks")
    if local is not None:
        from .evaluation import local_task_names

        names = local_task_names(local["generator"])
        for tname, t in config["evaluation"]["tasks"].items():
            if t["lm_eval_task"].startswith("demo_") and t["lm_eval_task"] not in names:
                raise ConfigError(f"evaluation.tasks.{tname}.lm_eval_task: "
                                  f"{unknown('demo task', t['lm_eval_task'], names)}")

    for sname, spec in config["evaluation"]["winrate"].items():
        _check_winrate(sname, spec, config["evaluation"]["tasks"], models)

    return Experiment(
        raw=config, name=config["name"], pools=config["pools"], models=models, methods=methods,
        budgets=tuple(config["budgets"]), seeds=tuple(config["seeds"]),
        base_models=tuple(config["finetune"]["base_models"]), presets=config["finetune"]["presets"],
        tasks=config["evaluation"]["tasks"], scoring=config["scoring"],
    )


def load_config(path) -> Experiment:
    """Read a config file strictly (duplicated keys are errors) and check it."""
    config = load_yaml_strict(path)
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys, got {type(config).__name__}")
    return check_config(config)
