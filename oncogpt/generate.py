"""The generation engine that chat, the server and evaluation all call."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oncogpt.conversation import Conversation
from oncogpt.errors import GenerationError
from oncogpt.prompts import Template, choose_template, fit_prompt, render_prompt
from oncogpt.text import finished_sentences_end, trim_to_sentence


@dataclasses.dataclass
class SamplingConfig:
    """Sampling settings; the defaults are the original OncoGPT chat program's."""

    temperature: float = 0.1
    """Softmax temperature; ignored when greedy."""
    top_k: int = 40
    """Sample only from the k most likely tokens (0 = no limit)."""
    top_p: float = 0.75
    """Nucleus sampling: the smallest set of tokens whose probability adds up to this."""
    repetition_penalty: float = 1.1
    """Values above 1 discourage repeating tokens already in the prompt or answer."""
    max_new_tokens: int = 128
    """The most tokens generated for one answer."""
    greedy: bool = False
    """Always take the most likely token (deterministic)."""
    seed: int | None = None
    """Seed for sampling, for reproducible answers."""
    whole_sentences: bool = True
    """When max_new_tokens cuts an answer, end it at its last complete sentence (streaming
    holds back the unfinished tail until it is complete)."""

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise GenerationError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise GenerationError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise GenerationError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.top_k < 0 or self.repetition_penalty <= 0:
            raise GenerationError("top_k must be >= 0 and repetition_penalty > 0")

    @property
    def is_greedy(self) -> bool:
        # A temperature this small is 0 in float32: sampling would divide by zero.
        return self.greedy or self.temperature < 1e-5

    def generate_kwargs(self) -> dict[str, Any]:
        if self.is_greedy:
            return {"do_sample": False, "repetition_penalty": self.repetition_penalty}
        return {
            "do_sample": True,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "repetition_penalty": self.repetition_penalty,
        }


DECODERS = ("auto", "fast", "plain")


