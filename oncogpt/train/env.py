"""Where this training process runs: torchrun's environment (world size, rank, local rank),
the barrier between ranks, and the precision this machine trains in.

Imported by the recipe and the loop; imports neither (nor anything of oncogpt.train).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def local_rank() -> int:
    """This process's GPU on its machine (torchrun's LOCAL_RANK; 0 for a single process)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def wait_for_everyone() -> None:
    """A barrier between the processes of a torchrun launch (nothing with one process): the
    next stage starts only once rank 0 has written this stage's adapter (and merged model)."""
    if world_size() > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def resolve_precision(precision: str) -> str:
    """bf16, fp16 or fp32 for `precision` on this machine (see TrainConfig.precision)."""
    from oncogpt.models import native_cuda_bf16

    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16" if native_cuda_bf16() else "fp16"
    # On a CPU, a bf16 base only pays off with native bf16 instructions.
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.is_file() else ""
    return "bf16" if "avx512_bf16" in flags or "amx_bf16" in flags else "fp32"
