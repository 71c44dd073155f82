from __future__ import annotations

import io
import json

import pytest

from oncogpt.chat import ChatSession, run_chat
from oncogpt.conversation import Conversation, Turn
from oncogpt.generate import Engine, GenerationError, SamplingConfig
from oncogpt.safety import CRISIS_MESSAGE, DISCLAIMER, URGENT_CARE_MESSAGE

GREEDY = SamplingConfig(greedy=True, max_new_tokens=6)


@pytest.fixture(scope="module", params=["fast", "plain"])
def engine(tiny_model_dir, request):
    """Every engine test runs on both decoders: the front ends must not see a difference."""
    return Engine.load(tiny_model_dir, decoder=request.param)


def test_reply_prepends_urgent_care_for_red_flags(engine):
    conv = Conversation.single("I have a fever of 39C during chemotherapy and chills.")
    text = "".join(engine.reply(conv, GREEDY))
    assert text.startswith(URGENT_CARE_MESSAGE)


def test_reply_answers_harm_with_crisis_resources(engine):
    text = "".join(engine.reply(Conversation.single("I want to end my life tonight."), GREEDY))
    assert text == CRISIS_MESSAGE


def test_disclaimer_only_when_asked(engine):
    conv = Conversation.single("What is a PSA test?")
    assert "".join(engine.reply(conv, GREEDY, disclaimer=True)).endswith(DISCLAIMER)
    assert DISCLAIMER not in "".join(engine.reply(conv, GREEDY))


def test_seeded_sampling_is_reproducible(engine):
    conv = Conversation.single("What is a PSA test?")
    sampling = SamplingConfig(seed=3, max_new_tokens=8, temperature=1.0)
    assert engine.answer(conv, sampling) == engine.answer(conv, sampling)


def test_batch_matches_one_by_one_greedy(engine):
    convs = [
        Conversation.single(q) for q in ("What is a PSA test?", "Is EGFR lung cancer curable now?")
    ]
    batch = engine.answer_batch(convs, GREEDY)
    assert len(batch) == 2
    assert batch[0] == engine.answer(convs[0], GREEDY)


@pytest.mark.parametrize(
    ("conv", "message"),
    [
        (Conversation.single("   "), "empty"),
        (Conversation.single("cancer " * 3000), "too long for the model's context"),
    ],
)
def test_bad_messages(engine, conv, message):
    with pytest.raises(GenerationError, match=message):
        "".join(engine.reply(conv, GREEDY))


def test_sampling_settings_are_checked():
    with pytest.raises(GenerationError, match="top_p"):
        SamplingConfig(top_p=0)
    assert SamplingConfig().generate_kwargs()["temperature"] == 0.1  # the original defaults


def test_piped_chat_with_commands(engine, tmp_path, capsys):
    saved = tmp_path / "conv.json"
    stdin = io.StringIO(
        f"What is a PSA test?\n\n{'cancer ' * 3000}\nAnd a CEA?\n/save {saved}\n/reset\n/exit\n"
    )
    assert run_chat(engine, GREEDY, stdin) == 0
    out = capsys.readouterr().out
    assert out.startswith("Hello, I am OncoGPT")
    assert "(empty message" in out and "too long" in out and "(new conversation)" in out
    assert out.count(DISCLAIMER) == 1  # once per conversation
    turns = json.loads(saved.read_text())["turns"]
    assert [t["role"] for t in turns] == ["patient", "doctor", "patient", "doctor"]
    assert turns[2]["text"] == "And a CEA?"


def test_history_is_trimmed_never_the_current_question(engine):
    session = ChatSession(engine, GREEDY, io.StringIO())
    session.turns = [Turn("patient", "old " * 300), Turn("doctor", "answer " * 300)] * 3
    conv = Conversation(turns=(*session.turns, Turn("patient", "Now?")))
    ids = engine.prompt_ids(conv, GREEDY.max_new_tokens)
    assert len(ids) <= engine.context_length
    assert engine.tokenizer.decode(ids).rstrip().endswith("assistant")
    assert "Now?" in engine.tokenizer.decode(ids)


