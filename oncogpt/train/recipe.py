"""The training recipe, one readable file: setup, train, save, cleanup — for every stage.

Stages run in order; each starts from the previous stage's result. By default one adapter is
trained on through the stages (`stage_mode: continue`): the result is a single small adapter
for the original base model, nothing large is written between stages, and the curriculum acts
like continued training. `stage_mode: merge` merges each stage into the base weights and
trains a fresh adapter on top; it adds capacity per stage at the cost of a full model copy.

Several processes (torchrun) train data-parallel (DDP): rank 0 writes each stage's outputs,
every rank waits for it at a barrier and continues from the same files. DeepSpeed and FSDP are
refused (`check_launch`): for LoRA they shard nothing worth sharding, and ZeRO-2's evaluation
before training and a rank-0 save of a sharded adapter do not work.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from oncogpt import __version__
from oncogpt.config import save_yaml
from oncogpt.errors import OncoGPTError
from oncogpt.prompts import Template, choose_template, save_template
from oncogpt.train.config import StageConfig, TrainConfig
from oncogpt.train.data import (
    ConversationDataset,
    check_dataset_dir,
    dataset_hashes,
    load_split,
)
from oncogpt.train.env import (
    is_main_process,
    local_rank,
    resolve_precision,
    wait_for_everyone,
    world_size,
)
from oncogpt.train.loop import EvaluateFirst, build_trainer

COMPLETE = ".complete"


class TrainError(OncoGPTError, RuntimeError):
    """Training cannot start or go on; the message says why and what to do."""


@dataclass
class StageResult:
    name: str
    output_dir: Path
    adapter_dir: Path
    metrics: dict[str, Any]
    merged_dir: Path | None = None


LAUNCH_HINT = "torchrun --nproc_per_node N -m oncogpt train --config …"


def check_launch(config: TrainConfig) -> None:
    """Refuse, before anything is loaded, the launches that cannot train correctly."""
    from oncogpt.models import native_cuda_bf16

    for var, name in (("ACCELERATE_USE_DEEPSPEED", "DeepSpeed"), ("ACCELERATE_USE_FSDP", "FSDP")):
        if os.environ.get(var, "").lower() in ("1", "true", "yes"):
            raise TrainError(
                f"{name} is not supported: for LoRA the frozen base is replicated anyway and the "
                f"trainable weights are a few MB, so use DDP: `{LAUNCH_HINT}` "
                "(docs/training.md, 'Several processes and GPUs')"
            )
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus > 1 and world_size() == 1:
        raise TrainError(
            f"{gpus} GPUs are visible to one process (it would fall back to nn.DataParallel); "
            f"launch one process per GPU: `torchrun --nproc_per_node {gpus} -m oncogpt train "
            "--config …`, or choose one GPU with CUDA_VISIBLE_DEVICES=0"
        )
    per_step = config.micro_batch_size * world_size()
    if config.batch_size % per_step:
        raise TrainError(
            f"batch_size ({config.batch_size}) must be a multiple of micro_batch_size × "
            f"processes ({config.micro_batch_size} × {world_size()} = {per_step})"
        )
    precision = resolve_precision(config.precision)
    quantized = config.load_in_8bit or config.load_in_4bit
    if not gpus and precision == "fp16":
        raise TrainError("precision fp16 needs a CUDA GPU; on a CPU use auto, bf16 or fp32")
    if gpus and precision == "bf16" and not native_cuda_bf16():
        raise TrainError(
            "precision bf16: this GPU has no native bf16 (compute capability below 8.0) and "
            "would emulate it slowly; use precision fp16 (or auto)"
        )
    if quantized and not gpus:
        raise TrainError("load_in_8bit/load_in_4bit need a CUDA GPU (bitsandbytes)")
    if quantized and importlib.util.find_spec("bitsandbytes") is None:
        raise TrainError("load_in_8bit/load_in_4bit need bitsandbytes: pip install 'oncogpt[gpu]'")


def base_load_kwargs(config: TrainConfig) -> dict[str, Any]:
    """How the frozen base is loaded: in the training precision (an fp16 run gets an fp16
    base, not an fp32 one twice its size), straight onto this process's own GPU (LOCAL_RANK:
    with torchrun each rank must hold its copy on its GPU, which bitsandbytes models cannot be
    moved to later), and for 4-bit as QLoRA: NF4 with double quantization, computing in the
    training precision."""
    from oncogpt.models import torch_dtype

    dtype = torch_dtype(resolve_precision(config.precision))
    kwargs: dict[str, Any] = {"dtype": dtype}
    if torch.cuda.is_available():
        kwargs["device_map"] = {"": local_rank()}
    if config.load_in_8bit or config.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_8bit=config.load_in_8bit,
            load_in_4bit=config.load_in_4bit,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    return kwargs


def check_target_modules(model: Any, targets: list[str]) -> None:
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = sorted(set(targets) - names)
    if missing:
        linear = sorted(
            {
                n.rsplit(".", 1)[-1]
                for n, m in model.named_modules()
                if isinstance(m, torch.nn.Linear)
            }
        )
        raise TrainError(
            f"lora_target_modules {missing} do not exist in {type(model).__name__}; "
            f"linear modules there: {linear}"
        )


def setup_model(config: TrainConfig, base: Path, adapter: Path | None) -> tuple[Any, Any]:
    """The base model with a trainable LoRA adapter (new, or the previous stage's)."""
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    from oncogpt.models import load_tokenizer

    # The frozen base is stored in the training precision, so autocast has no casts to redo at
    # every step; the LoRA weights stay fp32 (peft keeps adapters in fp32).
    model = AutoModelForCausalLM.from_pretrained(
        base, use_safetensors=True, trust_remote_code=False, **base_load_kwargs(config)
    )
    if config.load_in_8bit or config.load_in_4bit:
        # peft's k-bit recipe: norms and embeddings in fp32 for stable training; checkpointing
        # is Trainer's (TrainingArguments.activation_checkpointing), not switched on here.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model.config.use_cache = False  # no KV cache is needed to train (alpaca-lora does the same)
    tokenizer = load_tokenizer(base)
    check_target_modules(model, config.lora_target_modules)
    if adapter is not None:
        return PeftModel.from_pretrained(model, adapter, is_trainable=True), tokenizer
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora), tokenizer


