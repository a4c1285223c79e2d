"""The sweep config is validated when it is read: every key's type, range and allowed values,
and every model spec (resolved without loading weights, in the same place as load_model)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from interp.cli import main
from interp.config import (CHOICES, RULES, ConfigError, Limits, ModelConfig, SweepConfig, _keys,
                           from_dict, load_config)
from interp.models import ModelLoadError, load_model, resolve_spec

GOOD = """
[sweep]
output = "out"

[[models]]
label = "tiny"
spec = "tiny:gemma3"

[datasets]

[limits]
"""


def write(tmp: Path, section: str, line: str) -> Path:
    """GOOD with ``line`` added to ``section`` ("sweep", "models" or "limits")."""
    head = "[[models]]\n" if section == "models" else f"[{section}]\n"
    text = GOOD.replace('output = "out"\n', "") if line.startswith("output") else GOOD
    p = tmp / "sweep.toml"
    p.write_text(text.replace(head, head + line + "\n", 1))
    return p


# (section, TOML line, key, what the message must also say): the probe's cases of issue 13
BAD = [
    ("sweep", 'batch_size = "4"', "batch_size", 'got "4" (a string); write batch_size = 4'),
    ("sweep", "batch_size = 2.5", "batch_size", "must be a positive integer, got 2.5 (a float)"),
    ("sweep", "batch_size = -4", "batch_size", "must be a positive integer, got -4"),
    ("sweep", 'seed = "zero"', "seed", 'got "zero" (a string); write e.g. seed = 0'),
    ("limits", "n_boot = -5", "n_boot", "must be a positive integer"),
    ("limits", "n_boot = 0", "n_boot", "got 0"),
    ("limits", "mrpc_max_pairs = -3", "mrpc_max_pairs", "leave mrpc_max_pairs out (all)"),
    ("limits", 'becel_tasks = "snli"', "becel_tasks", 'write becel_tasks = ["snli"]'),
    ("limits", 'pararel_relations = "P36"', "pararel_relations",
     'write pararel_relations = ["P36"]'),
    ("sweep", 'wikipedia_offline = "no"', "wikipedia_offline",
     'must be true or false, got "no" (a string); write wikipedia_offline = false'),
    ("sweep", "prompts = [0, 0]", "prompts", "distinct values among 0, 1, 2, got [0, 0]; "
     "write prompts = [0]"),
    ("sweep", "output = 5", "output", 'got 5 (an integer); write output = "5"'),
    ("models", 'kind = "base"\nbase = "nobody"', "base", "is not a model label"),
    ("sweep", "seed = true", "seed", "got true (a boolean)"),
    ("limits", "pararel_max_facts = 20.0", "pararel_max_facts", "write pararel_max_facts = 20"),
    ("limits", 'becel_symmetric_max_share = "0.2"', "becel_symmetric_max_share",
     "write becel_symmetric_max_share = 0.2"),
    ("limits", 'pararel_relations = ["36"]', "pararel_relations", 'such as "P36"'),
    ("limits", "mmlu_subjects = []", "mmlu_subjects", "non-empty list"),
    ("limits", 'becel_tasks = ["snli", "nli"]', "becel_tasks", '"snli", "rte", "mrpc", "wic"'),
    ("limits", 'mrpc_split = "validation"', "mrpc_split", '"train", "dev", "test"'),
    ("sweep", 'analyses = ["gapp"]', "analyses", 'write analyses = ["gap"]'),
    ("sweep", "prompts = [3]", "prompts", "got [3]"),
    ("sweep", 'device = "gpu"', "device", 'a torch device such as "cpu"'),
    ("sweep", 'dtype = "int3"', "dtype", '"bfloat16"'),
    ("sweep", 'notes = "hello"', "notes", 'write notes = ["hello"]'),
    ("models", 'is_chat = "yes"', "is_chat", "write is_chat = true"),
    ("models", 'spec = "gemma3-270"', "spec", "did you mean the offline alias 'gemma3-270m'?"),
    ("models", 'spec = "tiny:llama-chta"', "spec", "did you mean 'tiny:llama-chat'?"),
    ("models", 'spec = "not a model!"', "spec", "unknown model spec"),
]


@pytest.mark.parametrize("section, line, key, says", BAD, ids=[b[1] for b in BAD])
def test_a_bad_value_names_the_file_the_key_and_a_fix(tmp_path: Path, section: str, line: str,
                                                     key: str, says: str):
    if section == "models" and line.startswith("spec"):
        p = tmp_path / "sweep.toml"
        p.write_text(GOOD.replace('spec = "tiny:gemma3"', line))
    else:
        p = write(tmp_path, section, line)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: "), msg
    assert key in msg and says in msg, msg
    if section != "models":
        assert f"[{section}] {key} must be" in msg, msg


def test_good_values_are_kept_with_their_types(tmp_path: Path):
    p = tmp_path / "sweep.toml"
    p.write_text(GOOD.replace("[limits]\n", '[limits]\nbecel_tasks = ["rte"]\n'
                              "becel_symmetric_max_share = 0.5\nn_boot = 100\n")
                 .replace("[sweep]\n", '[sweep]\nprompts = [2, 0]\ndevice = "cuda:1"\n'
                          'dtype = "bf16"\nwikipedia_offline = false\nseed = 7\n'))
    cfg = load_config(p)
    assert cfg.prompts == (2, 0) and cfg.limits.becel_tasks == ("rte",)
    assert cfg.device == "cuda:1" and cfg.dtype == "bf16" and cfg.wikipedia_offline is False
    assert cfg.limits.n_boot == 100 and cfg.seed == 7
    assert cfg.output == str((tmp_path / "out").resolve())


def test_unknown_keys_and_sections_still_raise(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"unknown \[sweep\] \['batch_szie'\] \(did you mean "
                                          r"'batch_size'\?\)"):
        load_config(write(tmp_path, "sweep", "batch_szie = 4"))
    with pytest.raises(ConfigError, match=r'unknown \[\[models\]\] #1 \("tiny"\) '
                                          r"\['lable'\] \(did you mean 'label'"):
        load_config(write(tmp_path, "models", 'lable = "x"'))
    with pytest.raises(ConfigError, match=r"\[sweep\] \['source'\]"):  # not a key of the file
        load_config(write(tmp_path, "sweep", 'source = "x"'))
    with pytest.raises(ConfigError, match="unknown dataset 'mrcp' \\(did you mean 'mrpc'"):
        load_config(write(tmp_path, "datasets", 'mrcp = "data"'))
    with pytest.raises(ConfigError, match=r"\[datasets\] mrpc must be a path"):
        load_config(write(tmp_path, "datasets", "mrpc = 3"))


def test_every_key_has_a_type_the_checker_knows():
    """Each field of the three tables is checked (a new key with an unhandled type fails here),
    and the tables of rules and choices name only real keys."""
    for cls, section, tables in ((SweepConfig, "sweep", {"models", "datasets", "limits", "source"}),
                                 (ModelConfig, "models", set()), (Limits, "limits", set())):
        names = {f.name for f in fields(cls)}
        assert set(_keys(cls, section)) == names - tables
        assert set(RULES[section]) <= names
    every = {f.name for c in (SweepConfig, ModelConfig, Limits) for f in fields(c)}
    assert set(CHOICES) <= every


def test_shipped_configs_load(repo_root: Path):
    cfg = load_config(repo_root / "configs" / "paper.toml")
    assert cfg.models and cfg.limits.n_boot >= 100


def test_test_and_demo_configs_load(tmp_path: Path, demo_data: Path):
    from interp.demo import demo_config
    from test_cli import CONFIG as CLI_CONFIG
    from test_sweep import CONFIG as SWEEP_CONFIG

    for i, text in enumerate((CLI_CONFIG, SWEEP_CONFIG)):
        p = tmp_path / f"{i}.toml"
        p.write_text(text.format(out=tmp_path / "out", data=demo_data))
        assert load_config(p).models
    assert demo_config(tmp_path / "r").models
    assert demo_config(tmp_path / "r", real_data=tmp_path).limits.becel_max_eval == 200


def test_from_dict_rejects_a_non_list_models():
    with pytest.raises(ConfigError, match=r"x: models must be an array of tables"):
        from_dict({"models": {"label": "a", "spec": "tiny:llama"}}, source="x")


# ---------------------------------------------------------------------------- resolve_spec


@pytest.mark.parametrize("spec, kind, source", [
    ("tiny:llama", "tiny", "llama"),
    ("tiny:gemma3-chat-seed3", "tiny", "gemma3"),
    ("tiny:llama-seed2-chat", "tiny", "llama"),
    ("gemma3-270m", "alias", "gemma3-270m"),
    ("meta-llama/Llama-2-7b-hf", "hub", "meta-llama/Llama-2-7b-hf"),
    ("gpt2", "hub", "gpt2"),
])
def test_resolve_spec_says_what_a_spec_is(spec: str, kind: str, source: str):
    r = resolve_spec(spec, check_files=False)
    assert (r.kind, r.source) == (kind, source)
    assert r.describe()


def test_resolve_spec_tiny_options():
    r = resolve_spec("tiny:gemma3-chat-seed3")
    assert (r.chat, r.seed) == (True, 3)
    assert not resolve_spec("tiny:llama").chat


@pytest.mark.parametrize("spec, says", [
    ("tiny:llama-chta", "'chta' is not an option"),
    ("tiny:gpt2", "'gpt2' is not a tiny architecture"),
    ("tiny:llama-chat-chat", "-chat is given twice"),
    ("gemma3-270", "did you mean the offline alias 'gemma3-270m'"),
    ("smollm2-135m-instuct", "did you mean the offline alias 'smollm2-135m-instruct'"),
    ("/no/such/model-dir", "does not exist"),
    ("./no-such-model", "does not exist"),
    ("not a model!", "not loadable as a Hugging Face hub id"),
    ("owner/na me", "not loadable as a Hugging Face hub id"),
    ("-bad/name", "not loadable as a Hugging Face hub id"),
    ("", "non-empty string"),
])
def test_resolve_spec_errors(spec: str, says: str):
    with pytest.raises(ModelLoadError) as e:
        resolve_spec(spec)
    assert says in str(e.value)


def test_tiny_errors_list_the_known_names():
    with pytest.raises(ModelLoadError) as e:
        resolve_spec("tiny:llama-chta")
    assert "tiny:llama, tiny:llama-chat, tiny:gemma3, tiny:gemma3-chat" in str(e.value)


def test_local_directories(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        resolve_spec(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    r = resolve_spec(str(tmp_path))
    assert (r.kind, r.source, r.checked) == ("local", str(tmp_path), True)
    missing = resolve_spec("/no/such/model-dir", check_files=False)  # a config read elsewhere
    assert (missing.kind, missing.checked) == ("local", False)


def test_load_model_uses_resolve_spec():
    """``tiny:llama-chta`` used to load a base tiny model; both now refuse it the same way."""
    with pytest.raises(ModelLoadError, match="'chta' is not an option"):
        load_model("tiny:llama-chta")
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model("/no/such/model-dir")


# ---------------------------------------------------------------------------- the dry run


def test_dry_run_rejects_a_misspelled_spec(tmp_path: Path, capsys):
    p = tmp_path / "sweep.toml"
    p.write_text(GOOD.replace('spec = "tiny:gemma3"', 'spec = "tiny:gemma-3"'))
    assert main(["sweep", str(p), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"interp sweep: {p}: [[models]] #1 (\"tiny\") spec: unknown tiny "
                          "model 'tiny:gemma-3'"), err


def test_dry_run_checks_the_files_of_each_model(tmp_path: Path, capsys):
    p = tmp_path / "sweep.toml"
    p.write_text(GOOD + '\n[[models]]\nlabel = "gone"\nspec = "/no/such/model-dir"\n')
    assert main(["sweep", str(p), "--dry-run"]) == 2
    cap = capsys.readouterr()
    assert "tiny: tiny:gemma3 -> tiny random gemma3 model" in cap.out
    assert "gone: CANNOT LOAD" in cap.out
    assert f"{p}: [[models]] 'gone' spec: model directory '/no/such/model-dir' does not exist" \
        in cap.err
    # a Ray sweep's workers hold the files: only the form is checked here
    assert main(["sweep", str(p), "--dry-run", "--executor", "ray"]) == 0
    assert "(not checked here)" in capsys.readouterr().out
