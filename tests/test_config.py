"""Config validation at parse time: schema, unknown names with suggestions, budgets."""

import copy

import pytest
import yaml

from selectbench.config import check_config, load_config
from selectbench.errors import ConfigError


@pytest.fixture(scope="module")
def demo_cfg():
    with open("config/demo.yaml") as fh:
        return yaml.safe_load(fh)


def bad(cfg, match):
    with pytest.raises(ConfigError, match=match):
        check_config(cfg)


def test_shipped_configs_validate():
    demo = load_config("config/demo.yaml")
    paper = load_config("config/config.yaml")
    assert "random" in demo.methods and paper.budgets == (10000, 50000)
    assert len(paper.seeds) == 5 and set(paper.base_models) == {"llama3-8b", "qwen2-7b"}


def test_unknown_top_level_key_suggests(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    cfg["budgetz"] = cfg.pop("budgets")
    bad(cfg, r"unknown key 'budgetz'.*did you mean 'budgets'")


def test_unknown_nested_key_suggests(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    cfg["finetune"]["presets"]["lora"]["learning_rat"] = 1e-3
    bad(cfg, r"unknown key 'learning_rat' in finetune.presets.lora.*did you mean 'learning_rate'")


def test_unknown_selector_suggests(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    cfg["methods"]["longest"]["selector"] = "topk"
    bad(cfg, r"methods.longest.selector: unknown selector 'topk' \(did you mean 'top_k'\?\)")


def test_unknown_scorer_and_model(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    cfg["methods"]["longest"]["scorer"] = "lenght"
    bad(cfg, r"unknown scorer 'lenght' \(did you mean 'length'\?\)")
    cfg = copy.deepcopy(demo_cfg)
    cfg["methods"]["longest"]["scorer_model"] = "tinyy"
    bad(cfg, r"unknown model 'tinyy' \(did you mean 'tiny'\?\)")


def test_unknown_base_model_and_baseline(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    cfg["finetune"]["base_models"] = ["tini"]
    bad(cfg, r"finetune.base_models: unknown model 'tini'")
    cfg = copy.deepcopy(demo_cfg)
    cfg["report"]["baseline_method"] = "randon"
    bad(cfg, r"did you mean 'random'")


def test_unknown_demo_task(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    cfg["evaluation"]["tasks"]["sentiment"]["lm_eval_task"] = "demo_sentimen_mc"
    bad(cfg, r"unknown demo task 'demo_sentimen_mc'.*did you mean")


@pytest.mark.parametrize("budget,match", [(0, "must be > 0"), (-5, "must be > 0"),
                                          (10**6, "larger than pool 'demo'")])
def test_budget_out_of_range(demo_cfg, budget, match):
    cfg = copy.deepcopy(demo_cfg)
    cfg["budgets"] = [budget]
    bad(cfg, match)


def test_scorer_model_rules(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    del cfg["methods"]["longest"]["scorer_model"]
    bad(cfg, "needs a 'scorer_model'")
    cfg = copy.deepcopy(demo_cfg)
    del cfg["methods"]["longest"]["scorer"]
    bad(cfg, "ranks by score; give a 'scorer'")
    cfg = copy.deepcopy(demo_cfg)
    cfg["methods"]["random"]["scorer"] = "length"
    bad(cfg, "ignores scores")


def test_unknown_params(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    cfg["scoring"]["perplexity"]["batchsize"] = 4
    bad(cfg, r"unknown parameter 'batchsize' for scorer 'perplexity' \(did you mean 'batch_size'\?\)")
    cfg = copy.deepcopy(demo_cfg)
    cfg["methods"]["random"]["params"] = {"k": 1}
    bad(cfg, "unknown parameter 'k' for selector 'random'")


def test_schema_type_errors_name_the_key(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    cfg["seeds"] = ["zero"]
    bad(cfg, r"seeds.0: 'zero' is not of type 'integer'")
    cfg = copy.deepcopy(demo_cfg)
    cfg["finetune"]["presets"]["lora"]["peft"] = "qlora"
    bad(cfg, r"finetune.presets.lora.peft")


def test_lora_preset_needs_lora_keys(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    del cfg["finetune"]["presets"]["lora"]["lora_r"]
    bad(cfg, "needs lora_r")


def test_units_enumerate_every_method_budget_seed(demo_cfg):
    exp = check_config(demo_cfg)
    units = exp.selection_units()
    n_budgeted = sum(1 for m in exp.methods.values() if m.selector != "full")
    assert len(units) == (n_budgeted * len(exp.budgets) + 1) * len(exp.seeds)
    assert ("demo", "full", "all", 0) in units
    assert len(exp.finetune_units()) == len(units)


def test_canonical_form_ignores_how_a_config_is_written(demo_cfg):
    """Issue 21 §1: key order, OrderedDict (a JSON config), tuples, 3.0 for 3 and YAML anchors give
    the same config, key-sorted at every depth; list order is kept (it means something)."""
    import collections

    from plan_params import reversed_keys

    from selectbench.config import canonical

    a, b = copy.deepcopy(demo_cfg), reversed_keys(demo_cfg, collections.OrderedDict)
    b["finetune"]["presets"]["lora"]["epochs"] = 3.0
    check_config(a)
    check_config(b)
    assert repr(a) == repr(dict(b)) and type(b["finetune"]) is dict   # the top level is changed in place
    assert list(a) == sorted(a) and list(a["methods"]) == sorted(a["methods"])
    assert a["budgets"] == demo_cfg["budgets"] and a["seeds"] == [0, 1]
    assert canonical({"b": [3, 1.0, 0.5], "a": (2.0,)}) == {"a": [2], "b": [3, 1, 0.5]}
    assert repr(canonical({"b": 1, "a": 2})) == "{'a': 2, 'b': 1}"
    shared = [1]
    c = canonical({"x": shared, "y": shared})
    assert c["x"] is not c["y"]


def test_an_exponent_without_a_point_says_how_to_write_it(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    cfg["finetune"]["presets"]["lora"]["learning_rate"] = "2e-5"   # what PyYAML makes of `2e-5`
    bad(cfg, r"learning_rate: '2e-5' is not of type 'number' \(YAML reads an exponent without a decimal "
             r"point as text: write 2.0e-5\)")
