"""Config as users expect: overlay, schema defaults + descriptions, generated reference,
duplicated keys, did-you-mean at any depth, one resource mechanism, conda env = lock.

The workflow-level behaviour is tested through `snakemake -n` and `selectbench`, the
commands a user types."""

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selectbench.cli import main as cli
from selectbench.config import apply_defaults, check_config, load_schema, load_yaml_strict
from selectbench.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
KEYWORDS = {"$schema", "title", "description", "type", "additionalProperties", "required", "$defs",
            "properties", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
            "default", "enum", "items", "minItems", "minProperties", "uniqueItems", "propertyNames",
            "oneOf", "not", "$ref"}


def snakemake_n(*args, cwd=ROOT):
    """`snakemake -n` in a fresh working directory (a finished `make demo` in the checkout must not
    turn the plan into "nothing to be done"); config paths relative to `cwd` are made absolute."""
    import tempfile

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    args = [str(Path(cwd) / a) if not a.startswith("-") and (Path(cwd) / a).is_file() else a for a in args]
    workdir = tempfile.mkdtemp(prefix="selectbench-plan-")
    return subprocess.run([SNAKEMAKE, "-n", "--snakefile", str(ROOT / "Snakefile"), "--directory", workdir, *args],
                          cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def job_counts(out: str) -> dict:
    """{rule: count} from the job-stats table that `snakemake -n` prints."""
    table = out.split("Job stats:", 1)[1].split("Reasons:", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


# ------------------------------------------------------------------ schema

def _schema_nodes(node, path=""):
    """(path, schema) of every property, item, definition and additionalProperties schema."""
    if not isinstance(node, dict):
        return
    for key in ("properties", "$defs"):
        for name, sub in node.get(key, {}).items():
            yield f"{path}.{name}", sub
            yield from _schema_nodes(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield f"{path}.{key}", node[key]
            yield from _schema_nodes(node[key], f"{path}.{key}")


def test_every_schema_key_has_a_description_and_only_schema_keywords():
    schema = load_schema()
    nodes = list(_schema_nodes(schema))
    assert len(nodes) > 100
    defs = schema["$defs"]
    for path, node in nodes:
        ref = node.get("$ref", "").split("/")[-1]
        if path.endswith(".items") and "properties" not in node:
            continue  # a plain list element: the list's description covers it
        assert node.get("description") or defs.get(ref, {}).get("description"), f"{path}: no description"
        # a comma in an unquoted flow-mapping description silently makes extra keys
        assert set(node) <= KEYWORDS, f"{path}: not schema keywords: {set(node) - KEYWORDS}"


def test_defaults_are_filled_in_and_validate():
    cfg = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    for key in ("evaluate_base", "bootstrap_iters", "apply_chat_template"):
        del cfg["evaluation"][key]
    del cfg["report"], cfg["compute"]
    del cfg["finetune"]["presets"]["lora"]["grad_accum"]
    check_config(cfg)
    schema = load_schema()
    ev = schema["properties"]["evaluation"]["properties"]
    assert cfg["evaluation"]["evaluate_base"] is ev["evaluate_base"]["default"] is True
    assert cfg["evaluation"]["bootstrap_iters"] == ev["bootstrap_iters"]["default"] == 0
    rep = schema["properties"]["report"]["properties"]
    assert cfg["report"]["baseline_method"] is None
    assert cfg["report"]["alpha"] == rep["alpha"]["default"] == 0.05
    assert cfg["report"]["prices"] == {k: v["default"] for k, v in rep["prices"]["properties"].items()}
    assert cfg["compute"]["device"] == "auto"
    res = cfg["compute"]["resources"]
    assert set(res) == set(schema["properties"]["compute"]["properties"]["resources"]["properties"])
    assert res["normalize"] == {"gpu": 0, "mem_mb": 8000, "runtime": 60, "threads": 1}
    assert cfg["finetune"]["presets"]["lora"]["grad_accum"] == 1
    assert cfg["evaluation"]["tasks"]["sentiment"]["limit"] is None
    # given values are kept; defaults never overwrite
    given = {"compute": {"resources": {"score": {"mem_mb": 123}}}}
    apply_defaults(given)
    assert given["compute"]["resources"]["score"] == {"gpu": 0, "mem_mb": 123, "runtime": 60, "threads": 1}


def test_readme_reference_matches_schema(capsys):
    from selectbench.configref import readme_section, reference

    ref = reference()
    assert readme_section((ROOT / "config" / "README.md").read_text()) == ref, \
        "config/README.md's configuration reference is stale: run `selectbench config-reference --write`"
    # every leaf key of the shipped paper config is documented
    for key in ("evaluation.bootstrap_iters", "compute.resources.select", "finetune.presets.<name>",
                "pools.<name>.sources[].format"):
        assert f"`{key}`" in ref
    assert "| `grad_accum` | integer | `1` |" in ref
    assert cli(["config-reference"]) == 0
    assert capsys.readouterr().out == ref


def test_reference_picks_up_a_new_schema_key(tmp_path):
    from selectbench.configref import reference, write_readme

    schema = copy.deepcopy(load_schema())
    schema["properties"]["report"]["properties"]["alpha"] = {
        "type": "number", "default": 0.05, "description": "significance level"}
    assert "| `report.alpha` | number | `0.05` | significance level |" in reference(schema)
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "config" / "README.md").read_text())
    assert write_readme(readme, schema) and "`report.alpha`" in readme.read_text()
    assert not write_readme(readme, schema)


# ------------------------------------------------------------------ duplicated keys

DUP = """name: x
budgets: [1]
methods:
  random: {selector: random}
  random: {selector: top_k}
budgets: [2]
"""


def test_duplicated_yaml_key_names_file_line_and_key(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(DUP.replace("budgets: [2]\n", ""))
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}:5: duplicated key 'random' \(first at line 4\)"):
        load_yaml_strict(path)
    path.write_text(DUP)
    with pytest.raises(ConfigError, match=r":6: duplicated key 'budgets' \(first at line 2\)"):
        load_yaml_strict(path)


def test_duplicated_key_fails_validate_and_snakemake(tmp_path, capsys):
    text = (ROOT / "config/demo.yaml").read_text()
    path = tmp_path / "demo_dup.yaml"
    path.write_text(text + "\nbudgets: [150]\n")
    assert cli(["validate", str(path)]) == 1
    assert "duplicated key 'budgets'" in capsys.readouterr().err
    r = snakemake_n("--configfile", str(path))
    assert r.returncode != 0
    assert f"{path}:{len(text.splitlines()) + 2}: duplicated key 'budgets'" in r.stdout + r.stderr


# ------------------------------------------------------------------ overlay and did-you-mean

def test_config_overlays_default_and_configfile():
    default = job_counts(snakemake_n().stdout)
    one_seed = snakemake_n("--config", "seeds=[0]")
    assert one_seed.returncode == 0, one_seed.stderr
    seeds = len(yaml.safe_load((ROOT / "config/config.yaml").read_text())["seeds"])
    assert job_counts(one_seed.stdout)["finetune"] * seeds == default["finetune"]
    # --configfile replaces the default (no paper pool), --config overlays it
    demo = snakemake_n("--configfile", "config/demo.yaml")
    assert "openhermes" not in demo.stdout and "results/pools/demo/pool.parquet" in demo.stdout
    demo_one = snakemake_n("--configfile", "config/demo.yaml", "--config", "budgets=[150]", "seeds=[0]",
                           "compute={resources: {select: {mem_mb: 1234}}}")
    assert demo_one.returncode == 0, demo_one.stderr
    counts = job_counts(demo_one.stdout)
    assert counts["finetune"] < job_counts(demo.stdout)["finetune"]
    # every select job asks for the overlaid memory: resources come from compute.resources
    assert demo_one.stdout.count("mem_mb=1234") == counts["select"]


def test_misspelled_key_at_any_depth_via_snakemake():
    r = snakemake_n("--configfile", "config/demo.yaml", "--config", "seedz=[0]")
    assert r.returncode != 0 and "unknown key 'seedz' in the config (did you mean 'seeds'?)" in r.stdout + r.stderr
    r = snakemake_n("--configfile", "config/demo.yaml", "--config",
                    "finetune={presets: {lora: {learning_rat: 0.1}}}")
    assert r.returncode != 0
    assert ("unknown key 'learning_rat' in finetune.presets.lora (did you mean 'learning_rate'?)"
            in r.stdout + r.stderr)


@pytest.mark.parametrize("where,key,expect", [
    (("pools", "demo", "sources", 0), "fromat", "format"),
    (("models", "tiny"), "biuld", "build"),
    (("evaluation", "tasks", "sentiment"), "num_fewshots", "num_fewshot"),
    (("compute", "resources"), "scroe", "score"),
    (("compute", "resources", "score"), "memmb", "mem_mb"),
    (("methods", "random"), "selecter", "selector"),
    (("evaluation",), "evaluate_bse", "evaluate_base"),
    (("models", "tiny", "build"), "generater", "generator"),
])
def test_did_you_mean_at_every_depth(where, key, expect):
    cfg = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    node = cfg
    for k in where:
        node = node[k]
    node[key] = {} if key == "scroe" else 1
    with pytest.raises(ConfigError, match=rf"unknown .*'{key}'.*did you mean '{expect}'\?"):
        check_config(cfg)


# ------------------------------------------------------------------ resources and conda env

def test_no_rule_hard_codes_resources():
    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        assert not re.search(r"^\s+(mem_mb|runtime|gpu|threads)\s*=\s*\d", text, re.M), smk
        assert not re.search(r"^\s+threads:\s*\d", text, re.M), smk
        for block in re.findall(r"resources:\n((?:\s{8}.*\n)+)", text):
            for line in block.splitlines():
                assert "resources_of(" in line or "resource_value(" in line, f"{smk}: {line}"


def test_conda_env_pins_exactly_the_lock():
    from selectbench.condaenv import ENV, LOCK, env_pins, env_text, lock_pins

    env = ENV.read_text()
    assert "-r " not in env
    assert env_pins(env) == lock_pins(LOCK.read_text())
    assert env == env_text(LOCK.read_text()), "envs/selectbench.yaml is stale: run `make conda-env`"
    # a changed lock changes the env file's text (Snakemake's env identity)
    assert env_text(LOCK.read_text().replace("torch==2.13.0", "torch==2.13.1")) != env


def test_config_reference_write_defaults_to_config_readme(tmp_path, monkeypatch, capsys):
    """`selectbench config-reference --write` (no page named) refreshes config/README.md of the cwd."""
    from selectbench.configref import reference

    page = tmp_path / "config" / "README.md"
    page.parent.mkdir()
    text = (ROOT / "config" / "README.md").read_text()
    stale = text.replace("| `grad_accum` | integer | `1` |", "| `grad_accum` | integer | `2` |")
    assert stale != text
    page.write_text(stale)
    monkeypatch.chdir(tmp_path)
    assert cli(["config-reference", "--write"]) == 0
    assert page.read_text() == text and reference() in text
    assert "config/README.md" in capsys.readouterr().out
