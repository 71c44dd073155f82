from __future__ import annotations

import json
import shutil

import pytest
import torch

from oncogpt import models
from oncogpt.models import ModelError, check_model_dir, load_model, resolve_model


def test_folder_loads_as_safetensors_causal_lm(tiny_model_dir):
    model, tokenizer = load_model(tiny_model_dir)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert tokenizer.pad_token is not None
    assert resolve_model(str(tiny_model_dir)) == tiny_model_dir


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("no_config", "no config.json"),
        ("not_causal", "not a causal language model"),
        ("bin_only", "only safetensors"),
    ],
)
def test_bad_model_folders_get_one_line_errors(tiny_model_dir, tmp_path, breakage, message):
    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    if breakage == "no_config":
        (folder / "config.json").unlink()
    elif breakage == "not_causal":
        config = json.loads((folder / "config.json").read_text())
        config["architectures"] = ["BertModel"]
        (folder / "config.json").write_text(json.dumps(config))
    else:
        for f in folder.glob("*.safetensors"):
            f.rename(f.with_suffix(".bin"))
    with pytest.raises(ModelError, match=message) as info:
        resolve_model(folder)
    assert "\n" not in str(info.value)


def test_missing_path_and_missing_package_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="no such model folder"):
        resolve_model(tmp_path / "nowhere")
    with pytest.raises(ModelError, match="expected a model folder or a .gguf"):
        (tmp_path / "x.txt").write_text("x")
        resolve_model(tmp_path / "x.txt")
    monkeypatch.setitem(models.PACKAGED_MODELS, "ghost", ("no_such_pkg_xyz", "pip install ghost"))
    with pytest.raises(ModelError, match="pip install ghost"):
        resolve_model("ghost")


def test_killed_conversion_leaves_no_cache(tmp_path, monkeypatch):
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setenv("ONCOGPT_HOME", str(tmp_path / "home"))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained", killed)
    with pytest.raises(KeyboardInterrupt):
        models.convert_gguf(gguf)
    assert list((tmp_path / "home" / "models").iterdir()) == []


def test_adapter_for_another_base_is_refused(tiny_model_dir, tmp_path, tiny_tokenizer):
    from peft import LoraConfig, get_peft_model

    from tests.conftest import build_tiny_llama

    config = build_tiny_llama(tiny_tokenizer).config
    config.hidden_size = 64
    bigger = type(build_tiny_llama(tiny_tokenizer))(config)
    peft_model = get_peft_model(bigger, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(tmp_path / "adapter")
    with pytest.raises(ModelError, match="does not fit the base model"):
        load_model(tiny_model_dir, adapter=tmp_path / "adapter")
    with pytest.raises(ModelError, match="not an adapter folder"):
        load_model(tiny_model_dir, adapter=tmp_path)


def test_check_model_dir_returns_config(tiny_model_dir):
    assert check_model_dir(tiny_model_dir)["model_type"] == "llama"
    assert torch.get_default_dtype() == torch.float32


def test_default_adapter_is_the_shipped_one_on_the_default_base_only(tmp_path):
    from oncogpt.models import SHIPPED_ADAPTER, describe, resolve_adapter

    shipped = (SHIPPED_ADAPTER / "adapter_config.json").is_file()
    assert resolve_adapter("default", "default") == (SHIPPED_ADAPTER if shipped else None)
    assert resolve_adapter(tmp_path, "default") is None  # it fits no other base
    assert resolve_adapter("default", "none") is None and resolve_adapter("default", None) is None
    assert resolve_adapter("default", tmp_path / "a") == tmp_path / "a"
    assert describe("default", "none") == "SmolLM2-135M-Instruct"
    assert describe("default", "default") == (
        "SmolLM2-135M-Instruct+oncogpt" if shipped else "SmolLM2-135M-Instruct"
    )
    assert describe(tmp_path / "llama-7b", tmp_path / "onco") == "llama-7b+onco"
