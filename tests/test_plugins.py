"""Plug-ins: methods from the user's own package, without editing selectbench.

The recipe of docs/extending.md is followed literally (its `# file:` code blocks are written
into a folder outside the repository) and run through the workflow to a selection file;
installed plug-ins are a real distribution (a `.dist-info` with entry_points.txt, what
`pip install` writes) on PYTHONPATH, seen through the `selectbench` command.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from test_workflow import REPO, SNAKEMAKE, small_config, snakemake

SELECTBENCH = [sys.executable, "-m", "selectbench.cli"]


def recipe_blocks(section: str) -> dict[str, str]:
    """{path: text} of the `# file: PATH` code blocks of one section of docs/extending.md."""
    text = (REPO / "docs" / "extending.md").read_text()
    start = text.index(section)
    end = text.find("\n## ", start + 1)
    body = text[start: end if end > 0 else None]
    out = {}
    for block in re.findall(r"```[a-z]*\n(.*?)```", body, flags=re.S):
        block = textwrap.dedent(block)
        first, _, rest = block.partition("\n")
        m = re.match(r"# file: (\S+)", first.strip())
        if m:
            out[m.group(1)] = rest
    return out


RECIPE = "## 3. Add a scorer and a selector from your own package"


def write_recipe(wd: Path) -> dict:
    blocks = recipe_blocks(RECIPE)
    assert {"plugins/my_methods/scorers.py", "plugins/my_methods/select.py", "plugins.yaml"} <= set(blocks)
    for path, text in blocks.items():
        (wd / path).parent.mkdir(parents=True, exist_ok=True)
        (wd / path).write_text(text)
    return yaml.safe_load(blocks["plugins.yaml"])


def cli(*args, cwd, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(SELECTBENCH + list(args), capture_output=True, text=True, cwd=cwd, env=env)


def _jobs(dry_run_stdout: str) -> dict:
    """{rule: count} of the jobs a dry run would run (Snakemake's job-stats table)."""
    out = {}
    for line in dry_run_stdout.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            out[m.group(1)] = int(m.group(2))
    return out


@pytest.mark.slow
def test_recipe_from_outside_the_repository_runs_and_edits_rerun_its_jobs(tmp_path):
    wd = tmp_path / "study"
    wd.mkdir()
    fragment = write_recipe(wd)
    cfg = small_config()
    cfg["plugins"] = fragment["plugins"]
    cfg["methods"] = {"random": cfg["methods"]["random"], **fragment["methods"]}
    cfg_path = wd / "my.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))

    listed = cli("list", "--config", str(cfg_path), cwd=wd)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"vowel_share .*\n\s+from plugins\.modules \(my_methods\.scorers:\d+\)", listed.stdout)
    assert re.search(r"top_per_source .*\n\s+from plugins\.modules \(my_methods\.select:\d+\)", listed.stdout)

    target = "results/selections/demo/vowel_top/b40/s0.json"
    snakemake(wd, cfg_path, target)
    sel = json.loads((wd / target).read_text())
    assert sel["selector"] == "top_per_source" and sel["n_selected"] == 40
    pool = __import__("pandas").read_parquet(wd / "results/pools/demo/pool.parquet", columns=["id", "source"])
    scores = __import__("pandas").read_parquet(wd / "results/scores/demo/vowel_share/none.parquet")
    assert scores["id"].tolist() == pool["id"].tolist() and scores["score"].between(0, 1).all()
    # the selector's contract: round-robin over sources, each source's best first
    by_id = scores.set_index("id")["score"]
    src = pool.set_index("id")["source"]
    first = sel["ids"][: src.nunique()]
    assert len({src[i] for i in first}) == src.nunique()
    for s in src.unique():
        mine = [i for i in sel["ids"] if src[i] == s]
        assert [by_id[i] for i in mine] == sorted((by_id[i] for i in mine), reverse=True)
    assert "Nothing to be done" in snakemake(wd, cfg_path, target, "-n").stdout

    # editing the scorer's code reruns its score job and the select job, nothing upstream
    scorer_py = wd / "plugins/my_methods/scorers.py"
    original = scorer_py.read_text()
    scorer_py.write_text(original.replace("max(len(alpha), 1)", "max(len(alpha), 2)"))
    assert _jobs(snakemake(wd, cfg_path, target, "-n").stdout) == {"score": 1, "select": 1}
    # a docstring edit reruns nothing; the selector's edit only the select job
    scorer_py.write_text(original.replace("(a toy score)", "(a toy score, documented)"))
    assert "Nothing to be done" in snakemake(wd, cfg_path, target, "-n").stdout
    select_py = wd / "plugins/my_methods/select.py"
    select_py.write_text(select_py.read_text().replace("kind=\"stable\"", "kind=\"mergesort\""))
    assert _jobs(snakemake(wd, cfg_path, target, "-n").stdout) == {"select": 1}


