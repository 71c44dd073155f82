"""Load test of `oncogpt serve` on loopback: throughput, latency, time to first token, errors
and the server's memory. Bounded in requests and time; it starts and stops its own server.

    .venv/bin/python benchmarks/serve_load.py --model tiny              # seconds
    .venv/bin/python benchmarks/serve_load.py --model default --requests 32 --max-tokens 32

`tiny` is the random 2-layer LLaMA the tests use (it measures the server, not the model);
`default` is SmolLM2-135M; any model folder works. Research only: the questions are synthetic.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "My father has small cell lung cancer that has spread to the liver. Can he be cured?",
    "What is a PSA test and what does a value of 6 mean?",
    "My mother starts FOLFOX next week. Which side effects should we watch for?",
    "Is osimertinib used for EGFR mutant lung cancer?",
    "I have a fever of 39C during chemotherapy and chills.",  # red flag: urgent-care path
    "What does HER2 positive breast cancer mean for treatment?",
    "How is the CEA tumour marker used after colon cancer surgery?",
    "Can radiotherapy cause tiredness months after treatment?",
]


@dataclass
class Result:
    stream: bool
    status: int
    latency: float
    ttft: float | None = None
    tokens: int = 0


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    wall: float = 0.0


def tiny_model(folder: Path) -> Path:
    """The tests' tiny random LLaMA (tests/conftest.py), saved as a model folder."""
    sys.path.insert(0, str(ROOT))
    from tests.conftest import build_tiny_llama, build_tokenizer

    tokenizer = build_tokenizer()
    build_tiny_llama(tokenizer).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(model: str, port: int, args: argparse.Namespace) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "oncogpt.serve", "--model", model, "--port", str(port),
        "--max-queue", str(args.max_queue), "--max-batch", str(args.max_batch),
        "--timeout", str(args.timeout), "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ONCOGPT_API_KEY", None)
    return subprocess.Popen(command, cwd=ROOT, env=env)


def wait_until_up(url: str, proc: subprocess.Popen, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"the server did not come up in {limit:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the server this script started, by its own handle: gracefully, then for sure."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def one_request(http: httpx.AsyncClient, i: int, stream: bool, max_tokens: int) -> Result:
    body = {
        "model": "oncogpt",
        "messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
        "max_tokens": max_tokens,
        "stream": stream,
        "stream_options": {"include_usage": True} if stream else None,
    }
    start = time.perf_counter()
    if not stream:
        response = await http.post("/v1/chat/completions", json=body)
        tokens = response.json()["usage"]["completion_tokens"] if response.is_success else 0
        return Result(False, response.status_code, time.perf_counter() - start, None, tokens)
    ttft, tokens = None, 0
    async with http.stream("POST", "/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            event = json.loads(line[6:])
            if (
                ttft is None
                and event.get("choices")
                and event["choices"][0]["delta"].get("content")
            ):
                ttft = time.perf_counter() - start
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            if event.get("error"):
                return Result(True, 599, time.perf_counter() - start, ttft, 0)
        return Result(True, response.status_code, time.perf_counter() - start, ttft, tokens)


async def load(url: str, args: argparse.Namespace, offset: int) -> list[Result]:
    gate = asyncio.Semaphore(args.concurrency)
    limits = httpx.Limits(max_connections=args.concurrency + 2)

    async def guarded(http: httpx.AsyncClient, i: int) -> Result:
        async with gate:
            # Spread evenly: with 50, every other request streams.
            stream = (i * args.stream_percent) % 100 < args.stream_percent
            try:
                return await one_request(http, offset + i, stream, args.max_tokens)
            except httpx.HTTPError:
                return Result(stream, 0, float("nan"))

    async with httpx.AsyncClient(base_url=url, timeout=args.timeout + 10, limits=limits) as http:
        tasks = [asyncio.create_task(guarded(http, i)) for i in range(args.requests)]
        done, pending = await asyncio.wait(tasks, timeout=args.time_limit)
        for task in pending:  # bounded in time: what did not finish counts as an error
            task.cancel()
        return [t.result() for t in done] + [Result(False, 0, float("nan"))] * len(pending)


def percentile(values: list[float], q: float) -> float:
    values = sorted(v for v in values if v == v)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def summary(report: Report, args: argparse.Namespace, health: dict) -> dict:
    ok = [r for r in report.results if r.status == 200]
    latencies = [r.latency for r in ok]
    ttfts = [r.ttft for r in ok if r.ttft is not None]
    return {
        "model": args.model,
        "requests": len(report.results),
        "concurrency": args.concurrency,
        "stream_percent": args.stream_percent,
        "max_tokens": args.max_tokens,
        "wall_s": round(report.wall, 2),
        "throughput_rps": round(len(ok) / report.wall, 2),
        "completion_tokens_per_s": round(sum(r.tokens for r in ok) / report.wall, 1),
        "latency_p50_s": round(percentile(latencies, 0.5), 3),
        "latency_p95_s": round(percentile(latencies, 0.95), 3),
        "ttft_p50_s": round(percentile(ttfts, 0.5), 3),
        "ttft_p95_s": round(percentile(ttfts, 0.95), 3),
        "errors": len(report.results) - len(ok),
        "rss_mib_after_warmup_and_each_round": [round(m, 1) for m in report.rss_mib],
        "server_queue": health.get("queue", {}),
        # The figures depend on what else runs: the 1-minute load average, on this many cores.
        "host_load_avg_1m": round(os.getloadavg()[0], 2),
        "host_cpus": os.cpu_count(),
    }


def run(args: argparse.Namespace) -> dict:
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        model = str(tiny_model(Path(tmp))) if args.model == "tiny" else args.model
        proc = start_server(model, port, args)
        try:
            wait_until_up(url, proc, args.startup_limit)
            warm = argparse.Namespace(**{**vars(args), "requests": 4, "concurrency": 2})
            asyncio.run(load(url, warm, 0))  # first calls allocate; memory is measured after
            report = Report(rss_mib=[rss_mib(proc.pid)])
            start = time.perf_counter()
            for round_ in range(args.rounds):
                report.results += asyncio.run(load(url, args, round_ * args.requests))
                report.rss_mib.append(rss_mib(proc.pid))
            report.wall = time.perf_counter() - start
            health = httpx.get(f"{url}/health", timeout=5).json()
        finally:
            stop_server(proc)
    return summary(report, args, health)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny", help="tiny, default, or a model folder")
    p.add_argument("--requests", type=int, default=48, help="requests per round")
    p.add_argument("--rounds", type=int, default=2, help="rounds (memory is read after each)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--stream-percent", type=int, default=50, help="share of streaming requests")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--max-queue", type=int, default=64)
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--timeout", type=float, default=120.0, help="server's per-request timeout")
    p.add_argument("--time-limit", type=float, default=300.0, help="seconds per round, at most")
    p.add_argument("--startup-limit", type=float, default=300.0)
    p.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    # SIGTERM as an exception, so that `finally` stops the server subprocess too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
