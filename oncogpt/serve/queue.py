"""A bounded queue in front of the engine, and one generation at a time.

torch on a small CPU gains nothing from two generations at once, so a single worker thread
takes work from the queue: requests wait in a bounded queue (a full queue is refused at once
rather than piling up), and non-streaming requests that arrive together with the same sampling
settings are answered in one `answer_batch` call. Each job carries a stop Event: a client that
disconnects or times out sets it, which drops the job from the queue or ends its generation at
the next token, freeing the worker. The worker runs each batch in a thread it watches, so an
engine that never returns cannot block the queue for good.

The worker talks to the asyncio side through each job's asyncio.Queue via
`loop.call_soon_threadsafe`, so no request handler ever blocks the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import threading
import time
import traceback
from typing import Any

from oncogpt.conversation import Conversation
from oncogpt.generate import Engine, GenerationError, SamplingConfig

log = logging.getLogger("oncogpt.serve")


def log_crash(what: str, exc: BaseException) -> None:
    """Log an unexpected error by type and stack frames only: an exception's message can
    quote its input, and patient text must never reach the logs."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s (%s)\n%s", what, type(exc).__name__, frames)


class QueueFull(RuntimeError):
    """The queue holds as many waiting requests as it may."""


@dataclasses.dataclass(frozen=True)
class Delta:
    text: str


@dataclasses.dataclass(frozen=True)
class Done:
    content: str
    finish_reason: str
    completion_tokens: int


@dataclasses.dataclass(frozen=True)
class Failed:
    status: int
    message: str
    type: str = "server_error"


Event = Delta | Done | Failed


def _failed(exc: GenerationError) -> Failed:
    """A request the engine refused is the client's error (400); a remote backend's failure
    (oncogpt.remote.RemoteError) is a bad gateway (502) or a gateway timeout (504)."""
    status = getattr(exc, "status", 400)
    kind = "invalid_request_error" if status == 400 else "server_error"
    return Failed(status, str(exc), kind)


class StopMatcher:
    """The client's stop sequences, looked for only after `protected` characters, so that a
    stop sequence never cuts the safety layer's urgent-care message."""

    def __init__(self, sequences: tuple[str, ...], protected: int = 0) -> None:
        self.sequences = sequences
        self.protected = protected

    def find(self, text: str) -> int | None:
        hits = [i for i in (text.find(s, self.protected) for s in self.sequences) if i >= 0]
        return min(hits) if hits else None

    def safe_length(self, text: str) -> int:
        """How much of `text` can be sent: its end may be the start of a stop sequence."""
        longest = max((len(s) for s in self.sequences), default=1) - 1
        for k in range(min(longest, len(text) - self.protected), 0, -1):
            if any(s.startswith(text[-k:]) for s in self.sequences):
                return len(text) - k
        return len(text)


@dataclasses.dataclass(eq=False)
class Job:
    conv: Conversation
    sampling: SamplingConfig
    stream: bool
    deadline: float
    """time.monotonic() after which the client has been told it timed out."""
    loop: asyncio.AbstractEventLoop
    matcher: StopMatcher = dataclasses.field(default_factory=lambda: StopMatcher(()))
    events: asyncio.Queue = dataclasses.field(default_factory=asyncio.Queue)
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    cite: bool = False
    """Answer from the knowledge base with checked citations (not streamed token by token)."""
    prompt_ids: list[int] | None = None
    """A raw text completion of these ids (/v1/completions): no template, no safety layer."""

    def emit(self, event: Event) -> None:
        # A closed event loop (server shutting down) has nobody left to listen.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)

    def batchable(self) -> bool:
        # Seeded requests run alone: a seed must give the same answer whatever else is queued.
        plain = not self.stream and not self.cite and self.prompt_ids is None
        return plain and self.sampling.seed is None

    def batchable_with(self, other: Job) -> bool:
        return self.batchable() and other.batchable() and self.sampling == other.sampling


