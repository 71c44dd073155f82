from __future__ import annotations

import pytest

from oncogpt.conversation import Conversation, ConversationError, Turn
from oncogpt.prompts import (
    RenderError,
    choose_template,
    fit_conversation,
    fit_prompt,
    fit_report,
    load_template,
    render_conversation,
    render_prompt,
)

SINGLE = Conversation.single(
    "My father has lung cancer. Can he be cured?", "Chemotherapy is the mainstay."
)
MULTI = Conversation(
    turns=(
        Turn("patient", "I have breast cancer, stage IIIB."),
        Turn("doctor", "Trastuzumab with chemotherapy before surgery."),
        Turn("patient", "Fever during chemotherapy, what now?"),
        Turn("doctor", "Call your oncology team now."),
    )
)
WITH_SYSTEM = SINGLE.replace(system="Answer briefly.")
TEMPLATES = ["oncogpt", "model"]
CONVERSATIONS = {"single": SINGLE, "multi": MULTI, "system": WITH_SYSTEM}


def _template(name, tokenizer):
    return choose_template(name, tokenizer)


def _answer_text(rendered, tokenizer):
    return tokenizer.decode([i for i, m in zip(rendered.ids, rendered.mask, strict=True) if m])


@pytest.mark.parametrize("template_name", TEMPLATES)
@pytest.mark.parametrize("conv_name", CONVERSATIONS)
def test_generation_prompt_is_training_rendering_cut_before_answer(
    tiny_tokenizer, template_name, conv_name
):
    conv = CONVERSATIONS[conv_name]
    template = _template(template_name, tiny_tokenizer)
    full = render_conversation(conv, tiny_tokenizer, template)
    prompt = render_prompt(conv.replace(turns=conv.turns[:-1]), tiny_tokenizer, template)
    assert full.ids[: len(prompt)] == prompt
    assert len(full.ids) > len(prompt)
    # Everything after the prompt up to the end token is the last answer, and it is trained on.
    answer_mask = full.mask[len(prompt) :]
    assert answer_mask[0] == 1
    assert tiny_tokenizer.eos_token_id in full.ids[len(prompt) :]


@pytest.mark.parametrize("template_name", TEMPLATES)
def test_only_doctor_turns_and_end_tokens_are_trained(tiny_tokenizer, template_name):
    template = _template(template_name, tiny_tokenizer)
    rendered = render_conversation(MULTI, tiny_tokenizer, template)
    trained = _answer_text(rendered, tiny_tokenizer)
    assert "Trastuzumab with chemotherapy before surgery." in trained
    assert "Call your oncology team now." in trained
    assert "breast cancer" not in trained and "Fever" not in trained
    assert trained.count(tiny_tokenizer.eos_token) == 2
    # The mask ends each answer exactly at its end token.
    eos_positions = [i for i, t in enumerate(rendered.ids) if t == tiny_tokenizer.eos_token_id]
    trained_eos = [i for i in eos_positions if rendered.mask[i]]
    assert len(trained_eos) == 2
    for i in trained_eos:
        assert i + 1 == len(rendered.ids) or rendered.mask[i + 1] == 0


def test_train_on_inputs_trains_every_token(tiny_tokenizer):
    template = load_template("oncogpt")
    rendered = render_conversation(SINGLE, tiny_tokenizer, template, train_on_inputs=True)
    assert all(rendered.mask)


def test_plain_template_text_matches_original_chat_program(tiny_tokenizer):
    template = load_template("oncogpt")
    prompt = render_prompt(Conversation.single("Is it cancer?"), tiny_tokenizer, template)
    text = tiny_tokenizer.decode(prompt)
    assert text == (
        "If you are a doctor, please answer the medical questions based on the patient's "
        "description.\n\nPatient: Is it cancer?\nOncoGPT:"
    )


def test_model_template_uses_chat_markup(tiny_tokenizer):
    template = load_template("model")
    text = tiny_tokenizer.decode(
        render_prompt(SINGLE.replace(turns=SINGLE.turns[:1]), tiny_tokenizer, template)
    )
    assert text.startswith("<|im_start|>system\nIf you are a doctor")
    assert text.endswith("<|im_start|>assistant\n")


def test_auto_template_falls_back_without_chat_template(plain_tokenizer, tiny_tokenizer):
    assert choose_template("auto", plain_tokenizer).name == "oncogpt"
    assert choose_template("auto", tiny_tokenizer).name == "model"
    with pytest.raises(RenderError, match="chat template"):
        choose_template("model", plain_tokenizer)
    with pytest.raises(RenderError, match="unknown template"):
        load_template("nope")


def test_bad_conversations_are_named():
    with pytest.raises(ConversationError, match=r"row 3.turns\[0\]: expected a patient"):
        Conversation.from_dict({"turns": [{"role": "doctor", "text": "x"}]}, "row 3")
    with pytest.raises(ConversationError, match="role must be one of"):
        Conversation.from_dict({"turns": [{"role": "nurse", "text": "x"}]})


LONG_Q = "My mother has stage IV colon cancer and the CEA keeps rising after FOLFOX. " * 20


@pytest.mark.parametrize("template_name", TEMPLATES)
def test_truncation_trims_question_middle_and_keeps_answer(tiny_tokenizer, template_name):
    template = _template(template_name, tiny_tokenizer)
    conv = Conversation.single(LONG_Q, "Ask about second-line therapy.")
    fit = fit_conversation(conv, tiny_tokenizer, template, max_tokens=120)
    assert fit.status == "trimmed"
    assert len(fit.rendered) <= 120
    text = tiny_tokenizer.decode(fit.rendered.ids)
    assert "[...]" in text
    assert "My mother has stage IV" in text  # the head of the question survives
    answer = _answer_text(fit.rendered, tiny_tokenizer).strip()
    assert answer == "Ask about second-line therapy." + tiny_tokenizer.eos_token


def test_truncation_drops_oldest_exchanges_first(tiny_tokenizer):
    template = load_template("oncogpt")
    full = render_conversation(MULTI, tiny_tokenizer, template)
    fit = fit_conversation(MULTI, tiny_tokenizer, template, max_tokens=len(full) - 1)
    assert fit.status == "trimmed"
    assert fit.conversation.turns == MULTI.turns[2:]


def test_answer_that_cannot_fit_is_dropped_with_reason(tiny_tokenizer):
    template = load_template("oncogpt")
    conv = Conversation.single("Is it bad?", "Chemotherapy is the mainstay. " * 40)
    fit = fit_conversation(conv, tiny_tokenizer, template, max_tokens=64)
    assert (fit.status, fit.reason) == ("dropped", "answer_too_long")


def test_prompt_fitting_never_drops_current_question(tiny_tokenizer):
    template = load_template("oncogpt")
    history = MULTI.replace(turns=(*MULTI.turns, Turn("patient", "And now?")))
    alone = len(render_prompt(Conversation.single("And now?"), tiny_tokenizer, template))
    fit = fit_prompt(history, tiny_tokenizer, template, max_tokens=alone + 2)
    assert fit.status == "trimmed"
    assert fit.conversation.turns[-1] == Turn("patient", "And now?")


def test_fit_report_counts(tiny_tokenizer):
    template = load_template("oncogpt")
    convs = [
        SINGLE,
        Conversation.single(LONG_Q, "Short."),
        Conversation.single("Q?", "Long answer. " * 80),
    ]
    counts = fit_report(convs, tiny_tokenizer, template, cutoff_len=100)
    assert counts == {"fit": 1, "trimmed": 1, "dropped": 1, "dropped:answer_too_long": 1}
