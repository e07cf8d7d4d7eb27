"""The two profiles do not override each other, and `--profile slurm` gives every job a partition.

Snakemake lets a workflow profile's keys replace those of `--profile` wholesale (a
`default-resources` block in profiles/default would drop the SLURM profile's), so the
workflow profile must hold no resources and agree with the SLURM profile on shared keys.
The dry-run plans the paper config offline through the unmodified SLURM profile (~10 s).
"""

import os
import re
import subprocess
import sys

import yaml

from test_workflow import REPO

GPU_RULES = {"build_model", "score", "score_shard", "less_warmup", "diverse_evol_round", "mods_select", "finetune",
             "evaluate", "evaluate_base", "winrate_reference", "winrate", "winrate_base"}


def profiles():
    return (yaml.safe_load((REPO / "profiles/default/config.yaml").read_text()),
            yaml.safe_load((REPO / "slurm/config.yaml").read_text()))


def test_workflow_profile_holds_no_resources_and_agrees_with_slurm():
    default, slurm = profiles()
    assert not {"default-resources", "set-resources", "resources", "set-threads"} & set(default)
    clash = {k: (v, slurm[k]) for k, v in default.items() if k in slurm and slurm[k] != v}
    assert not clash, f"profiles/default would override the SLURM profile: {clash}"


def test_every_rule_with_a_gpu_resource_is_mapped_to_the_gpu_partition():
    """Rules with `gpu=` and the `use rule` variants of such rules (they inherit the resource)."""
    _, slurm = profiles()
    gpu, variants = set(), {}
    for smk in (REPO / "rules").glob("*.smk"):
        text = smk.read_text()
        for m in re.finditer(r"^(?:rule (\w+):|use rule (\w+) as (\w+) with:)(.*?)(?=^(?:rule |use rule )|\Z)",
                             text, re.S | re.M):
            name = m.group(1) or m.group(3)
            if m.group(2):
                variants[name] = m.group(2)
            if "gpu=" in m.group(4):
                gpu.add(name)
    gpu |= {v for v, parent in variants.items() if parent in gpu}
    assert gpu == GPU_RULES == set(slurm["set-resources"]), (gpu, set(slurm["set-resources"]))


def dry_run_jobs(env):
    res = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "slurm", "-n"], cwd=REPO,
                         capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1", **env), timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", res.stdout, re.M)
    assert len(jobs) > 100
    return [(rule, dict(kv.split("=", 1) for kv in res_.split(", "))) for rule, res_ in jobs]


def test_slurm_profile_unmodified_maps_partitions_from_the_environment():
    jobs = dry_run_jobs({"SELECTBENCH_CPU_PARTITION": "cpuq", "SELECTBENCH_GPU_PARTITION": "gpuq"})
    for rule, res in jobs:
        want = "gpuq" if rule in GPU_RULES else "cpuq"
        assert res.get("slurm_partition") == want, (rule, res)
        if rule in {"finetune", "evaluate", "score"}:
            assert res.get("gpu") == "1", (rule, res)
        assert "mem_mb" in res and "runtime" in res, (rule, res)
    assert {r for r, _ in jobs} >= {"finetune", "evaluate", "select", "score"}


def test_slurm_test_install_can_be_switched_off(monkeypatch, tmp_path):
    """CONTRIBUTING.md: SELECTBENCH_NO_SYSTEM_INSTALL=1 skips the real-SLURM test's apt-get install."""
    import io

    import pytest
    import slurm_local   # tests/ is on sys.path (rootdir conftest)

    monkeypatch.setattr(slurm_local, "missing_binaries", lambda: ["sbatch"])
    monkeypatch.setattr(slurm_local.subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
    monkeypatch.setenv("SELECTBENCH_NO_SYSTEM_INSTALL", "1")
    assert slurm_local.ensure_installed(io.StringIO()) == \
        "SLURM not installed (sbatch missing) and SELECTBENCH_NO_SYSTEM_INSTALL is set"