class Engine:
    """A loaded model + tokenizer + template, answering conversations.

    `decoder` picks how tokens are produced: "fast" is `oncogpt.fastdecode.FastDecoder`
    (bf16 prepacked weights, static KV cache, top-k sampling; several times plain generate's
    speed on CPU, see benchmarks/generate_throughput.py), "plain" is transformers'
    `model.generate`, and "auto" takes fast on CPU and plain on GPUs, where generate's own
    kernels are the better choice.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        template: Template,
        decoder: str = "auto",
        weights: str = "auto",
        remote: Any = None,
    ) -> None:
        if decoder not in DECODERS:
            raise GenerationError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.remote = remote
        """An `oncogpt.remote.RemoteBackend` that decodes instead of `model` (which is None)."""
        if remote is not None:
            self.context_length = remote.context_length
            self.decoder = "remote"
            self._fast = None
            return
        self.context_length = int(getattr(model.config, "max_position_embeddings", 2048))
        on_cpu = getattr(model, "device", None) is None or model.device.type == "cpu"
        if decoder == "auto":
            decoder = "fast" if on_cpu else "plain"
        elif decoder == "fast" and not on_cpu:
            raise GenerationError(
                f"decoder 'fast' is the CPU decoder; the model is on {model.device}: "
                "use --decoder plain (or auto) with a GPU"
            )
        from oncogpt.decode.weights import WEIGHTS

        if weights != "auto" and weights not in WEIGHTS:
            raise GenerationError(f"weights must be auto, {', '.join(WEIGHTS)}; got {weights!r}")
        self.decoder = decoder
        self.weights = weights  # the fast decoder's format (oncogpt.decode.weights)
        self._fast: Any = None

    @property
    def fast_decoder(self) -> Any:
        """The FastDecoder, built on first use (it keeps its own bf16 copy of the weights)."""
        if self._fast is None:
            from oncogpt.decode.weights import resolve_weights
            from oncogpt.fastdecode import FastDecoder, onednn_bf16

            dtype = "bfloat16" if onednn_bf16() else "float32"
            weights = resolve_weights(self.weights)
            self._fast = FastDecoder(self.model, self.tokenizer, dtype=dtype, weights=weights)
        return self._fast

    @classmethod
    def load(
        cls,
        model: str | Path = "default",
        adapter: str | Path | None = None,
        template: str = "auto",
        dtype: str = "auto",
        decoder: str = "auto",
        device: str = "auto",
        weights: str = "auto",
        backend: str | None = None,
    ) -> Engine:
        """Load a model (see `oncogpt.models.load_model` for `device` and `dtype`). Template
        `auto` is the one the adapter was trained with when it records one. `backend`: the URL
        of an OpenAI-compatible server that decodes (see oncogpt.remote); then only the
        tokenizer of `model` is loaded here."""
        from oncogpt.models import load_model, resolve_adapter

        if backend:
            return cls._remote(model, adapter, template, backend)
        loaded, tokenizer = load_model(model, adapter=adapter, dtype=dtype, device=device)
        chosen = choose_template(template, tokenizer, resolve_adapter(model, adapter))
        engine = cls(loaded, tokenizer, chosen, decoder, weights)
        if engine.decoder == "fast":
            engine.fast_decoder  # noqa: B018 - built now, so the first answer does not wait
        return engine

    @classmethod
    def _remote(cls, model: str | Path, adapter: str | None, template: str, url: str) -> Engine:
        import os

        from oncogpt.models import check_model_dir, load_tokenizer, resolve_adapter, resolve_model
        from oncogpt.remote import RemoteBackend

        path = resolve_model(model)
        config = check_model_dir(path)
        tokenizer = load_tokenizer(path)
        remote = RemoteBackend(
            url,
            model=os.environ.get("ONCOGPT_BACKEND_MODEL", "oncogpt"),
            api_key=os.environ.get("ONCOGPT_BACKEND_KEY"),
            context_length=int(config.get("max_position_embeddings", 2048)),
        )
        chosen = choose_template(template, tokenizer, resolve_adapter(model, adapter))
        return cls(None, tokenizer, chosen, remote=remote)

    def prompt_ids(self, conv: Conversation, max_new_tokens: int) -> list[int]:
        """The prompt, with old turns (never the current question) trimmed to fit the context."""
        if not conv.ends_with_patient or not conv.question.strip():
            raise GenerationError("the message is empty: ask a question")
        budget = self.context_length - max_new_tokens
        question_tokens = len(self.tokenizer(conv.question, add_special_tokens=False).input_ids)
        fit = fit_prompt(conv, self.tokenizer, self.template, budget)
        if fit.rendered is None and question_tokens <= budget:
            raise GenerationError(
                f"the system text and the message do not fit the model's context "
                f"({self.context_length} tokens, {max_new_tokens} kept for the answer)"
            )
        if fit.rendered is None or question_tokens > budget:
            raise GenerationError(
                f"the message is too long for the model's context ({question_tokens} tokens; "
                f"{budget} fit with {max_new_tokens} left for the answer)"
            )
        return fit.rendered.ids

    def reply(
        self,
        conv: Conversation,
        sampling: SamplingConfig | None = None,
        disclaimer: bool = False,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        """The answer with the safety layer every front end gets (`oncogpt.safety`'s one
        policy): the graded urgent-care or contact-today message first, whatever the model
        says; a crisis answer instead of the model's for requests to harm; and the research-only
        disclaimer last when asked (once a conversation).
        """
        from oncogpt.safety import assess

        self.prompt_ids(conv, (sampling or SamplingConfig()).max_new_tokens)  # validate first
        frame = assess(conv.question).frame(disclaimer)
        if frame.replacement is not None:
            yield frame.replacement
            return
        if frame.prefix:
            yield frame.prefix
        yield from self.stream(conv, sampling, stop)
        if frame.suffix:
            yield frame.suffix

    def stream(
        self,
        conv: Conversation,
        sampling: SamplingConfig | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the raw model answer's text as it is generated; `stop` ends it early.
        Decoding ends at the end token or at a stop string (a new patient turn)."""
        sampling = sampling or SamplingConfig()
        stop = stop or threading.Event()
        pieces = self.continuation(self.prompt_ids(conv, sampling.max_new_tokens), sampling, stop)
        text, shown, natural_end = "", 0, False
        try:
            for piece in pieces:
                text += piece
                cut = self._stop_at(text)
                if cut is not None:
                    text, natural_end = text[:cut], True
                    break
                end = finished_sentences_end(text) if sampling.whole_sentences else len(text)
                if end and end > shown:
                    yield text[shown:end]
                    shown = end
            else:
                natural_end = not self._hit_budget(text, sampling)
        finally:
            stop.set()  # a stop string, an error or a closed consumer: don't decode on
            pieces.close()
        if natural_end or not finished_sentences_end(text):
            yield text[shown:]  # ended by the model (or nothing complete to end at)

    def continuation(
        self, ids: list[int], sampling: SamplingConfig, stop: threading.Event
    ) -> Iterator[str]:
        """The raw model's text after the prompt `ids`, as decoded: no template stop strings,
        no whole-sentence ending, no safety layer (callers add what they need)."""
        decode = {"fast": self._fast_stream, "plain": self._plain_stream}
        return decode.get(self.decoder, self._remote_stream)(ids, sampling, stop)

    def _hit_budget(self, text: str, sampling: SamplingConfig) -> bool:
        """Whether decoding stopped because max_new_tokens ran out, not at the end token."""
        n = len(self.tokenizer(text, add_special_tokens=False).input_ids)
        return n >= sampling.max_new_tokens - 1

    def _remote_stream(
        self, ids: list[int], sampling: SamplingConfig, stop: threading.Event
    ) -> Iterator[str]:
        """The remote server's continuation of the rendered prompt (its text)."""
        from oncogpt.prompts import _adds_bos

        if _adds_bos(self.tokenizer) and ids[:1] == [self.tokenizer.bos_token_id]:
            ids = ids[1:]  # the server adds its own
        prompt = self.tokenizer.decode(ids)
        yield from self.remote.stream_text(prompt, sampling, list(self.template.stop), stop)

    def _fast_stream(
        self, ids: list[int], sampling: SamplingConfig, stop: threading.Event
    ) -> Iterator[str]:
        """FastDecoder's text; its errors are reported as the plain path's are."""
        try:
            yield from self.fast_decoder.stream_text(ids, _for_fast(sampling), stop)
        except GenerationError:
            raise
        except (RuntimeError, ValueError, IndexError) as exc:
            raise GenerationError(f"generation failed: {exc}") from exc

    def _plain_stream(
        self, ids: list[int], sampling: SamplingConfig, stop: threading.Event
    ) -> Iterator[str]:
        """`model.generate` in a thread, its text streamed back; errors re-raised here."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        class _Stopped(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):  # noqa: ANN001
                return stop.is_set()

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        device = self.model.device
        kwargs = dict(
            input_ids=torch.tensor([ids], device=device),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=device),
            max_new_tokens=sampling.max_new_tokens,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([_Stopped()]),
            **sampling.generate_kwargs(),
        )
        failure: list[BaseException] = []
        worker = threading.Thread(target=self._generate, args=(kwargs, failure), daemon=True)
        worker.start()
        try:
            yield from streamer
        finally:
            stop.set()
            worker.join()
        if failure:
            raise GenerationError(f"generation failed: {failure[0]}") from failure[0]

    def _generate(self, kwargs: dict[str, Any], failure: list[BaseException]) -> None:
        import torch

        try:
            with torch.inference_mode():
                self.model.generate(**kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised in the consumer's thread
            failure.append(exc)
            kwargs["streamer"].end()

    def _stop_at(self, text: str) -> int | None:
        hits = [text.find(s) for s in self.template.stop if s in text]
        return min(hits) if hits else None

    def answer(self, conv: Conversation, sampling: SamplingConfig | None = None) -> str:
        return "".join(self.reply(conv, sampling)).strip()

    def answer_batch(
        self, convs: list[Conversation], sampling: SamplingConfig | None = None
    ) -> list[str]:
        """Answer many conversations at once (left-padded batches), with the safety layer."""
        from oncogpt.safety import apply_safety, assess

        sampling = sampling or SamplingConfig()
        prompts = [self.prompt_ids(c, sampling.max_new_tokens) for c in convs]
        texts, budget_hit = self._batch_texts(prompts, sampling)
        answers = []
        for conv, text, hit in zip(convs, texts, budget_hit, strict=True):
            cut = self._stop_at(text)
            if cut is not None:
                text = text[:cut]
            elif sampling.whole_sentences and hit:
                text = trim_to_sentence(text)
            answers.append(apply_safety(text, assess(conv.question)))
        return answers

    def _batch_texts(
        self, prompts: list[list[int]], sampling: SamplingConfig
    ) -> tuple[list[str], list[bool]]:
        """Each prompt's raw answer text, and whether max_new_tokens cut it."""
        if self.decoder == "remote":
            texts = ["".join(self._remote_stream(p, sampling, threading.Event())) for p in prompts]
            return texts, [self._hit_budget(t, sampling) for t in texts]
        if self.decoder == "fast":
            rows = self.fast_decoder.generate_many(prompts, _for_fast(sampling), batch_size=32)
        else:
            rows = self._plain_batch(prompts, sampling)
        eos = self.tokenizer.eos_token_id
        ids = [[int(t) for t in row] for row in rows]
        texts = [self.tokenizer.decode(row, skip_special_tokens=True) for row in ids]
        return texts, [eos not in row and len(row) >= sampling.max_new_tokens for row in ids]

    def _plain_batch(self, prompts: list[list[int]], sampling: SamplingConfig) -> list[Any]:
        """Each prompt's answer ids from one left-padded `model.generate` call."""
        import torch

        longest = max(map(len, prompts))
        pad = self.tokenizer.pad_token_id
        device = self.model.device
        ids = torch.tensor([[pad] * (longest - len(p)) + p for p in prompts], device=device)
        mask = torch.tensor(
            [[0] * (longest - len(p)) + [1] * len(p) for p in prompts], device=device
        )
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=sampling.max_new_tokens,
                eos_token_id=self.tokenizer.eos_token_id,
                pad_token_id=pad,
                **sampling.generate_kwargs(),
            )
        return list(out[:, longest:].cpu())  # read token by token later: no GPU sync each

    def prompt_text(self, conv: Conversation) -> str:
        return self.tokenizer.decode(render_prompt(conv, self.tokenizer, self.template))


def _for_fast(sampling: SamplingConfig) -> SamplingConfig:
    """The settings as FastDecoder reads them (its `greedy` flag), greedy when
    `SamplingConfig.is_greedy` says so."""
    if sampling.is_greedy and not sampling.greedy:
        return dataclasses.replace(sampling, greedy=True)
    return sampling
