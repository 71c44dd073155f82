"""`oncogpt export` on a tiny random LLaMA with a random LoRA: merged folder, GGUF, Modelfile."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from oncogpt.cli import main
from oncogpt.conversation import Conversation, Turn
from oncogpt.export import ExportConfig, ExportError, export, modelfile, ollama_template
from oncogpt.models import ModelError, load_model
from oncogpt.prompts import load_template, render_prompt

CONVERSATIONS = [
    Conversation.single("What is a PSA test?"),
    Conversation(
        system=None,
        turns=(
            Turn("patient", "My father has lung cancer."),
            Turn("doctor", "I am sorry. What stage is it?"),
            Turn("patient", "Stage IV, with liver {{ metastasis }}. Can he be cured?"),
        ),
    ),
    Conversation(system="Answer briefly.", turns=(Turn("patient", "Is CEA 12.5 high?"),)),
]


def make_adapter(base_dir: Path, out: Path, seed: int = 0, layers: int | None = None) -> Path:
    """A LoRA with random (non-zero) B matrices, so merging changes the logits."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(
        r=2,
        lora_alpha=4,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
        init_lora_weights=False,
        layers_to_transform=list(range(layers)) if layers else None,
    )
    get_peft_model(model, config).save_pretrained(out)
    (out / "manifest.json").write_text(json.dumps({"base_model": str(base_dir)}))
    return out


@pytest.fixture(scope="module")
def adapter(tiny_model_dir, tmp_path_factory):
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter"))


@pytest.fixture(scope="module")
def reference(tiny_model_dir, adapter):
    """Base plus adapter, unmerged, as OncoGPT's engine loads them."""
    return load_model(tiny_model_dir, adapter=adapter)


def _export(tmp_path, adapter, **kw) -> Path:
    config = ExportConfig(adapter=str(adapter), out=str(tmp_path / "out"), **kw)
    return export(config)


