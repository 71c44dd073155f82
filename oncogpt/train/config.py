"""Training config: the original OncoGPT/alpaca-lora arguments, same names and meaning."""

from __future__ import annotations

import dataclasses

LOGGERS = ("csv", "tensorboard", "wandb")
STAGE_MODES = ("continue", "merge")


@dataclasses.dataclass
class StageConfig:
    """One stage of the curriculum (general, medical, oncology)."""

    name: str
    """Stage name; also selects rows whose meta.stage equals it in the dataset folder."""
    data_path: str | None = None
    """Dataset folder for this stage (default: the run's data_path)."""
    num_epochs: float | None = None
    """Epochs for this stage (default: the run's num_epochs)."""
    learning_rate: float | None = None
    """Peak learning rate for this stage (default: the run's learning_rate)."""
    max_train_samples: int | None = None
    """Train on a seeded sample of this many conversations (small general stage on a CPU)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (overrides epochs)."""


@dataclasses.dataclass
class TrainConfig:
    """LoRA fine-tuning, in one or more stages, each starting from the previous result."""

    base_model: str = "default"
    """Built-in model name, Hugging Face causal-LM folder or .gguf file."""
    data_path: str = "data/built"
    """Dataset folder written by `oncogpt data build` (train.jsonl, validation.jsonl)."""
    output_dir: str = "runs/oncogpt"
    """Where each stage writes adapter/, checkpoints/, metrics.json, config.yaml, manifest.json."""
    batch_size: int = 128
    """Effective batch: micro batches are accumulated until this many conversations."""
    micro_batch_size: int = 4
    """Conversations per forward/backward pass."""
    num_epochs: float = 3
    """Passes over each stage's training data."""
    learning_rate: float = 3e-4
    """Peak learning rate (linear warmup, then linear decay)."""
    cutoff_len: int = 256
    """Longest example in tokens; longer ones are trimmed (never their answer) or dropped."""
    val_set_size: int = 2000
    """Most validation conversations used per stage (from the dataset's validation split)."""
    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA scaling numerator (scale = lora_alpha / lora_r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA path."""
    lora_target_modules: list[str] = dataclasses.field(default_factory=lambda: ["q_proj", "v_proj"])
    """Module names that get adapters."""
    train_on_inputs: bool = False
    """Also train on the patient's words (off: only the doctor's answers)."""
    group_by_length: bool = True
    """Batch conversations of similar length together: less padding, faster."""
    packing: bool = False
    """Put each micro batch end to end in one row (no padding; attention kept apart per
    conversation by position ids) instead of padding it to its longest conversation. Off by
    default: with group_by_length there is little padding left, and attention over the packed
    row costs more than it saves (a step took 17.2 s packed vs 14.2-15.4 s padded on CPU)."""
    seed: int = 42
    """Seed for data order, dropout and sampling."""
    warmup_steps: int = 100
    """Linear warmup steps."""
    eval_steps: int = 200
    """Validation loss every this many steps (0: only at the end of a stage)."""
    save_steps: int = 200
    """Checkpoint every this many steps."""
    logging_steps: int = 10
    """Log loss and tokens/s every this many steps."""
    resume_from_checkpoint: str | None = None
    """`auto` (latest complete checkpoint of each stage) or a checkpoint folder."""
    logger: str = "csv"
    """csv (metrics.csv), tensorboard, or wandb (only when asked)."""
    template: str = "auto"
    """Prompt template: auto, oncogpt, model, or a .json file."""
    precision: str = "auto"
    """auto, bf16, fp16 or fp32: the frozen base is loaded in it and GPUs train under its
    autocast (LoRA weights stay fp32). auto: bf16 on a GPU with native bf16 (compute
    capability 8.0+), fp16 on older GPUs; on a CPU bf16 where it has bf16 instructions, else
    fp32. fp16 needs a GPU."""
    load_in_8bit: bool = False
    """Load the base model in 8-bit through bitsandbytes (CUDA GPU only; `pip install
    'oncogpt[gpu]'`)."""
    load_in_4bit: bool = False
    """Load the base model in 4-bit as QLoRA does (NF4, double quantization, computing in
    `precision`) through bitsandbytes (CUDA GPU only; `pip install 'oncogpt[gpu]'`)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass instead of keeping them: less GPU memory
    for longer cutoff_len or larger micro batches, about a third slower."""
    stage_mode: str = "continue"
    """continue: one adapter trained on through the stages; merge: merge each stage into the
    base and train a fresh adapter on top."""
    stages: list[StageConfig] = dataclasses.field(
        default_factory=lambda: [StageConfig(name="oncology")]
    )
    """The curriculum, in order."""
    max_steps: int | None = None
    """Stop every stage after this many optimizer steps (quick runs, tests)."""

    def __post_init__(self) -> None:
        checks = [
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.micro_batch_size >= 1, "micro_batch_size must be >= 1"),
            (
                self.batch_size % self.micro_batch_size == 0,
                f"batch_size ({self.batch_size}) must be a multiple of micro_batch_size "
                f"({self.micro_batch_size})",
            ),
            (self.num_epochs > 0, "num_epochs must be > 0"),
            (
                0 < self.learning_rate < 1,
                f"learning_rate must be in (0, 1), got {self.learning_rate}",
            ),
            (self.cutoff_len >= 16, "cutoff_len must be >= 16"),
            (self.lora_r >= 1 and self.lora_alpha >= 1, "lora_r and lora_alpha must be >= 1"),
            (0 <= self.lora_dropout < 1, "lora_dropout must be in [0, 1)"),
            (bool(self.lora_target_modules), "lora_target_modules must not be empty"),
            (self.logger in LOGGERS, f"logger must be one of {LOGGERS}"),
            (self.stage_mode in STAGE_MODES, f"stage_mode must be one of {STAGE_MODES}"),
            (self.precision in ("auto", "bf16", "fp16", "fp32"), "precision: auto|bf16|fp16|fp32"),
            (not (self.load_in_8bit and self.load_in_4bit), "choose load_in_8bit or load_in_4bit"),
            (
                self.stage_mode == "continue" or not (self.load_in_8bit or self.load_in_4bit),
                "stage_mode merge with a quantized base (load_in_8bit/load_in_4bit) would merge "
                "each stage into rounded weights; use stage_mode continue (the default)",
            ),
            (bool(self.stages), "stages must not be empty"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def gradient_accumulation_steps(self) -> int:
        return self.batch_size // self.micro_batch_size
