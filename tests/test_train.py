from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from oncogpt.cli import main
from oncogpt.config import load_config
from oncogpt.conversation import Conversation, write_conversations
from oncogpt.train.config import TrainConfig
from oncogpt.train.recipe import TrainError, latest_checkpoint, train

ROOT = Path(__file__).resolve().parents[1]
QA = [
    ("My CEA is rising after FOLFOX. Is the tumor growing again?", "A CT scan will tell."),
    ("Can EGFR lung cancer be treated with a pill?", "Osimertinib treats EGFR lung cancer."),
    ("Fever during chemotherapy, what now?", "Call your oncology team now."),
    ("Is HER2 breast cancer stage IIIB curable?", "Trastuzumab with chemotherapy helps."),
]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dataset")
    for split, n in (("train", 24), ("validation", 4)):
        convs = [
            Conversation.single(q, a, id=f"{split}-{stage}-{i}", meta={"stage": stage})
            for stage in ("general", "oncology")
            for i in range(n)
            for q, a in [QA[i % len(QA)]]
        ]
        write_conversations(folder / f"{split}.jsonl", convs)
    return folder


def _config(tiny_model_dir, dataset_dir, out, **kw) -> TrainConfig:
    base = dict(
        base_model=str(tiny_model_dir),
        data_path=str(dataset_dir),
        output_dir=str(out),
        batch_size=4,
        micro_batch_size=2,
        learning_rate=5e-3,
        warmup_steps=1,
        max_steps=6,
        eval_steps=3,
        save_steps=2,
        logging_steps=1,
        cutoff_len=256,
        val_set_size=8,
        precision="fp32",
        stages=[{"name": "oncology"}],
    )
    base.update(kw)
    return load_config(TrainConfig, None, **base)


def _adapter(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(path / "adapter" / "adapter_model.safetensors")


def test_adapter_is_saved_non_trivial_and_changes_logits(tiny_model_dir, dataset_dir, tmp_path):
    from oncogpt.generate import Engine
    from oncogpt.models import load_model

    # The tiny model ships its own (ChatML) template; the adapter is trained with `oncogpt`.
    (result,) = train(_config(tiny_model_dir, dataset_dir, tmp_path / "run", template="oncogpt"))
    for adapter, template, expected in [
        (result.adapter_dir, "auto", "oncogpt"),  # auto follows the adapter, not the model
        (None, "auto", "model"),
        (result.adapter_dir, "model", "model"),  # an explicit choice still wins
    ]:
        engine = Engine.load(tiny_model_dir, adapter, template, decoder="plain")
        assert engine.template.name == expected, (adapter, template)
    weights = _adapter(result.output_dir)
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in weights.items())
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    base, _ = load_model(tiny_model_dir)
    tuned, _ = load_model(tiny_model_dir, adapter=result.adapter_dir)
    with torch.inference_mode():
        assert not torch.allclose(base(ids).logits, tuned(ids).logits, atol=1e-4)
    metrics = json.loads((result.output_dir / "metrics.json").read_text())
    assert metrics["eval_loss"] < metrics["base_eval_loss"]
    for name in ("config.yaml", "manifest.json", "metrics.csv"):
        assert (result.output_dir / name).is_file()
    assert yaml.safe_load((result.output_dir / "config.yaml").read_text())["lora_r"] == 8


def test_stages_continue_from_previous_stage(tiny_model_dir, dataset_dir, tmp_path):
    config = _config(
        tiny_model_dir, dataset_dir, tmp_path / "run",
        stages=[{"name": "general"}, {"name": "oncology", "max_steps": 2}],
    )  # fmt: skip
    general, oncology = train(config)
    # The oncology stage starts where the general stage ended, not from the base model.
    assert oncology.metrics["start_eval_loss"] < oncology.metrics["base_eval_loss"]
    merged = train(_config(tiny_model_dir, dataset_dir, tmp_path / "m", stage_mode="merge"))
    assert (merged[0].output_dir / "merged" / "config.json").is_file()


KILL_SCRIPT = """
import os, signal, sys
from transformers import TrainerCallback
from oncogpt.config import load_config
from oncogpt.train.config import TrainConfig
from oncogpt.train.recipe import train

class Kill(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        if state.global_step == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

callbacks = [Kill()] if sys.argv[2] != "0" else []
import yaml
train(load_config(TrainConfig, None, **yaml.safe_load(open(sys.argv[1]))), callbacks)
"""


def _run(script: Path, config_file: Path, kill_at: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(script), str(config_file), str(kill_at)], env=env,
                          capture_output=True).returncode  # fmt: skip