def test_hf_export_loads_in_plain_transformers_with_the_same_logits(tmp_path, adapter, reference):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = _export(tmp_path, adapter, format="hf")
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(out)
    ref_model, ref_tokenizer = reference
    ids = torch.tensor([ref_tokenizer("Patient: lung cancer stage IV").input_ids])
    with torch.no_grad():
        got, want = model(ids).logits, ref_model(ids).logits
        base = load_model(json.loads((adapter / "manifest.json").read_text())["base_model"])[0]
        bare = base(ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(bare, want, atol=1e-3)  # the adapter does change the model
    template = load_template("model")
    for conv in CONVERSATIONS:  # plain apply_chat_template gives OncoGPT's prompt
        messages = [{"role": "user" if t.role == "patient" else "assistant", "content": t.text}
                    for t in conv.turns]  # fmt: skip
        if conv.system:
            messages.insert(0, {"role": "system", "content": conv.system})
        plain = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        plain_ids = tokenizer(plain, add_special_tokens=False).input_ids
        assert plain_ids == render_prompt(conv, ref_tokenizer, template)
    manifest = json.loads((out / "oncogpt-export.json").read_text())
    assert manifest["adapter"]["training"]["base_model"] == manifest["base"]["name"]
    assert set(manifest["files"]) >= {"model.safetensors", "tokenizer.json", "README.md"}
    generation = json.loads((out / "generation_config.json").read_text())
    assert (generation["temperature"], generation["top_k"], generation["top_p"]) == (0.1, 40, 0.75)


@pytest.mark.parametrize("quant, atol", [("f32", 0.0), ("f16", 2e-3), ("q8_0", 2e-2)])
def test_gguf_export_reads_back_through_our_loader(tmp_path, adapter, reference, quant, atol):
    """transformers' GGUF reader undoes llama.cpp's q/k permutation: equal weights back means
    the permutation is right (and the file is a valid GGUF)."""
    from oncogpt.models import convert_gguf

    out = _export(tmp_path, adapter, format="gguf", quant=quant)
    folder = convert_gguf(out / f"oncogpt-{quant}.gguf", tmp_path / "back")
    back, back_tokenizer = load_model(folder)
    want = _merged(reference[0]).state_dict()
    for key, tensor in back.state_dict().items():
        assert torch.allclose(tensor, want[key], atol=atol, rtol=0), key
    ids = reference[1]("Stage IV lung cancer").input_ids
    assert back_tokenizer("Stage IV lung cancer").input_ids == ids


def _merged(peft_model):
    import copy

    return copy.deepcopy(peft_model).merge_and_unload()


def test_adapter_for_another_base_is_refused(tmp_path, tiny_model_dir, adapter, tiny_tokenizer):
    from tests.conftest import build_tiny_llama

    with pytest.raises(ExportError, match="trained on base"):
        _export(tmp_path, adapter, model=str(tmp_path))
    # Same sizes, other layers: peft would load it silently (strict=False).
    three = tmp_path / "three-layers"
    config = build_tiny_llama(tiny_tokenizer).config
    config.num_hidden_layers = 3
    type(build_tiny_llama(tiny_tokenizer))(config).save_pretrained(three)
    tiny_tokenizer.save_pretrained(three)
    with pytest.raises(ModelError, match="holds 20 LoRA tensors, the base has places for 30"):
        load_model(three, adapter=adapter)
    assert not (tmp_path / "out").exists()


def test_killed_export_leaves_no_half_folder(tmp_path, adapter, monkeypatch):
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("gguf.GGUFWriter.write_tensors_to_file", killed)
    with pytest.raises(KeyboardInterrupt):
        _export(tmp_path, adapter, format="gguf")
    assert list(tmp_path.iterdir()) == []


def test_cli_export_errors_are_one_line(tmp_path, adapter, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    cases = [
        (["--format", "onnx"], "--format must be one of hf, gguf"),
        (["--quant", "q4"], "--quant must be one of"),
        (["--out", str(tmp_path / "taken")], "already exists"),
        (["--adapter", str(tmp_path / "missing")], "no such adapter folder"),
    ]
    for extra, message in cases:
        argv = ["export", "--adapter", str(adapter), "--out", str(tmp_path / "o"), *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err and err.startswith("oncogpt export: error:")


# ---------------------------------------------------------------- Ollama's Go template


def go_render(template: str, data: dict) -> str:
    """A small interpreter for the subset of Go's text/template the Modelfile uses (if / else
    if / range / eq / field access / string literals), with Go's semantics for them."""
    tokens = re.split(r"(\{\{.*?\}\})", template, flags=re.S)
    pos = 0

    def block(scope: dict) -> tuple[str, str]:
        """Render until else/end at this level; return (text, the tag that ended it)."""
        nonlocal pos
        out = []
        while pos < len(tokens):
            tok = tokens[pos]
            pos += 1
            if not tok.startswith("{{"):
                out.append(tok)
                continue
            action = tok[2:-2].strip()
            if action == "end" or action.startswith("else"):
                return "".join(out), action
            if action.startswith("if "):
                out.append(conditional(action[3:], scope))
            elif action.startswith("range "):
                start, items = pos, value(action[6:], scope)
                for item in items:
                    pos = start
                    out.append(block({**scope, ".": item})[0])
                if not items:
                    skip()
            else:
                out.append(str(value(action, scope)))
        return "".join(out), ""

    def conditional(cond: str, scope: dict) -> str:
        taken = bool(value(cond, scope))
        text, tag = block(scope) if taken else (skip(), tokens[pos - 1][2:-2].strip())
        result = text if taken else ""
        while tag.startswith("else"):
            rest = tag[4:].strip()
            if taken:
                tag = skip_to_end()
                break
            if rest.startswith("if "):
                taken = bool(value(rest[3:], scope))
                text, tag = block(scope) if taken else (skip(), tokens[pos - 1][2:-2].strip())
                result = text if taken else ""
            else:
                result, tag = block(scope)
                taken = True
        return result

    def skip() -> str:
        """Skip to the matching else/end at this level without rendering."""
        nonlocal pos
        depth = 0
        while pos < len(tokens):
            action = tokens[pos][2:-2].strip() if tokens[pos].startswith("{{") else None
            pos += 1
            if action is None:
                continue
            if action.startswith(("if ", "range ")):
                depth += 1
            elif action == "end" and depth:
                depth -= 1
            elif depth == 0 and (action == "end" or action.startswith("else")):
                return ""
        return ""

    def skip_to_end() -> str:
        while True:
            skip()
            if tokens[pos - 1][2:-2].strip() == "end":
                return "end"

    def value(expr: str, scope: dict):
        expr = expr.strip()
        if expr.startswith('"'):
            return json.loads(expr)
        if expr.startswith("eq "):
            a, b = re.match(r'eq (\S+) (".*")$', expr).groups()
            return value(a, scope) == json.loads(b)
        item = scope.get(".", scope)
        return item.get(expr[1:], scope.get(expr[1:], ""))

    return block(data)[0]


def ollama_render(go_template: str, system: str | None, conv: Conversation) -> str:
    """What Ollama's chat endpoint renders: .System is the caller's system message or the
    Modelfile's SYSTEM; .Messages are the turns."""
    messages = [{"Role": "user" if t.role == "patient" else "assistant", "Content": t.text}
                for t in conv.turns]  # fmt: skip
    return go_render(go_template, {"System": conv.system or system, "Messages": messages})


def test_go_interpreter_follows_go_semantics():
    tpl = (
        '{{ if .A }}a{{ else if eq .B "x" }}b{{ else }}c{{ end }}{{ range .L }}[{{ .V }}]{{ end }}'
    )
    assert go_render(tpl, {"A": "1", "B": "", "L": [{"V": 1}, {"V": 2}]}) == "a[1][2]"
    assert go_render(tpl, {"A": "", "B": "x", "L": []}) == "b"
    assert go_render(tpl, {"A": "", "B": "y", "L": []}) == "c"
    assert go_render('{{ "{{" }} x', {}) == "{{ x"


@pytest.mark.parametrize("template_name", ["model", "oncogpt"])
def test_modelfile_renders_the_same_prompt_as_prompts_py(tiny_tokenizer, template_name):
    template = load_template(template_name)
    text = modelfile("./m.gguf", template, tiny_tokenizer, 1024)
    go_template = re.search(r'TEMPLATE """(.*?)"""', text, re.S).group(1)
    assert go_template == ollama_template(template, tiny_tokenizer)
    system = re.search(r'SYSTEM """(.*?)"""', text, re.S).group(1)
    assert system == template.default_system
    for conv in CONVERSATIONS:
        ids = render_prompt(conv, tiny_tokenizer, template)
        rendered = ollama_render(go_template, system, conv)
        assert rendered == tiny_tokenizer.decode(ids)
        assert tiny_tokenizer(rendered, add_special_tokens=False).input_ids == ids
    stops = re.findall(r"^PARAMETER stop (.*)$", text, re.M)
    assert [json.loads(s) for s in stops] == [tiny_tokenizer.eos_token, *template.stop]
    params = dict(re.findall(r"^PARAMETER (\w+) (\S+)$", text, re.M))
    assert params["temperature"] == "0.1" and params["top_k"] == "40" and params["top_p"] == "0.75"
    assert params["repeat_penalty"] == "1.1" and params["num_predict"] == "128"
