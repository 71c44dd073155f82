"""Training throughput: `oncogpt train`'s loop against alpaca-lora's recipe, same script.

Both train LoRA (r 8, q_proj/v_proj) on the default model, on the same rendered examples from
the real shared data, with the same hyperparameters and number of optimizer steps. The
baseline follows alpaca-lora: transformers Trainer + PEFT, fp32, random order, each batch padded
to its longest example, the model's own loss (logits at every position). Ours is `oncogpt
train`'s loop with its defaults: frozen base in bf16 with bf16 autocast (AVX512-BF16),
length-grouped micro batches (little padding), and logits only where an answer token is
predicted (the output layer and the loss skip the prompt). Prints trained (non-padding)
tokens/s over the training steps alone (evaluation excluded), the ratio, peak memory, and
both validation loss curves, taken at the same steps on the same conversations (they should
agree).

It also measures, in the same run, the CPU's matmul peak on the model's shapes (the MLP's
576x1536 matmuls over a micro batch of 4 x 256 tokens, in the dtype our loop computes in: bf16
where oneDNN has bf16 matmuls, else fp32; best of 5) and prints each recipe's utilisation:
trained tokens/s x FLOPs per token / peak. FLOPs per token are 4 x the model's linear weights
(forward 2, input gradient 2: the base is frozen, so there is no weight gradient; the LoRA
matrices are under 1% and left out; our loop's lm_head runs on answer tokens only, so this
slightly overstates its work).

    .venv/bin/python benchmarks/train_throughput.py --steps 12
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def conversations(n_train: int, n_val: int):
    from oncogpt.conversation import Conversation

    rows = json.loads((SHARED / "oncogpt_qa_public.json").read_text())
    rows += json.loads((SHARED / "genmedgpt5k.json").read_text())[:2000]
    convs = [Conversation.single(r.get("question") or r["input"], r["output"]) for r in rows]
    import random

    random.Random(0).shuffle(convs)
    return convs[:n_train], convs[n_train : n_train + n_val]


def run(mode: str, steps: int, out: Path) -> dict:
    from oncogpt.config import load_config
    from oncogpt.models import resolve_model
    from oncogpt.prompts import choose_template
    from oncogpt.train.config import StageConfig, TrainConfig
    from oncogpt.train.data import ConversationDataset
    from oncogpt.train.loop import build_trainer
    from oncogpt.train.recipe import setup_model

    ours = mode == "oncogpt"
    config = load_config(
        TrainConfig, None, batch_size=16, micro_batch_size=4, max_steps=steps, warmup_steps=2,
        eval_steps=max(1, steps // 3), save_steps=10_000, logging_steps=steps, cutoff_len=256,
        precision="auto" if ours else "fp32", group_by_length=ours, output_dir=str(out),
    )  # fmt: skip
    model, tokenizer = setup_model(config, resolve_model("default"), None)
    template = choose_template("auto", tokenizer)
    train_convs, val_convs = conversations(steps * 16, 64)
    train_set = ConversationDataset(train_convs, tokenizer, template, config.cutoff_len)
    val_set = ConversationDataset(val_convs, tokenizer, template, config.cutoff_len)
    trainer = build_trainer(
        config, StageConfig(name=mode), model, tokenizer, train_set, val_set, out
    )
    if not ours:
        from transformers import DataCollatorForSeq2Seq

        # alpaca-lora's collator (pad each batch to its longest, to a multiple of 8) and the
        # model's own loss over logits at every position.
        trainer.data_collator = DataCollatorForSeq2Seq(
            tokenizer, pad_to_multiple_of=8, return_tensors="pt", padding=True
        )
        trainer.compute_loss_func = None
    clock = step_clock()
    trainer.add_callback(clock)
    curve = [(0, trainer.evaluate()["eval_loss"])]
    result = trainer.train()
    curve += [(r["step"], r["eval_loss"]) for r in trainer.state.log_history if "eval_loss" in r]
    tokens = trainer.state.num_input_tokens_seen
    return {
        "mode": mode,
        "seconds": clock.seconds,
        "tokens": tokens,
        "tokens_per_second": tokens / clock.seconds,
        "eval_curve": curve,
        "train_loss": result.training_loss,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def matmul_peak() -> dict:
    """GFLOP/s of the model's MLP matmul (1024 x 576 by 576 x 1536) in the loop's dtype."""
    import torch

    from oncogpt.fastdecode import onednn_bf16

    dtype = torch.bfloat16 if onednn_bf16() else torch.float32
    x, w = torch.randn(1024, 576, dtype=dtype), torch.randn(1536, 576, dtype=dtype)
    flops = 2 * 1024 * 576 * 1536
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(20):
            torch.nn.functional.linear(x, w)
        best = min(best, (time.perf_counter() - start) / 20)
    return {"mode": "peak", "dtype": str(dtype), "gflops": flops / best / 1e9}


def flops_per_token() -> float:
    """4 x the default model's linear weights (lm_head included)."""
    import torch

    from oncogpt.models import load_model

    model, _ = load_model("default")
    return 4.0 * sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def step_clock():
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        """Time inside optimizer steps only: evaluation and saving happen between them."""

        def __init__(self) -> None:
            self.seconds, self.started = 0.0, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds += time.perf_counter() - self.started

    return Clock()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "peak":
        print(json.dumps({**matmul_peak(), "flops_per_token": flops_per_token()}))
        return
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run(args.child, args.steps, Path(tmp))))
        return
    results = {}
    for mode in ("peak", "alpaca-lora", "oncogpt"):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--steps", str(args.steps)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = results.pop("peak")
    print(f"matmul peak ({peak['dtype']}, the model's MLP shape): {peak['gflops']:.0f} GFLOP/s; "
          f"{peak['flops_per_token'] / 1e6:.0f} MFLOP per trained token")  # fmt: skip
    for r in results.values():
        use = r["tokens_per_second"] * peak["flops_per_token"] / (peak["gflops"] * 1e9)
        print(f"{r['mode']:>12}: utilisation {use:.0%} of the peak")
    for r in results.values():
        print(f"{r['mode']:>12}: {r['tokens_per_second']:8.1f} trained tokens/s "
              f"({r['tokens']} tokens in {r['seconds']:.1f} s of steps), "
              f"train loss {r['train_loss']:.4f}, peak {r['peak_mib']:.0f} MiB")  # fmt: skip
    print("validation loss by step (same 64 conversations):")
    print("  step  " + "  ".join(f"{m:>12}" for m in results))
    curves = [dict(r["eval_curve"]) for r in results.values()]
    for step in sorted(curves[0]):
        print(f"  {step:>4}  " + "  ".join(f"{c.get(step, float('nan')):12.4f}" for c in curves))
    ratio = results["oncogpt"]["tokens_per_second"] / results["alpaca-lora"]["tokens_per_second"]
    print(f"speed-up (oncogpt / alpaca-lora): {ratio:.2f}x")


if __name__ == "__main__":
    main()