def setup_data(
    config: TrainConfig, stage: StageConfig, tokenizer: Any, template: Template
) -> tuple[ConversationDataset, ConversationDataset]:
    path = Path(stage.data_path or config.data_path)
    check_dataset_dir(path)
    train_convs = load_split(path, "train", stage.name, stage.max_train_samples, config.seed)
    val_convs = load_split(path, "validation", stage.name, config.val_set_size, config.seed)
    if not train_convs:
        raise TrainError(f"{path}: no training conversations for stage {stage.name!r}")
    make = lambda convs: ConversationDataset(  # noqa: E731
        convs, tokenizer, template, config.cutoff_len, config.train_on_inputs
    )
    train_set = make(train_convs)
    if not len(train_set):
        raise TrainError(
            f"stage {stage.name!r}: none of {len(train_convs)} conversations fits cutoff_len "
            f"{config.cutoff_len} ({dict(train_set.fit_counts)}); raise cutoff_len"
        )
    return train_set, make(val_convs)


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint that was completely written (a killed save has no marker)."""
    complete = [p for p in folder.glob("checkpoint-*") if (p / COMPLETE).is_file()]
    return max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)


def check_free_space(folder: Path, model: Any) -> None:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    need = trainable * 4 * 4 + (64 << 20)  # weights, two Adam moments, gradients, slack
    free = shutil.disk_usage(folder).free
    if free < need:
        raise TrainError(
            f"{folder}: only {free >> 20} MiB free, training needs about {need >> 20} MiB "
            "for checkpoints; free some space"
        )


def save_adapter(model: Any, out: Path, template: Template | None = None) -> Path:
    """Write the adapter atomically, with the template it was trained with (inference's
    `--template auto` uses it), and check it is not empty (alpaca-lora's old failure)."""
    final = out / "adapter"
    tmp = Path(tempfile.mkdtemp(prefix=".adapter.", dir=out))
    model.save_pretrained(tmp, safe_serialization=True)
    if template is not None:
        save_template(template, tmp)
    from safetensors.torch import load_file

    weights = load_file(tmp / "adapter_model.safetensors")
    lora_b = [t for k, t in weights.items() if "lora_B" in k]
    if not lora_b or all(float(t.abs().sum()) == 0 for t in lora_b):
        shutil.rmtree(tmp)
        raise TrainError(f"{final}: the trained adapter is empty (all LoRA B weights are zero)")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def write_outputs(out: Path, config: TrainConfig, stage: StageConfig, metrics: dict) -> None:
    import peft
    import transformers

    save_yaml(config, out / "config.yaml")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    manifest = {
        "stage": stage.name,
        "base_model": config.base_model,
        "seed": config.seed,
        "data": dataset_hashes(Path(stage.data_path or config.data_path)),
        "versions": {
            "oncogpt": __version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def run_stage(
    config: TrainConfig,
    stage: StageConfig,
    base: Path,
    adapter: Path | None,
    callbacks: Sequence[TrainerCallback] = (),
) -> StageResult:
    out = Path(config.output_dir) / stage.name
    if (out / "metrics.json").is_file() and (out / "adapter").is_dir():
        metrics = json.loads((out / "metrics.json").read_text())
        merged = out / "merged" if (out / "merged").is_dir() else None
        return StageResult(stage.name, out, out / "adapter", metrics, merged)  # done before
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model, tokenizer = setup_model(config, base, adapter)
    template = choose_template(config.template, tokenizer)
    train_set, val_set = setup_data(config, stage, tokenizer, template)
    check_free_space(out, model)
    trainer = build_trainer(
        config, stage, model, tokenizer, train_set, val_set, out, callbacks=callbacks
    )
    metrics: dict[str, Any] = {"stage": stage.name, "fit": dict(train_set.fit_counts)}
    metrics["train_examples"], metrics["val_examples"] = len(train_set), len(val_set)
    if len(val_set):
        trainer.add_callback(EvaluateFirst(trainer, metrics))
    resume = resolve_resume(config, out)
    started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise TrainError(
                f"{out}: the disk is full; free space and rerun with "
                "--resume_from_checkpoint auto (the last complete checkpoint is kept)"
            ) from None
        raise
    metrics.update(train_loss=result.training_loss, steps=result.global_step)
    metrics["train_seconds"] = round(time.perf_counter() - started, 2)
    if len(val_set):
        metrics["eval_loss"] = trainer.evaluate()["eval_loss"]
    # DDP keeps every rank's weights equal, so rank 0 writes for all; the others wait for it
    # and then continue from the very same files (adapter, or merged model in merge mode).
    if is_main_process():
        save_adapter(model, out, template)
        if config.stage_mode == "merge":
            save_merged(model, tokenizer, out)
        write_outputs(out, config, stage, metrics)
    wait_for_everyone()
    merged = out / "merged" if config.stage_mode == "merge" else None
    return StageResult(stage.name, out, out / "adapter", metrics, merged)


def save_merged(model: Any, tokenizer: Any, out: Path) -> Path:
    final = out / "merged"
    tmp = Path(tempfile.mkdtemp(prefix=".merged.", dir=out))
    merged = model.merge_and_unload()
    merged.config.use_cache = True  # turned off for training only
    merged.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def resolve_resume(config: TrainConfig, out: Path) -> Path | None:
    choice = config.resume_from_checkpoint
    if choice is None:
        return None
    if choice == "auto":
        return latest_checkpoint(out / "checkpoints")
    path = Path(choice)
    if not (path / COMPLETE).is_file() and not (path / "trainer_state.json").is_file():
        raise TrainError(f"{path}: not a complete checkpoint folder")
    return path


def train(config: TrainConfig, callbacks: Sequence[TrainerCallback] = ()) -> list[StageResult]:
    """Run every stage in order; each starts from the previous stage's result. `callbacks`
    are added to every stage's Trainer (tests kill a run at a chosen step with one)."""
    from oncogpt.models import resolve_model

    check_launch(config)
    base = resolve_model(config.base_model)
    adapter: Path | None = None
    results = []
    for stage in config.stages:
        result = run_stage(config, stage, base, adapter, callbacks)
        results.append(result)
        if config.stage_mode == "merge" and result.merged_dir is not None:
            base, adapter = result.merged_dir, None
        else:
            adapter = result.adapter_dir
    return results
