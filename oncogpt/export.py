"""Export an adapter for use outside OncoGPT: merged Hugging Face folder, GGUF, Ollama Modelfile.

`oncogpt export --adapter DIR --out DIR --format hf|gguf [--quant f16|q8_0] [--ollama]`

- `hf`: the adapter merged into the base (`merge_and_unload`), saved as safetensors with the
  tokenizer files, the chat template OncoGPT renders with (the OncoGPT system line is built into
  it, so `apply_chat_template` in plain transformers gives OncoGPT's prompt), a generation config
  with OncoGPT's sampling settings, a model card and `oncogpt-export.json` (base, adapter, data
  hashes, evaluation figures, file hashes).
- `gguf`: the same merged weights written with the `gguf` package for llama.cpp. The LLaMA q/k
  projections are permuted from Hugging Face's rotate-half layout to llama.cpp's interleaved
  rotary layout (the inverse of what transformers' GGUF loader undoes). When the base itself
  came from a GGUF (the `default` model), its tokenizer fields are copied verbatim, so llama.cpp
  tokenizes exactly as it did for the base; other bases get a GPT-2 BPE vocabulary from
  `tokenizer.json`.
- `--ollama`: a Modelfile whose TEMPLATE (a Go template) and SYSTEM render the prompt of
  `oncogpt/prompts.py`, with the end token and the template's stop strings and the original
  sampling settings. The Go template is derived from the project's Jinja template by rendering
  sentinel messages, so the two cannot drift; tests render both and compare.

Safety: the merge refuses an adapter trained for another base (its manifest names the base;
tensor shapes and unused adapter weights are checked too). Everything is written under a
temporary folder next to `--out` and renamed at the end: a killed export leaves no half file.

Measured with the shipped model in llama.cpp (tests/test_export_llamacpp.py, greedy, 5 real
questions, 32 tokens, against the engine on fp32): f16 gives the engine's tokens exactly (160 of
160); q8_0 keeps 86 of 160 tokens before the first difference and predicts the engine's next
token at 154 of 160 positions (teacher-forced). docs/serving.md "Export" has the details.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from oncogpt.models import ModelError

FORMATS = ("hf", "gguf")
QUANTS = ("f32", "f16", "q8_0")
MANIFEST = "oncogpt-export.json"


class ExportError(ModelError):
    """An export cannot be made as asked; the message names the flag or file to fix."""


@dataclasses.dataclass
class ExportConfig:
    """What `oncogpt export` makes."""

    adapter: str = "default"
    """LoRA adapter folder to merge; default: the shipped OncoGPT adapter; none: the bare base."""
    out: str = ""
    """Folder to create (must not exist, or be empty)."""
    format: str = "hf"
    """hf (merged safetensors folder) or gguf (one .gguf file for llama.cpp / Ollama)."""
    quant: str = "f16"
    """GGUF tensor type: f32, f16 or q8_0 (norms stay f32); hf is saved in fp32 either way."""
    ollama: bool = False
    """Also write an Ollama Modelfile (TEMPLATE, SYSTEM, stop tokens, sampling settings)."""
    model: str | None = None
    """Base model; default: the one named in the adapter's manifest.json, else `default`."""
    template: str = "auto"
    """Prompt template, as for `oncogpt chat` (auto, model, oncogpt, or a .json file)."""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ExportError(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.quant not in QUANTS:
            raise ExportError(f"--quant must be one of {', '.join(QUANTS)}, got {self.quant!r}")
        if not self.out:
            raise ExportError("--out is required: the folder to write the export to")


# ---------------------------------------------------------------- the base and the merge


def adapter_manifest(adapter: Path | None) -> dict[str, Any]:
    """The training manifest written beside an adapter (base, data hashes), or {}."""
    if adapter is None:
        return {}
    for candidate in (adapter / "manifest.json", adapter.parent / "manifest.json"):
        if candidate.is_file():
            return json.loads(candidate.read_text())
    return {}


def choose_base(config: ExportConfig, adapter: Path | None) -> str:
    """The base model: --model, else the adapter manifest's, else `default`; an adapter whose
    manifest names another base is refused."""
    recorded = adapter_manifest(adapter).get("base_model")
    if config.model is None:
        return recorded or "default"
    if recorded is not None and not _same_model(recorded, config.model):
        raise ExportError(
            f"{adapter}: this adapter was trained on base {recorded!r} (manifest.json), not on "
            f"--model {config.model!r}; merging it into another base gives a broken model"
        )
    return config.model


def _same_model(a: str, b: str) -> bool:
    """Whether two model names are one model (`default` and its converted folder are)."""
    from oncogpt.models import resolve_model

    if a == b:
        return True
    try:
        return resolve_model(a).resolve() == resolve_model(b).resolve()
    except ModelError:
        return False


def merged_model(base: str, adapter: Path | None) -> tuple[Any, Any]:
    """(fp32 model with the adapter merged in, tokenizer)."""
    from oncogpt.models import load_model

    model, tokenizer = load_model(base, adapter=adapter, dtype="float32")
    if adapter is not None:
        model = model.merge_and_unload()
    model.eval()
    return model, tokenizer


# ---------------------------------------------------------------- the chat template


def chat_template_source(template: Any, tokenizer: Any) -> str:
    """The Jinja chat template OncoGPT renders with, with its default system line built in
    (used when the caller sends no system message), for tokenizer_config and the GGUF."""
    source = template.chat_template or tokenizer.chat_template
    if not template.default_system:
        return source
    system = json.dumps(template.default_system)
    return (
        "{%- if not messages or messages[0]['role'] != 'system' %}"
        f"{{%- set messages = [{{'role': 'system', 'content': {system}}}] + messages %}}"
        "{%- endif %}" + source
    )


# Sentinels: private-use characters no template or tokenizer rewrites.
_SYS, _U1, _A1, _U2, _A2 = "\ue000", "\ue001", "\ue002", "\ue003", "\ue004"


@dataclasses.dataclass
class RoleWrap:
    """The literal text a template puts before and after one message's content."""

    before: str
    after: str


def _render(tokenizer: Any, template: Any, messages: list[dict], generation: bool) -> str:
    if not messages:
        return ""
    return tokenizer.apply_chat_template(
        messages,
        chat_template=template.chat_template,
        add_generation_prompt=generation,
        tokenize=False,
    )


def template_wraps(template: Any, tokenizer: Any) -> tuple[dict[str, RoleWrap], str]:
    """Each role's wrapping text and the generation prompt, read off the project's template by
    rendering sentinel messages one at a time (templates are incremental, prompts.py checks)."""
    messages = [
        {"role": "system", "content": _SYS},
        {"role": "user", "content": _U1},
        {"role": "assistant", "content": _A1},
        {"role": "user", "content": _U2},
        {"role": "assistant", "content": _A2},
    ]
    pieces = []
    for i in range(len(messages)):
        before = _render(tokenizer, template, messages[:i], False)
        after = _render(tokenizer, template, messages[: i + 1], False)
        if not after.startswith(before):
            raise ExportError(f"template {template.name!r} is not incremental; no Modelfile")
        pieces.append(after[len(before) :])
    wraps: dict[str, RoleWrap] = {}
    for piece, message in zip(pieces, messages, strict=True):
        head, sep, tail = piece.partition(message["content"])
        wrap = RoleWrap(head, tail)
        if not sep or wraps.get(message["role"], wrap) != wrap:
            raise ExportError(f"template {template.name!r} wraps turns unevenly; no Modelfile")
        wraps[message["role"]] = wrap
    history = _render(tokenizer, template, messages[:4], False)
    generation = _render(tokenizer, template, messages[:4], True)[len(history) :]
    return wraps, generation


def _go_literal(text: str) -> str:
    """Text as a Go-template literal: `{{` must not start an action."""
    return text.replace("{{", '{{ "{{" }}')


def ollama_template(template: Any, tokenizer: Any) -> str:
    """The Go template Ollama renders a chat with, equal to the project's rendering: the system
    text (Ollama's .System: the Modelfile SYSTEM or the caller's system message), then each
    user/assistant message, then the generation prompt."""
    wraps, generation = template_wraps(template, tokenizer)
    s, u, a = wraps["system"], wraps["user"], wraps["assistant"]
    lit = _go_literal
    return (
        f"{{{{ if .System }}}}{lit(s.before)}{{{{ .System }}}}{lit(s.after)}{{{{ end }}}}"
        "{{ range .Messages }}"
        f'{{{{ if eq .Role "user" }}}}{lit(u.before)}{{{{ .Content }}}}{lit(u.after)}'
        f'{{{{ else if eq .Role "assistant" }}}}{lit(a.before)}{{{{ .Content }}}}{lit(a.after)}'
        "{{ end }}{{ end }}" + lit(generation)
    )


def _modelfile_string(text: str) -> str:
    return '"""' + text + '"""' if '"""' not in text else json.dumps(text)


def modelfile(
    source: str, template: Any, tokenizer: Any, context_length: int, sampling: Any = None
) -> str:
    """An Ollama Modelfile: FROM the export, TEMPLATE/SYSTEM as OncoGPT renders, stop strings
    (the end token and the template's), and OncoGPT's sampling settings."""
    from oncogpt.generate import SamplingConfig

    sampling = sampling or SamplingConfig()
    stops = [tokenizer.eos_token, *template.stop]
    lines = [
        "# OncoGPT: research model, not medical advice, not for clinical use.",
        f"FROM {source}",
        f"TEMPLATE {_modelfile_string(ollama_template(template, tokenizer))}",
    ]
    if template.default_system:
        lines.append(f"SYSTEM {_modelfile_string(template.default_system)}")
    lines += [f"PARAMETER stop {json.dumps(s)}" for s in dict.fromkeys(stops) if s]
    lines += [
        f"PARAMETER temperature {sampling.temperature}",
        f"PARAMETER top_k {sampling.top_k}",
        f"PARAMETER top_p {sampling.top_p}",
        f"PARAMETER repeat_penalty {sampling.repetition_penalty}",
        # transformers penalizes every token of prompt and answer; Ollama the last 64 unless
        # told: -1 is the whole context.
        "PARAMETER repeat_last_n -1",
        f"PARAMETER num_predict {sampling.max_new_tokens}",
        f"PARAMETER num_ctx {context_length}",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- GGUF


def _permute(weights: Any, n_head: int) -> Any:
    """Hugging Face's rotate-half q/k rows -> llama.cpp's interleaved pairs (as llama.cpp's
    convert_hf_to_gguf.py does; transformers' GGUF loader applies the inverse)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _check_llama(config: Any) -> None:
    if config.model_type != "llama":
        raise ExportError(
            f"GGUF export supports LLaMA-architecture models; this base is {config.model_type!r} "
            "(use --format hf and llama.cpp's convert_hf_to_gguf.py)"
        )
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if rope.get("rope_type", "default") not in ("default", None):
        raise ExportError(f"GGUF export: rope scaling {rope.get('rope_type')!r} is not supported")


def _write_hparams(writer: Any, config: Any, quant: str) -> None:
    import gguf

    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rope = getattr(config, "rope_parameters", None) or {}
    theta = rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    file_type = {"f32": "ALL_F32", "f16": "MOSTLY_F16", "q8_0": "MOSTLY_Q8_0"}[quant]
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(float(theta))
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(getattr(gguf.LlamaFileType, file_type))


def _source_gguf(base_dir: Path) -> Path | None:
    """The GGUF a converted base came from (models.convert_gguf records it), if still there."""
    record = base_dir / "oncogpt-source.json"
    if record.is_file():
        path = Path(json.loads(record.read_text()).get("gguf", ""))
        if path.is_file():
            return path
    return None


def _write_tokenizer(writer: Any, base_dir: Path) -> None:
    """Tokenizer fields: copied from the base's own GGUF, else a GPT-2 BPE vocabulary."""
    import gguf

    source = _source_gguf(base_dir)
    if source is not None:
        reader = gguf.GGUFReader(source)
        for field in reader.fields.values():
            if field.name.startswith("tokenizer.ggml."):
                sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
                writer.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub)
        return
    try:
        vocab = gguf.BpeVocab(base_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise ExportError(
            f"{base_dir}: GGUF export needs a GPT-2 style BPE tokenizer.json ({exc}); "
            "use --format hf and llama.cpp's convert_hf_to_gguf.py"
        ) from None
    tokens, types = [], []
    for text, _score, kind in vocab.all_tokens():
        tokens.append(text)
        types.append(kind)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(base_dir, load_merges=True, n_vocab=len(tokens))
    special.chat_template = None  # OncoGPT's own is written by write_gguf
    special.add_to_gguf(writer, quiet=True)


def _tensor_type(name: str, array: Any, quant: str) -> tuple[Any, Any]:
    """(data, GGML type): 1-D tensors (norms) stay f32, others take the asked type."""
    import gguf
    import numpy as np

    if quant == "f32" or array.ndim == 1:
        return array.astype(np.float32), gguf.GGMLQuantizationType.F32
    if quant == "f16":
        return array.astype(np.float16), gguf.GGMLQuantizationType.F16
    if array.shape[-1] % 32:
        return array.astype(np.float16), gguf.GGMLQuantizationType.F16  # Q8_0 needs rows of 32
    return gguf.quants.quantize(array, gguf.GGMLQuantizationType.Q8_0), (
        gguf.GGMLQuantizationType.Q8_0
    )


def gguf_tensors(model: Any) -> list[tuple[str, Any]]:
    """(GGUF name, float32 numpy array) for each weight, q/k permuted to llama.cpp's layout."""
    import gguf

    config = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    state = model.state_dict()
    tied = getattr(config, "tie_word_embeddings", False)
    out = []
    for key, tensor in state.items():
        if key == "lm_head.weight" and tied:
            continue  # llama.cpp reuses token_embd when output.weight is absent
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ExportError(f"GGUF export: no llama.cpp name for tensor {key!r}")
        array = tensor.detach().float().cpu().numpy()
        if key.endswith("self_attn.q_proj.weight"):
            array = _permute(array, config.num_attention_heads)
        elif key.endswith("self_attn.k_proj.weight"):
            array = _permute(array, config.num_key_value_heads)
        out.append((name, array))
    return out


def write_gguf(
    model: Any, base_dir: Path, chat_template: str, path: Path, quant: str, name: str
) -> None:
    """The merged model as one GGUF file for llama.cpp."""
    import gguf

    from oncogpt.progress import Progress

    _check_llama(model.config)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(name)
    _write_hparams(writer, model.config, quant)
    _write_tokenizer(writer, base_dir)
    writer.add_chat_template(chat_template)
    tensors = gguf_tensors(model)
    with Progress(f"export: {quant} tensors", total=len(tensors), unit="tensor") as progress:
        for tensor_name, array in tensors:
            data, kind = _tensor_type(tensor_name, array, quant)
            writer.add_tensor(tensor_name, data, raw_dtype=kind)
            progress.update()
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# ---------------------------------------------------------------- card and manifest


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_manifest(
    config: ExportConfig, base: str, base_dir: Path, adapter: Path | None, folder: Path
) -> dict[str, Any]:
    """Where the export came from (base, adapter, data hashes, evaluation) and its files."""
    from oncogpt import __version__

    adapter_info: dict[str, Any] | None = None
    if adapter is not None:
        weights = sorted(adapter.glob("*.safetensors"))
        metrics = adapter / "metrics.json"
        adapter_info = {
            "path": str(adapter),
            "sha256": {w.name: sha256_file(w) for w in weights},
            "training": adapter_manifest(adapter),
            "metrics": json.loads(metrics.read_text()) if metrics.is_file() else None,
        }
    return {
        "oncogpt_version": __version__,
        "format": config.format,
        "quant": config.quant if config.format == "gguf" else "f32",
        "template": config.template,
        "base": {"name": base, "path": str(base_dir), "source_gguf": str(_source_gguf(base_dir))},
        "adapter": adapter_info,
        "files": {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.name != MANIFEST},
    }


def model_card(manifest: dict[str, Any], adapter: Path | None, sampling: Any) -> str:
    """README.md of the export: what it is, how to run it, where it came from."""
    fmt = manifest["format"]
    usage = {
        "hf": (
            "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
            "tok = AutoTokenizer.from_pretrained(FOLDER)\n"
            "model = AutoModelForCausalLM.from_pretrained(FOLDER)\n"
            'messages = [{"role": "user", "content": "What is a PSA test?"}]\n'
            "ids = tok.apply_chat_template(messages, add_generation_prompt=True,\n"
            "                              return_tensors='pt', return_dict=True)['input_ids']\n"
            "print(tok.decode(model.generate(ids)[0, ids.shape[1]:], skip_special_tokens=True))\n"
            "```"
        ),
        "gguf": (
            f"```bash\nllama-cli -m oncogpt-{manifest['quant']}.gguf -cnv --temp 0.1 --top-k 40 "
            "--top-p 0.75 "
            "--repeat-penalty 1.1\nollama create oncogpt -f Modelfile && ollama run oncogpt "
            "# with --ollama\n```"
        ),
    }[fmt]
    adapter_card = (adapter / "README.md") if adapter is not None else None
    lines = [
        "# OncoGPT export",
        "",
        "> **Research only.** Not medical advice; never for clinical decisions. Outside OncoGPT "
        "this model has **no safety layer**: no urgent-care instruction for red flags, no crisis "
        "answer, no disclaimer, no citation check. Serve it behind `oncogpt serve --backend URL` "
        "to keep them.",
        "",
        f"- format: `{fmt}`, tensors `{manifest['quant']}`",
        f"- base: `{manifest['base']['name']}` ({manifest['base']['path']})",
        f"- adapter: `{(manifest['adapter'] or {}).get('path', 'none')}` merged in",
        f"- OncoGPT {manifest['oncogpt_version']}; provenance and file hashes in `{MANIFEST}`",
        "- prompt: the chat template OncoGPT renders with, with its system line built in",
        f"- OncoGPT's sampling settings: temperature {sampling.temperature}, top-k "
        f"{sampling.top_k}, top-p {sampling.top_p}, repetition penalty "
        f"{sampling.repetition_penalty}, {sampling.max_new_tokens} new tokens",
        "",
        "## Use",
        "",
        usage,
        "",
    ]
    if adapter_card is not None and adapter_card.is_file():
        lines += ["## The adapter's card", "", adapter_card.read_text().replace("\n# ", "\n### ")]
    return "\n".join(lines)


# ---------------------------------------------------------------- the export


def _prepare_out(out: Path) -> Path:
    """A fresh temporary folder beside `out` (renamed to it at the end)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out}: already exists; choose another --out or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def _say(message: str) -> None:
    print(f"export: {message}", file=sys.stderr, flush=True)


def export(config: ExportConfig) -> Path:
    """Make the export folder `config.out`; returns it."""
    from oncogpt.generate import SamplingConfig
    from oncogpt.models import resolve_adapter, resolve_model
    from oncogpt.prompts import choose_template

    out = Path(config.out)
    adapter = resolve_adapter(config.model or "default", config.adapter)
    if adapter is not None and not adapter.is_dir():
        raise ExportError(f"{adapter}: no such adapter folder")
    base = choose_base(config, adapter)
    base_dir = resolve_model(base)
    tmp = _prepare_out(out)
    try:
        _say(f"merging {adapter or 'no adapter'} into {base}")
        model, tokenizer = merged_model(base, adapter)
        template = choose_template(config.template, tokenizer, adapter)
        jinja = chat_template_source(template, tokenizer)
        sampling = SamplingConfig()
        if config.format == "hf":
            _say(f"writing safetensors to {out}")
            _write_hf(model, tokenizer, jinja, sampling, tmp)
            source = "."
        else:
            source = f"./oncogpt-{config.quant}.gguf"
            _say(f"writing {config.quant} GGUF to {out / source}")
            write_gguf(model, base_dir, jinja, tmp / source, config.quant, "OncoGPT")
        if config.ollama:
            context = int(model.config.max_position_embeddings)
            (tmp / "Modelfile").write_text(modelfile(source, template, tokenizer, context))
        manifest = export_manifest(config, base, base_dir, adapter, tmp)
        (tmp / "README.md").write_text(model_card(manifest, adapter, sampling))
        manifest["files"]["README.md"] = sha256_file(tmp / "README.md")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write_hf(model: Any, tokenizer: Any, jinja: str, sampling: Any, folder: Path) -> None:
    """Merged safetensors, tokenizer files with OncoGPT's chat template, sampling defaults."""
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        bos_token_id=model.config.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=sampling.max_new_tokens,
        **sampling.generate_kwargs(),
    )
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.chat_template = jinja
    tokenizer.save_pretrained(folder)


# ---------------------------------------------------------------- checking against llama.cpp


def llamacpp_greedy(
    llm: Any, prompt_ids: list[int], max_new_tokens: int, penalty: float, eos: set[int]
) -> list[int]:
    """Greedy answer ids from a `llama_cpp.Llama` (built with logits_all=True) on OncoGPT's
    prompt ids, with transformers' repetition penalty over prompt and answer, as the engine
    decodes: the comparison then measures the exported weights, not two samplers."""
    import numpy as np

    llm.reset()
    llm.eval(prompt_ids)
    seen = list(prompt_ids)
    answer: list[int] = []
    for _ in range(max_new_tokens):
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        if penalty != 1.0:
            ids = np.unique(np.array(seen))
            picked = logits[ids]
            logits[ids] = np.where(picked > 0, picked / penalty, picked * penalty)
        token = int(np.argmax(logits))
        if token in eos:
            break
        answer.append(token)
        seen.append(token)
        llm.eval([token])
    return answer


def agreement(a: list[int], b: list[int]) -> int:
    """How many leading tokens two answers share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def llamacpp_top1(llm: Any, prompt: list[int], answer: list[int], penalty: float = 1.1) -> int:
    """Teacher-forced: at how many of the answer's positions llama.cpp's most likely next token
    (with the engine's repetition penalty) is the engine's token. Unlike free-running greedy
    agreement, one early difference does not decide every later position."""
    import numpy as np

    llm.reset()
    llm.eval(list(prompt) + list(answer))
    hits = 0
    for i, token in enumerate(answer):
        logits = np.array(llm.scores[len(prompt) - 1 + i], dtype=np.float32)
        ids = np.unique(np.array(list(prompt) + list(answer[:i])))
        picked = logits[ids]
        logits[ids] = np.where(picked > 0, picked / penalty, picked * penalty)
        hits += int(np.argmax(logits)) == token
    return hits


def llamacpp_agreement(
    gguf_path: Path, prompts: list[list[int]], answers: list[list[int]], eos: set[int],
    penalty: float = 1.1,
) -> tuple[list[int], list[int]]:  # fmt: skip
    """For each prompt: how many leading tokens llama.cpp's greedy answer on `gguf_path`
    shares with `answers` (the engine's), and at how many positions it predicts the engine's
    token given the engine's answer so far (llamacpp_top1)."""
    from llama_cpp import Llama

    longest = max(len(p) + len(a) for p, a in zip(prompts, answers, strict=True))
    llm = Llama(str(gguf_path), n_ctx=longest + 8, n_threads=2, logits_all=True, verbose=False)
    try:
        pairs = list(zip(prompts, answers, strict=True))
        greedy = [agreement(llamacpp_greedy(llm, p, len(a), penalty, eos), a) for p, a in pairs]
        forced = [llamacpp_top1(llm, p, a, penalty) for p, a in pairs]
        return greedy, forced
    finally:
        llm.close()
