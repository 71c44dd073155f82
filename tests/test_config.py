from __future__ import annotations

import argparse
import dataclasses

import pytest

from oncogpt.config import (
    ConfigError,
    add_config_flags,
    field_docs,
    flag_overrides,
    load_config,
)


@dataclasses.dataclass
class Example:
    lora_r: int = 8
    """LoRA rank."""
    learning_rate: float = 3e-4
    """Peak learning rate."""
    modules: list[str] = dataclasses.field(default_factory=lambda: ["q_proj", "v_proj"])
    """Modules that get adapters."""
    train_on_inputs: bool = False
    """Train on the patient's words too."""
    output_dir: str | None = None
    """Where to write."""

    def __post_init__(self) -> None:
        if self.lora_r < 1:
            raise ValueError(f"lora_r must be >= 1, got {self.lora_r}")


def test_field_docs_are_read_from_the_class():
    assert field_docs(Example)["lora_r"] == "LoRA rank."
    assert set(field_docs(Example)) == {f.name for f in dataclasses.fields(Example)}


def test_yaml_then_flags_override(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("lora_r: 4\nlearning_rate: 1e-4\nmodules: [q_proj]\n")
    parser = argparse.ArgumentParser()
    add_config_flags(parser, Example)
    args = parser.parse_args(["--lora-r", "16", "--train_on_inputs", "true", "--modules", "a,b"])
    config = load_config(Example, path, **flag_overrides(args, Example))
    assert config == Example(
        lora_r=16, learning_rate=1e-4, modules=["a", "b"], train_on_inputs=True
    )


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("lora_rank: 4\n", "unknown field"),
        ("lora_r: many\n", r"x.yaml.lora_r"),
        ("lora_r: 0\n", "lora_r must be >= 1"),
        ("train_on_inputs: maybe\n", "not a boolean"),
        ("- 1\n- 2\n", "expected a mapping"),
        ("lora_r: [\n", "invalid YAML"),
    ],
)
def test_bad_configs_name_the_file_and_field(tmp_path, yaml_text, message):
    path = tmp_path / "x.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(Example, path)
    assert "x.yaml" in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(Example, tmp_path / "none.yaml")
