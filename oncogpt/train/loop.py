"""The one training loop for every stage: transformers Trainer + PEFT, with our renderer's data.

Trainer brings gradient accumulation, checkpoint/resume with the same data order and RNG
state, evaluation, torchrun (DDP); what it lacks is added as small callbacks: a
CSV logger, trained tokens per second, and a marker that says a checkpoint was fully written.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import ProgressCallback, Trainer, TrainerCallback, TrainingArguments

from oncogpt.train.config import StageConfig, TrainConfig
from oncogpt.train.data import ConversationDataset, PackIntoRow, PadToLongest, answer_loss
from oncogpt.train.env import resolve_precision, world_size


class CsvLogger(TrainerCallback):
    """Appends every log (loss, eval_loss, tokens/s, lr) to metrics.csv."""

    COLUMNS = (
        "step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm",
        "tokens_per_second", "num_input_tokens_seen", "train_loss",
    )  # fmt: skip

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, "epoch": round(state.epoch or 0, 4), **logs}
        new = not self.path.exists()
        with self.path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.COLUMNS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


class TokensPerSecond(TrainerCallback):
    """Adds trained (non-padding) tokens per second to each log line."""

    def __init__(self) -> None:
        self.last = (time.perf_counter(), 0)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or "loss" not in logs:
            return
        now, seen = time.perf_counter(), int(state.num_input_tokens_seen or 0)
        then, before = self.last
        if now > then and seen > before:
            logs["tokens_per_second"] = round((seen - before) / (now - then), 1)
        self.last = (now, seen)


class ProgressBar(ProgressCallback):
    """Trainer's progress bar (steps, elapsed, ETA) with the latest loss, validation loss and
    trained tokens/s shown on it, not only in the log lines printed above it."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict[str, str] = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        super().on_log(args, state, control, logs=logs, **kwargs)
        if self.training_bar is None or not logs:
            return
        for key, name, fmt in (
            ("loss", "loss", "{:.4f}"),
            ("eval_loss", "val", "{:.4f}"),
            ("tokens_per_second", "tok/s", "{:.0f}"),
        ):
            if isinstance(logs.get(key), (int, float)):
                self.shown[name] = fmt.format(logs[key])
        self.training_bar.set_postfix(self.shown, refresh=True)


class MarkComplete(TrainerCallback):
    """Marks a checkpoint as complete once Trainer has written all of it."""

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / ".complete").write_text("ok\n")


class EvaluateFirst(TrainerCallback):
    """The validation loss of the base model (adapter off) and of the adapter the stage starts
    from, measured once train() has set the model up (on a resume: at the checkpoint).

    Not with `trainer.evaluate()` before `train()`: that lets accelerate mark the model as
    prepared (for evaluation, without DDP), so `train()` then skips the DDP wrapper and every
    torchrun rank trains on its own shard with no gradient sync (transformers 5.23, accelerate
    1.15: `Accelerator.prepare_model` returns a model flagged `_is_accelerate_prepared` as is).
    tests/test_train.py's two-process test catches it: the ranks' weights differ."""

    def __init__(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        self.trainer = trainer
        self.metrics = metrics

    def on_train_begin(self, args, state, control, **kwargs):
        model = self.trainer.model
        with model.disable_adapter():
            self.metrics["base_eval_loss"] = self.trainer.evaluate()["eval_loss"]
        self.metrics["start_eval_loss"] = self.trainer.evaluate()["eval_loss"]


def training_arguments(
    config: TrainConfig, stage: StageConfig, out: Path, has_eval: bool = True
) -> TrainingArguments:
    import torch

    accumulation = max(1, config.gradient_accumulation_steps // world_size())
    eval_steps = (config.eval_steps or None) if has_eval else None
    report = {"csv": [], "tensorboard": ["tensorboard"], "wandb": ["wandb"]}[config.logger]
    on_gpu = torch.cuda.is_available()
    precision = resolve_precision(config.precision)
    return TrainingArguments(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=config.micro_batch_size,
        per_device_eval_batch_size=config.micro_batch_size,
        gradient_accumulation_steps=accumulation,
        num_train_epochs=stage.num_epochs or config.num_epochs,
        max_steps=stage.max_steps or config.max_steps or -1,
        learning_rate=stage.learning_rate or config.learning_rate,
        warmup_steps=config.warmup_steps,
        lr_scheduler_type="linear",
        logging_steps=config.logging_steps,
        eval_strategy="steps" if eval_steps else "no",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=3,
        # On a CPU the frozen base is already stored in bf16 and peft runs LoRA in fp32, so
        # autocast would only add casts (measured ~5% slower); GPUs keep mixed precision.
        bf16=on_gpu and precision == "bf16",
        fp16=on_gpu and precision == "fp16",  # check_launch refuses fp16 on a CPU
        use_cpu=not on_gpu,
        # non-reentrant checkpointing, and inputs that require grad: LoRA gets its gradients
        # although the embeddings are frozen (transformers' activation_checkpointing_enable)
        activation_checkpointing=config.gradient_checkpointing,
        seed=config.seed,
        data_seed=config.seed,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        # packed rows have no padding, and their end tokens are the pad token: count them all
        include_num_input_tokens_seen="all" if config.packing else "non_padding",
        remove_unused_columns=False,
        prediction_loss_only=True,  # evaluation needs the loss, not every logit kept in memory
        report_to=report,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False if world_size() > 1 else None,
        disable_tqdm=False,
    )


def build_trainer(
    config: TrainConfig,
    stage: StageConfig,
    model: Any,
    tokenizer: Any,
    train_set: ConversationDataset,
    val_set: ConversationDataset,
    out: Path,
    callbacks: Sequence[TrainerCallback] = (),
) -> Trainer:
    trainer = Trainer(
        model=model,
        args=training_arguments(config, stage, out, has_eval=len(val_set) > 0),
        train_dataset=train_set,
        eval_dataset=val_set if len(val_set) else None,
        data_collator=PackIntoRow() if config.packing else PadToLongest(tokenizer.pad_token_id),
        processing_class=tokenizer,
        compute_loss_func=answer_loss,
        callbacks=[
            CsvLogger(out / "metrics.csv"),
            TokensPerSecond(),
            MarkComplete(),
            *callbacks,
        ],
    )
    if not trainer.args.disable_tqdm:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(ProgressBar())
    _tensorboard_beside_metrics(trainer, out)
    return trainer


def _tensorboard_beside_metrics(trainer: Any, out: Path) -> None:
    """TensorBoard events go to the stage folder's tensorboard/, not under checkpoints/ (its
    default), which is cleaned when the stage ends and would take the training curves along."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            callback.logging_dir = str(out / "tensorboard")