def test_killed_run_resumes_to_the_same_final_state(tiny_model_dir, dataset_dir, tmp_path):
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    configs = {}
    for name in ("straight", "killed"):
        config = _config(tiny_model_dir, dataset_dir, tmp_path / name, lora_dropout=0.05)
        configs[name] = tmp_path / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump({**vars(config), "stages": [{"name": "oncology"}]}))
    assert _run(script, configs["straight"], 0) == 0
    assert _run(script, configs["killed"], 5) == -9  # killed after step 5's checkpoint-4
    ckpt = latest_checkpoint(tmp_path / "killed" / "oncology" / "checkpoints")
    assert ckpt is not None and ckpt.name == "checkpoint-4"
    resumed = yaml.safe_load(configs["killed"].read_text()) | {"resume_from_checkpoint": "auto"}
    configs["killed"].write_text(yaml.safe_dump(resumed))
    assert _run(script, configs["killed"], 0) == 0
    a = _adapter(tmp_path / "straight" / "oncology")
    b = _adapter(tmp_path / "killed" / "oncology")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


TORCHRUN_SCRIPT = """
import hashlib, json, os, sys
import torch, yaml
from transformers import TrainerCallback
from oncogpt.config import load_config
from oncogpt.train import recipe
from oncogpt.train.config import TrainConfig

def digest(model):
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode() + p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()

seen = []
real_setup = recipe.setup_model

def recording_setup(config, base, adapter):
    model, tokenizer = real_setup(config, base, adapter)
    # what this rank starts the stage from, before DDP's broadcast from rank 0 could hide it
    seen.append({"base": str(base), "adapter": str(adapter), "start": digest(model)})
    return model, tokenizer

class AtEnd(TrainerCallback):
    def on_train_end(self, args, state, control, model=None, **kw):
        seen[-1]["end"] = digest(model)

recipe.setup_model = recording_setup
for mode in ("continue", "merge"):
    seen.clear()
    raw = yaml.safe_load(open(sys.argv[1]))
    raw.update(stage_mode=mode, output_dir=os.path.join(raw["output_dir"], mode))
    recipe.train(load_config(TrainConfig, None, **raw), [AtEnd()])
    with open(os.path.join(raw["output_dir"], f"rank{os.environ['RANK']}.json"), "w") as fh:
        json.dump(seen, fh)
"""


@pytest.mark.torchrun
def test_two_processes_two_stages_end_with_the_same_adapter(tiny_model_dir, dataset_dir, tmp_path):
    """torchrun on the CPU (gloo), two stages in both stage modes: every rank starts each stage
    from the same base and adapter (the files rank 0 wrote, after the barrier) and ends it with
    the same weights. ~40 s on 2 cores."""
    config = _config(
        tiny_model_dir, dataset_dir, tmp_path / "ddp", max_steps=2, val_set_size=4,
        eval_steps=0, save_steps=100, logging_steps=1,
    )  # fmt: skip
    stages = [{"name": "general"}, {"name": "oncology"}]
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump({**vars(config), "stages": stages}))
    script = tmp_path / "ranks.py"
    script.write_text(TORCHRUN_SCRIPT)
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", str(script), str(path)],
        capture_output=True, text=True, timeout=240,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for mode in ("continue", "merge"):
        out = tmp_path / "ddp" / mode
        rank0, rank1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
        assert len(rank0) == 2 and rank0 == rank1, mode
        general, oncology = rank0
        assert general["start"] != general["end"] and oncology["start"] != general["start"]
        if mode == "continue":
            assert oncology["adapter"] == str(out / "general" / "adapter")
        else:
            assert (oncology["base"], oncology["adapter"]) == (str(out / "general/merged"), "None")
        metrics = json.loads((out / "oncology" / "metrics.json").read_text())
        assert metrics["steps"] == 2


