"""Shared fixtures: a tiny randomly initialised Llama + BPE tokenizer saved like a hub model."""

import copy
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from selectbench.demo.data import make_pretrain_corpus
    from selectbench.demo.tiny_model import train_tokenizer

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("tiny-model")
    tok = train_tokenizer(make_pretrain_corpus(300, 0), vocab_size=1024, out_dir=out)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(out)
    return str(out)


CONVERSATIONS = (
    [{"role": "user", "content": "Is the film good? It was wonderful and bright."},
     {"role": "assistant", "content": "positive"}],
    [{"role": "system", "content": "Be brief."},
     {"role": "user", "content": "Name a fruit."},
     {"role": "assistant", "content": "An apple is a fruit that grows on trees."}],
    [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "hi"},
     {"role": "user", "content": "Again, twice."}, {"role": "assistant", "content": "hi hi"}],
)


@pytest.fixture
def conversations():
    """Single-turn, system + user, and multi-turn conversations (a fresh copy per test)."""
    return copy.deepcopy(list(CONVERSATIONS))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One completed run of the shrunken demo workflow (tests/test_workflow.py's small_config),
    shared by every test that reads a finished run: (workdir, config dict, config path)."""
    from test_workflow import run_config, small_config

    reuse = os.environ.get("SELECTBENCH_TEST_RUN")  # a completed run to reuse while iterating locally
    if reuse:
        import yaml

        wd = Path(reuse)
        return wd, yaml.safe_load((wd / "test.yaml").read_text()), wd / "test.yaml"
    wd = tmp_path_factory.mktemp("wf")
    cfg = small_config()
    return wd, cfg, run_config(wd, cfg)


# ---------------------------------------------------------------- parallel runs (pytest-xdist)
# `make test-fast` runs `pytest -n 2 --dist loadfile`: each test file goes to one worker, so a
# module fixture (one workflow run) is built once; the files that share the session run
# `tiny_run` go to the same worker (the scheduler below). The longest files are sent first, so
# that the other worker works through the short ones meanwhile. (`--dist loadgroup` with
# xdist_group marks does not group under pytest 9.2: xdist 3.8 writes the group into
# `item._nodeid`, which pytest no longer reads.)
SHARED_FILES = {"tests/test_workflow.py": "tiny_run", "tests/test_rebuild.py": "tiny_run"}
LONGEST_FIRST = ("test_workflow_all_methods", "test_rebuild", "test_workflow", "test_slurm",
                 "test_workflow_sharded", "test_paper_configs", "test_resume_workflow", "test_plugins")


def pytest_collection_modifyitems(config, items):
    rank = {m: i for i, m in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda it: rank.get(it.module.__name__.rpartition(".")[2], len(rank)))


def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, with the files of SHARED_FILES as one unit of work."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return SHARED_FILES.get(scope, scope)

    return SharedFileScheduling(config, log)