# ---------------------------------------------------------------- installed plug-ins (entry points)
def make_dist(site: Path, name: str, modules: dict[str, str], entry_points: str) -> None:
    """An installed distribution as pip leaves it: package files + NAME-0.1.dist-info."""
    for path, text in modules.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    top = sorted({Path(p).parts[0] for p in modules})
    (info / "top_level.txt").write_text("\n".join(top) + "\n")
    (info / "RECORD").write_text("".join(f"{p},,\n" for p in modules))


GOOD_SELECTOR = textwrap.dedent("""
    from selectbench.selection import selector


    @selector("first_rows", needs_scores=False, uses_budget=True)
    def first_rows(ctx):
        \"\"\"The first `budget` rows of the pool.\"\"\"
        return ctx.pool["id"].iloc[: ctx.budget].astype(str).tolist()
""")


def plugin_config(tmp_path, selector="first_rows", params=None) -> Path:
    cfg = small_config()
    cfg["methods"] = {"random": cfg["methods"]["random"],
                      "mine": {"selector": selector, **({"params": params} if params is not None else {})}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_installed_plugin_is_listed_with_its_package_and_found_by_did_you_mean(tmp_path):
    site = tmp_path / "site"
    make_dist(site, "acme_select", {"acme_select/__init__.py": "", "acme_select/sel.py": GOOD_SELECTOR},
              "[selectbench.selectors]\nfirst_rows = acme_select.sel\n")
    env = {"PYTHONPATH": str(site)}
    listed = cli("list", "selectors", cwd=tmp_path, env_extra=env)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"first_rows\s+-\s+The first `budget` rows of the pool\.\n\s+from acme_select "
                     r"\(acme_select\.sel:\d+\)", listed.stdout), listed.stdout
    assert re.search(r"top_k .*\n\s+from selectbench \(selectbench\.selection\.ranked:\d+\)", listed.stdout)
    ok = cli("validate", str(plugin_config(tmp_path)), cwd=tmp_path, env_extra=env)
    assert ok.returncode == 0, ok.stderr
    typo = cli("validate", str(plugin_config(tmp_path, "first_row")), cwd=tmp_path, env_extra=env)
    assert typo.returncode == 1 and "did you mean 'first_rows'" in typo.stderr, typo.stderr