def test_gradient_checkpointing_trains_lora_the_same(
    tiny_model_dir, dataset_dir, tmp_path, monkeypatch
):
    """Recomputed activations give the LoRA weights the same gradients: with the frozen
    embeddings' outputs not requiring grad, reentrant checkpointing would leave them none (an
    empty adapter, refused by save_adapter)."""
    import transformers.modeling_utils as mu

    calls = []
    real = mu.checkpoint
    monkeypatch.setattr(mu, "checkpoint", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    runs = {
        gc: train(
            _config(
                tiny_model_dir,
                dataset_dir,
                tmp_path / f"gc-{gc}",
                gradient_checkpointing=gc,
                lora_dropout=0.0,
                max_steps=3,
                val_set_size=0,
                save_steps=100,
            )
        )[0]  # fmt: skip
        for gc in (False, True)
    }
    assert calls and all(kw.get("use_reentrant") is False for kw in calls)  # it did recompute
    plain, checkpointed = (_adapter(runs[gc].output_dir) for gc in (False, True))
    for k in plain:
        torch.testing.assert_close(checkpointed[k], plain[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lora_target_modules": ["qkv_proj"]}, "do not exist in LlamaForCausalLM"),
        ({"data_path": "/nowhere"}, "no such dataset folder"),
        ({"stages": [{"name": "medical"}]}, "no training conversations for stage 'medical'"),
    ],
)
def test_clear_errors(tiny_model_dir, dataset_dir, tmp_path, overrides, message):
    with pytest.raises(Exception, match=message):
        train(_config(tiny_model_dir, dataset_dir, tmp_path / "e", **overrides))


def test_not_a_dataset_folder(tiny_model_dir, tmp_path):
    with pytest.raises(Exception, match="not a dataset folder"):
        train(_config(tiny_model_dir, tmp_path, tmp_path / "e"))


def test_full_disk_is_refused_before_training(tiny_model_dir, dataset_dir, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1, 1, 1024))
    with pytest.raises(TrainError, match="MiB free"):
        train(_config(tiny_model_dir, dataset_dir, tmp_path / "e"))


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--lora-dropout", "1.5", "lora_dropout must be in"),
        ("--micro_batch_size", "3", "multiple of micro_batch_size"),
        ("--learning-rate", "7", "learning_rate must be in"),
    ],
)
def test_out_of_range_hyperparameters(flag, value, message, capsys):
    assert (
        main(["train", "--config", str(ROOT / "configs/train/default-cpu.yaml"), flag, value]) == 2
    )
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def loss_setup(tiny_model_dir, tiny_tokenizer):
    """The tiny model with larger random weights (the default init would hide a wrong mask)
    and four rendered conversations of unequal length."""
    from oncogpt.prompts import choose_template
    from oncogpt.train.data import ConversationDataset
    from tests.conftest import load_sharpened_tiny_llama

    model = load_sharpened_tiny_llama(tiny_model_dir, seed=0)
    convs = [Conversation.single(q * (i + 1), a) for i, (q, a) in enumerate(QA)]
    template = choose_template("auto", tiny_tokenizer)
    return model, ConversationDataset(convs, tiny_tokenizer, template, 256).examples


def _answer_loss(model, batch) -> torch.Tensor:
    from oncogpt.train.data import answer_loss

    labels = batch.pop("labels")
    return answer_loss(model(**batch), labels)


def test_answer_only_logits_give_the_models_own_loss(loss_setup, tiny_tokenizer):
    from oncogpt.train.data import PadToLongest

    model, examples = loss_setup
    batch = PadToLongest(tiny_tokenizer.pad_token_id)(examples)
    assert batch["logits_to_keep"].sum() < batch["attention_mask"].sum() / 2  # prompts skipped
    reference = model(**{k: v for k, v in batch.items() if k != "logits_to_keep"}).loss
    torch.testing.assert_close(_answer_loss(model, batch), reference)


def test_packed_row_keeps_conversations_apart(loss_setup, tiny_tokenizer):
    """Same loss as the padded batch: if a conversation attended to the one before it in the
    row, or its first token were a target, the loss would differ."""
    from oncogpt.train.data import PackIntoRow, PadToLongest

    model, examples = loss_setup
    packed = PackIntoRow()(examples)
    assert packed["input_ids"].shape == (1, sum(len(e["input_ids"]) for e in examples))
    padded = _answer_loss(model, PadToLongest(tiny_tokenizer.pad_token_id)(examples))
    torch.testing.assert_close(_answer_loss(model, packed), padded)
    # Without position ids the row is one long sequence: the loss must change.
    packed = PackIntoRow()(examples)
    packed.pop("position_ids")
    assert not torch.allclose(_answer_loss(model, packed), padded)


def test_progress_bar_shows_loss_validation_loss_and_tokens_per_second():
    from oncogpt.train.loop import ProgressBar

    class Bar:
        def __init__(self):
            self.postfix = None

        def write(self, text):
            pass

        def set_postfix(self, postfix, refresh=True):
            self.postfix = dict(postfix)

    class State:
        is_world_process_zero = True

    progress = ProgressBar()
    progress.training_bar = Bar()
    progress.on_log(None, State(), None, logs={"loss": 2.5, "tokens_per_second": 301.4})
    progress.on_log(None, State(), None, logs={"eval_loss": 2.25})
    assert progress.training_bar.postfix == {"loss": "2.5000", "tok/s": "301", "val": "2.2500"}


def test_tensorboard_logger_writes_events_read_back(tiny_model_dir, dataset_dir, tmp_path):
    pytest.importorskip("tensorboard", reason="pip install 'oncogpt[tensorboard]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = _config(tiny_model_dir, dataset_dir, tmp_path / "run", logger="tensorboard")
    (result,) = train(config)
    events = sorted((result.output_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert events, f"no event file under {result.output_dir}"
    scalars = EventAccumulator(str(events[0].parent)).Reload()
    losses = scalars.Scalars("train/loss")
    assert len(losses) >= 3 and all(x.value > 0 for x in losses)
    assert "eval/loss" in scalars.Tags()["scalars"]