class Scheduler:
    """The bounded queue and the worker thread that owns the engine."""

    def __init__(
        self,
        engine: Engine,
        max_queue: int = 16,
        max_batch: int = 8,
        batch_window_s: float = 0.01,
        stall_grace_s: float = 10.0,
        kb: str | None = None,
    ) -> None:
        self.engine = engine
        self.kb = kb
        self._retriever: Any = None
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.batch_window_s = batch_window_s
        self.stall_grace_s = stall_grace_s
        self._pending: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._current: list[Job] = []
        self.running = 0
        self.counts = collections.Counter(
            dict.fromkeys(
                ("served", "batches", "largest_batch", "cancelled", "failed", "stalled"), 0
            )
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="oncogpt-engine", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closed = True
            for job in [*self._pending, *self._current]:
                job.stop.set()
                job.emit(Failed(503, "the server is shutting down"))
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._closed or len(self._pending) >= self.max_queue:
                raise QueueFull(f"the queue is full ({self.max_queue} requests waiting)")
            self._pending.append(job)
            self._cond.notify_all()

    def cancel(self, job: Job) -> None:
        """The client left or timed out: free its slot now and stop its generation."""
        job.stop.set()
        with self._cond:
            if job in self._pending:
                self._pending.remove(job)
                self.counts["cancelled"] += 1

    def stats(self) -> dict[str, Any]:
        with self._cond:
            return {"pending": len(self._pending), "running": self.running, **self.counts}

    # ---------------------------------------------------------------- worker thread

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._current, self.running = batch, len(batch)
            runner = threading.Thread(
                target=self._run_guarded, args=(batch,), name="oncogpt-batch", daemon=True
            )
            runner.start()
            self._watch(runner, batch)
            self._current, self.running = [], 0

    def _run_guarded(self, batch: list[Job]) -> None:
        try:
            self._run(batch)
        except Exception as exc:  # never let one request kill the worker
            log_crash("generation failed", exc)
            for job in batch:
                job.emit(Failed(500, "generation failed; see the server log"))
            self.counts["failed"] += len(batch)

    def _watch(self, runner: threading.Thread, batch: list[Job]) -> None:
        """Wait for the batch. If the engine's own generate thread dies (e.g. a sampler
        error), its stream waits forever: once every deadline has passed plus a grace
        period, abandon that thread so the queue moves on."""
        give_up = max(job.deadline for job in batch) + self.stall_grace_s
        while runner.is_alive():
            runner.join(0.25)
            if runner.is_alive() and time.monotonic() > give_up:
                log.error("the engine stalled on a batch of %d; abandoned", len(batch))
                for job in batch:
                    job.stop.set()
                    job.emit(Failed(500, "generation stalled; see the server log"))
                self.counts["stalled"] += 1
                return

    def _next_batch(self) -> list[Job] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            batch = [self._pending.popleft()]
        if not batch[0].batchable():
            return batch
        # Wait a moment for requests arriving together, so they share one generate call.
        until = time.monotonic() + self.batch_window_s
        with self._cond:
            while len(batch) < self.max_batch and not self._closed:
                for job in [j for j in self._pending if batch[0].batchable_with(j)]:
                    if len(batch) < self.max_batch:
                        self._pending.remove(job)
                        batch.append(job)
                left = until - time.monotonic()
                if left <= 0 or len(batch) >= self.max_batch:
                    break
                self._cond.wait(left)
        return batch

    def _run(self, batch: list[Job]) -> None:
        # A job whose client left or timed out is skipped; the deadline is also checked here,
        # since a client can leave before its handler ever waited for it.
        now = time.monotonic()
        batch = [job for job in batch if not job.stop.is_set() and job.deadline > now]
        if len(batch) > 1:
            self._run_batch(batch)
        elif batch:
            self._run_one(batch[0])
        self.counts["served"] += len(batch)
        self.counts["batches"] += bool(batch)
        self.counts["largest_batch"] = max(self.counts["largest_batch"], len(batch))

    def retriever(self) -> Any:
        """The knowledge base (`--kb`, or the shipped one), opened on the first cited request."""
        if self._retriever is None:
            from oncogpt.rag.ask import default_kb
            from oncogpt.rag.retrieve import SqliteRetriever

            self._retriever = SqliteRetriever(self.kb or default_kb())
        return self._retriever

    def _cited(self, job: Job) -> list[str]:
        from oncogpt.rag.ask import ask_with_citations

        cited = ask_with_citations(self.engine, self.retriever(), job.conv.question, job.sampling)
        return [cited.render()]

    def _run_one(self, job: Job) -> None:
        """Through `engine.reply` (safety layer included), streaming pieces if asked."""
        text, sent, hit = "", 0, False
        if job.cite:
            try:
                pieces = self._cited(job)
            except GenerationError as exc:
                job.emit(_failed(exc))
                return
        elif job.prompt_ids is not None:
            pieces = self.engine.continuation(job.prompt_ids, job.sampling, job.stop)
        else:
            pieces = self.engine.reply(job.conv, job.sampling, False, job.stop)
        try:
            for piece in pieces:
                if hit:
                    continue  # drain: the engine's own thread ends at the next token
                if time.monotonic() > job.deadline:
                    job.stop.set()  # nobody is waiting any more: end at the next token
                text += piece
                cut = job.matcher.find(text)
                if cut is not None:
                    text, hit = text[:cut], True
                    job.stop.set()
                    continue
                if job.stream and (safe := job.matcher.safe_length(text)) > sent:
                    job.emit(Delta(text[sent:safe]))
                    sent = safe
        except GenerationError as exc:
            job.emit(_failed(exc))
            return
        if job.stream and len(text) > sent:
            job.emit(Delta(text[sent:]))
        job.emit(self._done(job, text, hit))

    def _run_batch(self, batch: list[Job]) -> None:
        try:
            answers = self.engine.answer_batch([job.conv for job in batch], batch[0].sampling)
        except GenerationError:  # one bad prompt must not fail the others: answer one by one
            for job in batch:
                self._run_one(job)
            return
        for job, answer in zip(batch, answers, strict=True):
            cut = job.matcher.find(answer)
            job.emit(self._done(job, answer if cut is None else answer[:cut], cut is not None))

    def _done(self, job: Job, text: str, stopped: bool) -> Done:
        """The result; a streamed answer was sent as is, a whole one is stripped.

        The engine returns text, not token ids, so tokens are counted by re-tokenizing: the
        safety text it added, plus the model's part capped at max_tokens (decoded text can
        re-tokenize longer, e.g. bytes of a split character, but the model made no more)."""
        raw = job.prompt_ids is not None  # a text completion is returned as decoded
        content = text if job.stream or raw else text.strip()
        safety, model = content[: job.matcher.protected], content[job.matcher.protected :]
        model_tokens = self._count(model)
        completion = self._count(safety) + min(model_tokens, job.sampling.max_new_tokens)
        length = not stopped and model_tokens >= job.sampling.max_new_tokens
        return Done(content, "length" if length else "stop", completion)

    def _count(self, text: str) -> int:
        return len(self.engine.tokenizer(text, add_special_tokens=False).input_ids) if text else 0