@pytest.mark.parametrize("case", ["import", "syntax", "twice", "budget", "entry_name", "required"])
def test_bad_installed_plugin_is_named_before_any_job(tmp_path, case):
    site = tmp_path / "site"
    sel, ep, params = GOOD_SELECTOR, "first_rows = acme_select.sel", None
    if case == "import":
        sel = "import not_a_module_anywhere\n" + GOOD_SELECTOR
        want = ["plug-in 'first_rows'", "acme_select", "failed to import", "not_a_module_anywhere"]
    elif case == "syntax":
        sel = GOOD_SELECTOR + "def broken(:\n"
        want = ["plug-in 'first_rows'", "failed to import: SyntaxError", "acme_select/sel.py:9"]
    elif case == "twice":
        sel = GOOD_SELECTOR.replace('"first_rows"', '"top_k"')
        ep = "top_k = acme_select.sel"
        want = ["selector 'top_k' is registered twice", "selectbench (selectbench.selection.ranked:",
                "acme_select (acme_select.sel:", "rename one"]
    elif case == "budget":
        sel = GOOD_SELECTOR.replace(", uses_budget=True", "")
        want = ["selector 'first_rows'", "acme_select (acme_select.sel:", "no budget contract", "uses_budget"]
    elif case == "entry_name":
        ep = "first_row = acme_select.sel"
        want = ["plug-in 'first_row'", "registered no selector named 'first_row'", "it registered: first_rows"]
    else:
        sel = GOOD_SELECTOR.replace("uses_budget=True)", "uses_budget=True, params={'k': REQUIRED})").replace(
            "from selectbench.selection import selector", "from selectbench.registry import REQUIRED\n"
            "from selectbench.selection import selector")
        params = {}
        want = ["methods.mine.params", "selector 'first_rows' (acme_select (acme_select.sel:",
                "needs parameter k (declared without a default)"]
    make_dist(site, "acme_select", {"acme_select/__init__.py": "", "acme_select/sel.py": sel},
              f"[selectbench.selectors]\n{ep}\n")
    cfg = plugin_config(tmp_path, "top_k" if case == "twice" else "first_rows", params)
    res = cli("validate", str(cfg), cwd=tmp_path, env_extra={"PYTHONPATH": str(site)})
    assert res.returncode == 1, res.stdout
    for w in want:
        assert w in res.stderr, (w, res.stderr)
    assert "Traceback" not in res.stderr


def test_config_plugin_module_that_fails_is_named(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken.py").write_text("raise RuntimeError('half-written plug-in')\n")
    cfg = yaml.safe_load(plugin_config(tmp_path, "random").read_text())
    cfg["plugins"] = {"paths": ["plugins"], "modules": ["broken"]}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    res = cli("validate", "cfg.yaml", cwd=tmp_path)
    assert res.returncode == 1
    assert "plug-in module 'broken' (config plugins.modules) failed to import: RuntimeError: half-written" \
        in res.stderr, res.stderr
    cfg["plugins"] = {"paths": ["no_such_dir"], "modules": []}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    res = cli("validate", "cfg.yaml", cwd=tmp_path)
    assert res.returncode == 1 and "plugins.paths: 'no_such_dir' is not a directory" in res.stderr


TASK_YAML = """\
task: acme_echo
dataset_path: json
dataset_kwargs:
  data_files:
    test: acme_echo.jsonl
test_split: test
doc_to_text: prompt
output_type: multiple_choice
doc_to_choice: choices
doc_to_target: label
metric_list:
- metric: acc
  aggregation: mean
  higher_is_better: true
"""


def test_installed_task_plugin_is_a_benchmark_and_an_input_of_the_eval_jobs(tmp_path):
    site = tmp_path / "site"
    make_dist(site, "acme_tasks", {"acme_tasks/__init__.py": "", "acme_tasks/acme_echo.yaml": TASK_YAML},
              "[selectbench.tasks]\nacme = acme_tasks\n")
    cfg = small_config()
    cfg["evaluation"]["tasks"] = {"echo": {"lm_eval_task": "acme_echo", "num_fewshot": 0}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = {"PYTHONPATH": str(site)}
    res = cli("validate", "--tasks", "cfg.yaml", cwd=tmp_path, env_extra=env)
    assert res.returncode == 0, res.stderr
    bare = cli("validate", "--tasks", "cfg.yaml", cwd=tmp_path)   # without the plug-in: unknown
    assert bare.returncode == 1 and "acme_echo" in bare.stderr
    dry = subprocess.run(SNAKEMAKE + ["-n", "--snakefile", str(REPO / "Snakefile"),
                          "--directory", str(tmp_path), "--configfile", "cfg.yaml", "--cores", "1",
                          "results/evals/base/tiny/echo.json"], capture_output=True, text=True, cwd=tmp_path,
                         env=dict(os.environ, PYTHONPATH=str(site)))
    assert dry.returncode == 0, dry.stderr
    assert str(site / "acme_tasks" / "acme_echo.yaml") in dry.stdout   # an input: editing it reruns the evals
