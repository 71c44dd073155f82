"""The GPU path's decisions and refusals, on a CPU: CUDA availability is patched for the
decision logic only (nothing here runs a CUDA kernel). scripts/gpu-check.sh runs the real thing
on a GPU machine."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from oncogpt.cli import main
from oncogpt.config import load_config
from oncogpt.models import ModelError, Placement, choose_placement, load_model
from oncogpt.train.config import TrainConfig
from oncogpt.train.recipe import TrainError, base_load_kwargs, check_launch, resolve_precision

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def gpus(monkeypatch):
    """`gpus(n, native_bf16)` makes torch see n CUDA GPUs (0: none) of that kind."""

    def patch(n: int, native_bf16: bool = True) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        capability = (8, 0) if native_bf16 else (7, 0)  # A100 / V100
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=None: capability)
        monkeypatch.setattr(torch.version, "hip", None)

    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "ACCELERATE_USE_DEEPSPEED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    return patch


@pytest.mark.parametrize(
    ("n_gpus", "native_bf16", "device", "dtype", "expected"),
    [
        (0, False, "auto", "auto", Placement("cpu", "fp32")),  # today's CPU behaviour
        (0, False, "cpu", "bf16", Placement("cpu", "bf16")),
        (1, True, "auto", "auto", Placement("cuda:0", "bf16")),
        (1, False, "auto", "auto", Placement("cuda:0", "fp16")),  # V100: no emulated bf16
        (2, True, "cuda:1", "fp32", Placement("cuda:1", "fp32")),
        (1, True, "cuda", "bfloat16", Placement("cuda:0", "bf16")),
        (1, True, "cpu", "auto", Placement("cpu", "fp32")),
        (1, False, "CUDA", "fp16", Placement("cuda:0", "fp16")),
    ],
)
def test_device_and_dtype_decisions(gpus, n_gpus, native_bf16, device, dtype, expected):
    gpus(n_gpus, native_bf16)
    assert choose_placement(device, dtype) == expected


@pytest.mark.parametrize(
    ("n_gpus", "device", "dtype", "message"),
    [
        (0, "cuda", "auto", "no CUDA GPU is visible"),
        (0, "cuda:0", "auto", "no CUDA GPU is visible"),
        (2, "cuda:2", "auto", "only 2 CUDA GPU(s) are visible"),
        (1, "tpu", "auto", "expected auto"),
        (1, "cpu:1", "auto", "expected auto"),
        (1, "cuda:x", "auto", "expected auto"),
        (0, "cpu", "int8", "--dtype 'int8'"),
    ],
)
def test_impossible_placements_are_refused(gpus, n_gpus, device, dtype, message):
    gpus(n_gpus)
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        choose_placement(device, dtype)


@pytest.mark.parametrize(
    ("n_gpus", "device", "dtype", "want_map", "want_dtype"),
    [
        (0, "auto", "auto", None, torch.float32),
        (0, "cpu", "bf16", None, torch.bfloat16),
        (1, "auto", "auto", {"": "cuda:0"}, torch.bfloat16),
        (2, "cuda:1", "fp16", {"": "cuda:1"}, torch.float16),
    ],
)
def test_weights_load_straight_into_the_target_dtype_and_device(
    gpus, monkeypatch, tiny_model_dir, n_gpus, device, dtype, want_map, want_dtype
):
    """from_pretrained gets the dtype and a device_map (no fp32 copy on the host first); the
    real load then runs on the CPU with the device_map taken out."""
    from transformers import AutoModelForCausalLM

    real = AutoModelForCausalLM.from_pretrained
    seen = {}

    def spy(path, **kwargs):
        seen.update(kwargs)
        kwargs.pop("device_map", None)
        return real(path, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    gpus(n_gpus)
    model, _ = load_model(tiny_model_dir, device=device, dtype=dtype)
    assert seen.get("device_map") == want_map
    assert seen["dtype"] == want_dtype and model.dtype == want_dtype


def test_ask_on_a_machine_without_a_gpu_says_so(tiny_model_dir, capsys):
    argv = ["ask", "x", "--model", str(tiny_model_dir), "--device", "cuda"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU is visible" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["ask", "chat", "serve", "eval"])
def test_every_inference_command_has_device_and_dtype(command):
    from oncogpt.cli import build_parser

    extra = ["--data", "x", "--out", "y"] if command == "eval" else []
    args = build_parser().parse_args([command, *extra, "--device", "cuda:1", "--dtype", "fp16"])
    assert (args.device, args.dtype) == ("cuda:1", "fp16")


def test_fast_decoder_is_the_cpu_path_and_generate_the_gpu_path(tiny_tokenizer):
    from oncogpt.generate import Engine, GenerationError
    from oncogpt.prompts import choose_template

    template = choose_template("auto", tiny_tokenizer)
    on_gpu = SimpleNamespace(
        device=torch.device("cuda", 0), config=SimpleNamespace(max_position_embeddings=64)
    )
    assert Engine(on_gpu, tiny_tokenizer, template, "auto").decoder == "plain"
    with pytest.raises(GenerationError, match="decoder 'fast' is the CPU decoder"):
        Engine(on_gpu, tiny_tokenizer, template, "fast")


# --- training ---------------------------------------------------------------------------------


def _train_config(**kw) -> TrainConfig:
    base = dict(batch_size=8, micro_batch_size=2, stages=[{"name": "oncology"}])
    return load_config(TrainConfig, None, **{**base, **kw})


@pytest.mark.parametrize(
    ("n_gpus", "native_bf16", "precision", "expected"),
    [
        (1, True, "auto", "bf16"),
        (1, False, "auto", "fp16"),  # emulated bf16 does not count
        (1, True, "fp16", "fp16"),
        (0, False, "fp32", "fp32"),
    ],
)
def test_training_precision(gpus, n_gpus, native_bf16, precision, expected):
    gpus(n_gpus, native_bf16)
    assert resolve_precision(precision) == expected


@pytest.mark.parametrize(
    ("n_gpus", "local_rank", "overrides", "want"),
    [
        (0, None, {"precision": "fp32"}, {"dtype": torch.float32}),
        (1, None, {"precision": "fp16"}, {"dtype": torch.float16, "device_map": {"": 0}}),
        (2, "1", {"precision": "bf16"}, {"dtype": torch.bfloat16, "device_map": {"": 1}}),
    ],
)
def test_base_loads_in_the_training_precision_on_its_own_gpu(
    gpus, monkeypatch, n_gpus, local_rank, overrides, want
):
    gpus(n_gpus)
    if local_rank is not None:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    assert base_load_kwargs(_train_config(**overrides)) == want


@pytest.mark.parametrize(
    ("precision", "compute"), [("bf16", torch.bfloat16), ("fp16", torch.float16)]
)
def test_4bit_is_qlora_nf4_with_double_quant_computing_in_the_precision(
    gpus, monkeypatch, precision, compute
):
    gpus(2)
    monkeypatch.setenv("LOCAL_RANK", "1")
    kwargs = base_load_kwargs(_train_config(load_in_4bit=True, precision=precision))
    q = kwargs["quantization_config"]
    assert kwargs["device_map"] == {"": 1}  # each rank on its own GPU, not all on GPU 0
    assert q.load_in_4bit and not q.load_in_8bit
    assert q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == compute == kwargs["dtype"]


@pytest.mark.parametrize(
    ("n_gpus", "native_bf16", "env", "overrides", "message"),
    [
        (1, True, {"ACCELERATE_USE_DEEPSPEED": "true"}, {}, "DeepSpeed is not supported"),
        (2, True, {"ACCELERATE_USE_FSDP": "true", "WORLD_SIZE": "2"}, {}, "FSDP is not supported"),
        (2, True, {}, {}, "2 GPUs are visible to one process"),
        (0, False, {"WORLD_SIZE": "3"}, {}, r"micro_batch_size × processes \(2 × 3 = 6\)"),
        (0, False, {}, {"precision": "fp16"}, "precision fp16 needs a CUDA GPU"),
        (1, False, {}, {"precision": "bf16"}, "no native bf16"),
        (0, False, {}, {"load_in_4bit": True}, "need a CUDA GPU"),
        (1, True, {}, {"load_in_8bit": True}, r"pip install 'oncogpt\[gpu\]'"),
    ],
)
def test_launches_that_cannot_train_correctly_are_refused(
    gpus, monkeypatch, n_gpus, native_bf16, env, overrides, message
):
    import importlib.util

    gpus(n_gpus, native_bf16)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n: None if n == "bitsandbytes" else real_find_spec(n)
    )
    with pytest.raises(TrainError, match=message):
        check_launch(_train_config(**overrides))


def test_a_plain_launch_passes(gpus):
    gpus(1)
    check_launch(_train_config(precision="auto"))
    gpus(0)
    check_launch(_train_config(precision="auto"))


def test_merge_mode_on_a_quantized_base_is_refused():
    with pytest.raises(Exception, match="stage_mode merge with a quantized base"):
        _train_config(stage_mode="merge", load_in_4bit=True)


def test_deepspeed_launch_gets_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    assert main(["train", "--config", str(ROOT / "configs/train/default-cpu.yaml")]) == 2
    err = capsys.readouterr().err
    assert "DeepSpeed is not supported" in err and "torchrun" in err and "Traceback" not in err


def test_the_7b_preset_is_a_valid_config():
    config = load_config(TrainConfig, ROOT / "configs/train/oncogpt-7b.yaml")
    assert config.template == "oncogpt" and config.precision == "auto"
    assert config.batch_size % config.micro_batch_size == 0