def test_a_failing_fast_decoder_raises_a_generation_error(tiny_model_dir, monkeypatch):
    engine = Engine.load(tiny_model_dir, decoder="fast")

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine.fast_decoder.runner, "prefill", broken)
    with pytest.raises(GenerationError, match="boom"):
        "".join(engine.stream(Conversation.single("What is a PSA test?"), GREEDY))


def test_a_failing_generate_raises_instead_of_hanging(tiny_model_dir, monkeypatch):
    engine = Engine.load(tiny_model_dir, decoder="plain")

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine.model, "generate", broken)
    with pytest.raises(GenerationError, match="boom"):
        "".join(engine.stream(Conversation.single("What is a PSA test?"), GREEDY))


def test_tiny_temperature_is_greedy():
    assert SamplingConfig(temperature=1e-300).generate_kwargs()["do_sample"] is False


def test_auto_decoder_is_fast_on_cpu_and_unknown_decoders_are_refused(tiny_model_dir):
    engine = Engine.load(tiny_model_dir)
    assert engine.decoder == "fast"
    with pytest.raises(GenerationError, match="decoder must be one of"):
        Engine(engine.model, engine.tokenizer, engine.template, decoder="turbo")


def test_fast_and_plain_decoders_give_the_same_greedy_answer(tiny_model_dir):
    conv = Conversation.single("Is EGFR lung cancer curable now?")
    fast, plain = (Engine.load(tiny_model_dir, decoder=d) for d in ("fast", "plain"))
    from oncogpt.fastdecode import FastDecoder

    # float32, so the answers are token for token generate's (bf16 may drift after a while)
    fast._fast = FastDecoder(fast.model, fast.tokenizer, dtype="float32")
    sampling = SamplingConfig(greedy=True, max_new_tokens=16)
    assert fast.answer(conv, sampling) == plain.answer(conv, sampling)


CUT = "Chemotherapy is given in cycles. Most side effects settle between them. Nausea can be trea"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CUT, "Chemotherapy is given in cycles. Most side effects settle between them."),
        ('He said "stop." Then we', 'He said "stop."'),
        ("No sentence end at all", "No sentence end at all"),
        ("CEA 5.5 ng/mL is high. Repeat", "CEA 5.5 ng/mL is high."),
    ],
)
def test_trim_to_sentence(text, expected):
    from oncogpt.text import trim_to_sentence

    assert trim_to_sentence(text) == expected


@pytest.mark.parametrize(("spare_tokens", "cut"), [(0, True), (8, False)])
def test_stream_holds_back_a_tail_cut_by_the_budget(engine, monkeypatch, spare_tokens, cut):
    """Streaming shows whole sentences; a tail the budget cut is dropped, a finished one kept."""

    def scripted(*args):
        yield from (CUT[i : i + 7] for i in range(0, len(CUT), 7))

    monkeypatch.setattr(engine, "_fast_stream", scripted)
    monkeypatch.setattr(engine, "_plain_stream", scripted)
    n = len(engine.tokenizer(CUT, add_special_tokens=False).input_ids)
    sampling = SamplingConfig(greedy=True, max_new_tokens=n + spare_tokens)
    shown = list(engine.stream(Conversation.single("What is chemo?"), sampling))
    assert all(p.endswith(".") for p in shown[:-1])
    assert "".join(shown) == (CUT[: CUT.rindex(".") + 1] if cut else CUT)


def test_batch_answer_cut_by_the_budget_ends_at_a_sentence(engine, monkeypatch):
    ids = engine.tokenizer(CUT, add_special_tokens=False).input_ids
    rows = [ids, [*ids[:5], engine.tokenizer.eos_token_id]]
    monkeypatch.setattr(engine, "decoder", "plain")
    monkeypatch.setattr(engine, "_plain_batch", lambda prompts, sampling: rows)
    sampling = SamplingConfig(greedy=True, max_new_tokens=len(ids))
    convs = [Conversation.single("What is chemo?"), Conversation.single("And nausea?")]
    cut, finished = engine.answer_batch(convs, sampling)
    assert cut == "Chemotherapy is given in cycles. Most side effects settle between them."
    assert finished == engine.tokenizer.decode(ids[:5])  # ended by the model: kept as it is
