"""Generation speed: `FastDecoder` against plain transformers `model.generate`, same script.

On the default model (SmolLM2-135M-Instruct), with the original OncoGPT sampling settings
(temperature 0.1, top-k 40, top-p 0.75, repetition penalty 1.1), real questions from
../shared/data/oncogpt_qa_public.json rendered with oncogpt.prompts:

(a) single stream: time to first token and decode tokens/s for a ~500-token prompt (a real
    question after real background text), a fixed number of new tokens (end token ignored);
    plain generate and FastDecoder take turns in one process, so a shared machine's drifting
    load falls on both alike, and the ratio reported is the median of the turns' ratios;
(b) batches: answers per minute over real questions (up to 128 new tokens, stopping at the
    end token), FastDecoder in length-sorted batches against plain generate one by one;
(c) peak memory (RSS) of each, measured in processes of their own;
(d) greedy agreement of FastDecoder (bf16 and fp32, and each --weights format) with plain
    fp32 generate, and, for scale, of plain generate on the weights cast to bf16.

FastDecoder runs once per weight format of `--weights` (bf16, int8, int4: see
oncogpt/decode/weights.py), all in the same turns, and (a) prints each format's speed as a
ratio to the bf16 format's, the path FastDecoder took before the quantized formats.

FastDecoder is what `Engine` decodes with on CPU (`--decoder auto`); the baseline is what it
ran before, and what `--decoder plain` runs: fp32 weights, `model.generate`, torch's default
thread count. With `--threads N` the baseline also runs at N threads, the count FastDecoder
then uses, so the ratio at equal threads shows what the decoder itself buys. On a shared
machine two OpenMP threads fighting other processes can be several times slower than one;
compare ratios, and repeat the run.

    .venv/bin/python benchmarks/generate_throughput.py --quick   # about 10 minutes
    .venv/bin/python benchmarks/generate_throughput.py           # 64 questions; longer
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "oncogpt_qa_public.json"
ORIGINAL = {"temperature": 0.1, "top_k": 40, "top_p": 0.75, "repetition_penalty": 1.1}


# --- inputs ---------------------------------------------------------------------------------


def setup(threads: int | None, dtype: str = "auto"):
    """(model, tokenizer, template, rows) with torch's thread count set before any work."""
    import torch

    from oncogpt.models import load_model
    from oncogpt.prompts import choose_template

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, tokenizer = load_model("default", dtype=dtype)
    rows = json.loads(DATA.read_text())
    return model, tokenizer, choose_template("auto", tokenizer), rows


def long_prompt(tokenizer, template, rows, target: int = 500) -> list[int]:
    """A real question after real background text (other answers in the file), ~target tokens;
    fit_prompt trims the middle, so the question at the end is kept whole."""
    from oncogpt.conversation import Conversation
    from oncogpt.prompts import fit_prompt

    background = " ".join(r["output"].strip() for r in rows[1:40])
    question = f"Background I have read: {background}\n\nMy question: {rows[0]['question']}"
    fit = fit_prompt(Conversation.single(question), tokenizer, template, target)
    return fit.rendered.ids


def question_prompts(tokenizer, template, rows, n: int) -> list[list[int]]:
    from oncogpt.conversation import Conversation
    from oncogpt.prompts import render_prompt

    return [
        render_prompt(Conversation.single(r["question"]), tokenizer, template) for r in rows[:n]
    ]


def sampling(**overrides):
    from oncogpt.generate import SamplingConfig

    return SamplingConfig(**{**ORIGINAL, **overrides})


def plain_generate(model, tokenizer, prompt: list[int], n: int, exact: bool, **kwargs):
    """Plain `model.generate` as Engine calls it; returns (new ids, token arrival times)."""
    import torch

    times: list[float] = []

    class Clock:  # a streamer that only notes when each token arrives
        def put(self, value) -> None:
            times.append(time.perf_counter())

        def end(self) -> None:
            pass

    ids = torch.tensor([prompt])
    args = {"do_sample": True, **ORIGINAL, **kwargs}
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=n,
            min_new_tokens=n if exact else 0,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            streamer=Clock(),
            **args,
        )
    return out[0, len(prompt) :].tolist(), times[1:]  # the first put is the prompt


# --- measurements, each run in a child process ----------------------------------------------


def timed_stream(tokens) -> tuple[float, float, int]:
    """(time to first token, decode tokens/s after it, count) of an iterator of tokens."""
    start = time.perf_counter()
    first = last = None
    count = 0
    for _ in tokens:
        last = time.perf_counter()
        first = first or last
        count += 1
    return first - start, (count - 1) / (last - first), count


def one_run(start: float, times: list[float]) -> dict:
    rate = (len(times) - 1) / (times[-1] - times[0])
    return {"ttft_s": times[0] - start, "tokens_per_s": rate, "tokens": len(times)}


def compute_dtype(args) -> str:
    """--dtype, with auto as the engine takes it (bf16 where oneDNN has bf16 matmuls)."""
    from oncogpt.fastdecode import onednn_bf16

    if args.dtype != "auto":
        return args.dtype
    return "bfloat16" if onednn_bf16() else "float32"


def single(args) -> dict:
    """Plain generate at torch's default threads and at --threads, and FastDecoder in each
    weight format, in turns: the load of a shared machine drifts, and taking turns spreads it
    over all of them."""
    import torch

    from oncogpt.fastdecode import FastDecoder

    model, tokenizer, template, rows = setup(None)
    default_threads = torch.get_num_threads()
    threads = args.child_threads or default_threads
    prompt = long_prompt(tokenizer, template, rows)
    decoders, init_s = {}, {}
    for weights in args.weights.split(","):
        start = time.perf_counter()
        decoders[weights] = FastDecoder(
            model, tokenizer, dtype=compute_dtype(args), eos_token_ids=[], weights=weights
        )
        init_s[weights] = time.perf_counter() - start

    def plain(n: int, n_threads: int) -> dict:
        torch.set_num_threads(n_threads)
        start = time.perf_counter()
        return one_run(start, plain_generate(model, tokenizer, prompt, n, exact=True)[1])

    def fast(weights: str, n: int, seed: int) -> dict:
        torch.set_num_threads(threads)
        ttft, rate, count = timed_stream(
            decoders[weights].stream(prompt, sampling(max_new_tokens=n, seed=seed))
        )
        return {"ttft_s": ttft, "tokens_per_s": rate, "tokens": count}

    plain(4, threads)  # warm-up
    for weights in decoders:
        fast(weights, 4, 0)
    runs: dict[str, list[dict]] = {"plain_default": [], "plain": []}
    used = {"plain_default": default_threads, "plain": threads}
    for i in range(args.repeat):
        runs["plain_default"].append(plain(args.new_tokens, default_threads))
        runs["plain"].append(plain(args.new_tokens, threads))
        for weights in decoders:
            runs.setdefault(f"fast {weights}", []).append(fast(weights, args.new_tokens, i))
            used[f"fast {weights}"] = threads
    return {"prompt_tokens": len(prompt), "init_s": init_s, "threads_of": used, "runs": runs}


def memory(args) -> dict:
    """Peak RSS of a single-stream answer (500-token prompt, 32 new tokens), alone in a
    process: plain generate, or FastDecoder next to the model as Engine would hold it."""
    from oncogpt.fastdecode import FastDecoder

    model, tokenizer, template, rows = setup(args.child_threads)
    prompt = long_prompt(tokenizer, template, rows)
    if args.memory_of.startswith("fast"):
        weights = args.memory_of.split(" ")[1]
        decoder = FastDecoder(
            model, tokenizer, dtype=compute_dtype(args), eos_token_ids=[], weights=weights
        )
        list(decoder.stream(prompt, sampling(max_new_tokens=32, seed=0)))
    else:
        plain_generate(model, tokenizer, prompt, 32, exact=True)
    return {"of": args.memory_of}


def single_compiled(args) -> dict:
    """transformers' own route to a faster CPU decode: bf16, static cache, torch.compile."""
    from transformers import CompileConfig

    model, tokenizer, template, rows = setup(args.child_threads, dtype="bfloat16")
    prompt = long_prompt(tokenizer, template, rows)
    config = CompileConfig(dynamic=False)
    config._compile_all_devices = True  # transformers compiles only on GPUs unless told
    kwargs = {"cache_implementation": "static", "compile_config": config}
    start = time.perf_counter()  # the first call compiles (same lengths as the timed ones)
    plain_generate(model, tokenizer, prompt, args.new_tokens, exact=True, **kwargs)
    first_call_s = time.perf_counter() - start
    runs = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        times = plain_generate(model, tokenizer, prompt, args.new_tokens, exact=True, **kwargs)[1]
        runs.append(one_run(start, times))
    steady_s = statistics.median(r["ttft_s"] + r["tokens"] / r["tokens_per_s"] for r in runs)
    return {"prompt_tokens": len(prompt), "compile_s": first_call_s - steady_s, "runs": runs}


def batch_plain(args) -> dict:
    import torch

    model, tokenizer, template, rows = setup(args.child_threads)
    prompts = question_prompts(tokenizer, template, rows, args.questions)
    plain_generate(model, tokenizer, prompts[0], 4, exact=True)  # warm-up
    start = time.perf_counter()
    tokens = 0
    for i, prompt in enumerate(prompts):
        torch.manual_seed(i)
        tokens += len(plain_generate(model, tokenizer, prompt, 128, exact=False)[0])
    return {"seconds": time.perf_counter() - start, "answers": len(prompts), "tokens": tokens}


def batch_fast(args) -> dict:
    from oncogpt.fastdecode import FastDecoder

    model, tokenizer, template, rows = setup(args.child_threads)
    prompts = question_prompts(tokenizer, template, rows, args.questions)
    from oncogpt.decode.weights import resolve_weights

    weights = resolve_weights(args.batch_weights)
    decoder = FastDecoder(model, tokenizer, dtype=compute_dtype(args), weights=weights)
    list(decoder.stream(prompts[0], sampling(max_new_tokens=4, seed=0)))  # warm-up
    start = time.perf_counter()
    if args.batch_size == 1:
        answers = [list(decoder.stream(p, sampling(seed=i))) for i, p in enumerate(prompts)]
    else:
        answers = decoder.generate_many(prompts, sampling(seed=0), batch_size=args.batch_size)
    return {
        "weights": weights,
        "seconds": time.perf_counter() - start,
        "answers": len(prompts),
        # + the end token where there was one, as generate's output has it
        "tokens": sum(len(a) + (len(a) < 128) for a in answers),
    }


def agreement(args) -> dict:
    """Greedy tokens of FastDecoder (bf16, fp32) against plain fp32 generate, per question."""
    import copy

    import torch

    from oncogpt.fastdecode import FastDecoder

    model, tokenizer, template, rows = setup(args.child_threads)
    prompts = question_prompts(tokenizer, template, rows, args.agree_questions)
    n = args.agree_tokens
    greedy = sampling(greedy=True, max_new_tokens=n)
    reference = [
        plain_generate(model, tokenizer, p, n, exact=False, do_sample=False)[0] for p in prompts
    ]
    answers = {}
    runs = [(dtype, "bf16") for dtype in ("bfloat16", "float32")]
    runs += [(compute_dtype(args), w) for w in args.weights.split(",") if w != "bf16"]
    for dtype, weights in runs:
        decoder = FastDecoder(model, tokenizer, dtype=dtype, weights=weights)
        name = f"FastDecoder {dtype}" + ("" if weights == "bf16" else f" {weights}")
        answers[name] = [[*decoder.stream(p, greedy), tokenizer.eos_token_id] for p in prompts]
    # For scale: plain generate on the same weights cast to bf16 (any bf16 run drifts).
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    answers["plain generate bfloat16"] = [
        plain_generate(bf16, tokenizer, p, n, exact=False, do_sample=False)[0] for p in prompts
    ]
    shared = {
        name: [first_difference(r, a, n) for r, a in zip(reference, got, strict=True)]
        for name, got in answers.items()
    }
    return {"questions": len(prompts), "tokens": n, "shared": shared}


def first_difference(a: list[int], b: list[int], n: int) -> int:
    """How many of the first n tokens two answers share (n when they agree that far; an
    answer ending where the other goes on counts as a difference)."""
    a, b = a[:n], b[:n]
    if a == b:
        return n
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(map(len, (a, b)))
    )


MODES = {
    "single": single,
    "memory": memory,
    "single-compiled": single_compiled,
    "batch-plain": batch_plain,
    "batch-fast": batch_fast,
    "agreement": agreement,
}


def child(args) -> None:
    result = MODES[args.child](args)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import torch

    result["threads"] = torch.get_num_threads()
    print(json.dumps(result))


# --- the parent: runs each measurement in a fresh process and prints the comparison ----------


def measure(args, mode: str, threads: int | None, **extra) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--dtype", args.dtype]
    cmd += ["--weights", args.weights, "--batch-weights", args.batch_weights]
    cmd += ["--new-tokens", str(args.new_tokens), "--repeat", str(args.repeat)]
    cmd += ["--questions", str(args.questions), "--batch-size", str(args.batch_size)]
    cmd += ["--agree-questions", str(args.agree_questions)]
    cmd += ["--agree-tokens", str(args.agree_tokens)]
    cmd += ["--child-threads", str(threads or 0)]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    print(f"  running {mode} (threads {threads or 'default'}) ...", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{mode} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def paired_ratio(runs: dict, top: str, bottom: str, key: str) -> float:
    """The median over turns of top/bottom, each turn's pair run minutes apart at most."""
    pairs = zip(runs[top], runs[bottom], strict=True)
    return statistics.median(t[key] / b[key] for t, b in pairs)


def report_single(result: dict, memory: dict, compiled: dict | None) -> dict:
    runs, threads = result["runs"], result["threads_of"]
    n = runs["fast"][0]["tokens"]
    print(f"\n(a) single stream, {result['prompt_tokens']}-token prompt, {n} new tokens (no early")
    print(f"    end), median of {len(runs['fast'])} turns; TTFT = time to first token")
    print(f"    {'':54} {'threads':>7} {'decode tok/s':>12} {'TTFT s':>7} {'peak MiB':>8}")
    fast_keys = [k for k in runs if k.startswith("fast")]
    rows = [
        ("plain generate fp32, default threads", "plain_default"),
        ("plain generate fp32", "plain"),
        *[(f"FastDecoder, weights {k.split()[1]}", k) for k in fast_keys],
    ]
    for name, key in rows:
        r, t = runs[key], threads[key]
        mib = memory[key if key in memory else "plain"]["peak_rss_mib"]
        tps, ttft = median(r, "tokens_per_s"), median(r, "ttft_s")
        print(f"    {name:54} {t:>7} {tps:>12.1f} {ttft:>7.2f} {mib:>8.0f}")
    if compiled:
        name, r = "plain generate bf16 + static cache + torch.compile", compiled["runs"]
        tps, ttft = median(r, "tokens_per_s"), median(r, "ttft_s")
        print(f"    {name:54} {compiled['threads']:>7} {tps:>12.1f} {ttft:>7.2f} "
              f"{compiled['peak_rss_mib']:>8.0f}  (own process, not in turns)")  # fmt: skip
        print(f"    torch.compile: {compiled['compile_s']:.0f} s of compiling in the first call,")
        print(
            "    not counted above; static shapes: a new batch size or cache length compiles again"
        )
    setup_s = ", ".join(f"{w} {s:.1f} s" for w, s in result["init_s"].items())
    print(f"    FastDecoder setup (copy, prepacking, quantizing), once per model: {setup_s}")
    ratios = {}
    for key in fast_keys:
        ratios[f"{key}: decode_vs_plain_same_threads"] = paired_ratio(
            runs, key, "plain", "tokens_per_s"
        )
        ratios[f"{key}: decode_vs_plain_default_threads"] = paired_ratio(
            runs, key, "plain_default", "tokens_per_s"
        )
        ratios[f"{key}: ttft_plain_over_fast_same_threads"] = paired_ratio(
            runs, "plain", key, "ttft_s"
        )
        if key != "fast bf16" and "fast bf16" in runs:
            ratios[f"{key}: decode_vs_fast_bf16"] = paired_ratio(
                runs, key, "fast bf16", "tokens_per_s"
            )
            ratios[f"{key}: ttft_bf16_over_this"] = paired_ratio(runs, "fast bf16", key, "ttft_s")
    for key, value in ratios.items():
        print(f"    {key}: {value:.2f}x (median of the turns' ratios)")
    return ratios


def report_batch(plain: dict, fast: dict, fast_seq: dict | None, batch_size: int) -> dict:
    rows = [("plain generate fp32, one by one", plain)]
    w = f"weights {fast.get('weights', 'bf16')}"
    rows += [(f"FastDecoder, {w}, one by one", fast_seq)] if fast_seq else []
    rows += [(f"FastDecoder, {w}, batches of {batch_size} (sorted by length)", fast)]
    print(f"\n(b) {plain['answers']} real questions, up to 128 new tokens, original sampling")
    print(f"    {'':54} {'answers/min':>11} {'tokens/s':>8} {'tokens':>6} {'peak MiB':>8}")
    for name, r in rows:
        per_min, tps = r["answers"] / r["seconds"] * 60, r["tokens"] / r["seconds"]
        print(
            f"    {name:54} {per_min:>11.1f} {tps:>8.1f} {r['tokens']:>6} {r['peak_rss_mib']:>8.0f}"
        )
    ratio = plain["seconds"] / fast["seconds"]
    print(f"    answers/min, batched FastDecoder vs plain one by one: {ratio:.2f}x")
    return {"answers_per_min_ratio": ratio}


def report_agreement(result: dict) -> None:
    n = result["tokens"]
    print(f"\n(d) greedy agreement with plain fp32 generate, {result['questions']} questions,")
    print(f"    {n} new tokens: answers identical over their first k tokens, for k =")
    ks = sorted({k for k in (8, 16, 32, n) if k <= n})
    print(f"    {'':28} " + " ".join(f"{k:>6}" for k in ks) + "  mean shared")
    for name, shared in result["shared"].items():
        counts = " ".join(f"{sum(s >= k for s in shared):>3}/{len(shared):<2}" for k in ks)
        print(f"    {name:28} {counts}  {statistics.mean(shared):>11.1f}")


def parent(args) -> None:
    results = {"args": vars(args), "load_average_start": os.getloadavg()[0]}
    results["single"] = measure(args, "single", args.threads)
    kinds = ["plain"] + [f"fast {w}" for w in args.weights.split(",")]
    results["memory"] = {of: measure(args, "memory", args.threads, memory_of=of) for of in kinds}
    if args.compile_check:
        results["single_compiled"] = measure(args, "single-compiled", args.threads)
    results["batch_plain"] = measure(args, "batch-plain", args.threads)
    results["batch_fast"] = measure(args, "batch-fast", args.threads)
    if not args.quick:
        results["batch_fast_seq"] = measure(args, "batch-fast", args.threads, batch_size=1)
    results["agreement"] = measure(args, "agreement", args.threads)
    results["load_average_end"] = os.getloadavg()[0]
    if args.json:  # before the report, so a report can always be printed again from it
        Path(args.json).write_text(json.dumps(results, indent=2))
    report(results)


def report(results: dict) -> None:
    print(f"load average {results['load_average_start']:.1f} at the start, "
          f"{results['load_average_end']:.1f} at the end, on {os.cpu_count()} cores")  # fmt: skip
    report_single(results["single"], results["memory"], results.get("single_compiled"))
    report_batch(
        results["batch_plain"], results["batch_fast"], results.get("batch_fast_seq"),
        results["args"]["batch_size"],
    )  # fmt: skip
    print("\n(c) peak memory: the 'peak MiB' columns (peak RSS of each measurement's process)")
    report_agreement(results["agreement"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 questions, fewer runs")
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch threads for FastDecoder and the same-threads baseline (default: torch's, "
        "as the engine runs)",
    )  # fmt: skip
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "bfloat16", "float32"],
        help="FastDecoder's compute dtype; auto: the engine's (bf16 where oneDNN has bf16 matmuls)",
    )  # fmt: skip
    parser.add_argument(
        "--weights", default="bf16,int8,int4", help="FastDecoder weight formats to compare"
    )
    parser.add_argument(
        "--batch-weights", default="auto", help="the weight format of (b) (auto: the default)"
    )
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=None, help="single-stream runs (3)")
    parser.add_argument("--questions", type=int, default=None, help="batch questions (64)")
    parser.add_argument("--batch-size", type=int, default=None, help="(32; 16 with --quick)")
    parser.add_argument("--agree-questions", type=int, default=None, help="(32; 8 with --quick)")
    parser.add_argument("--agree-tokens", type=int, default=64)
    parser.add_argument("--compile-check", action="store_true", help="also time torch.compile")
    parser.add_argument("--json", help="write all results to this file")
    parser.add_argument("--report", help="print the report of a --json file again; no runs")
    parser.add_argument("--child", choices=sorted(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--child-threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--memory-of", default="plain", help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = args.quick
    args.repeat = args.repeat or (2 if quick else 3)
    args.questions = args.questions or (16 if quick else 64)
    args.batch_size = args.batch_size or (16 if quick else 32)
    args.agree_questions = args.agree_questions or (8 if quick else 32)
    if args.report:
        report(json.loads(Path(args.report).read_text()))
    elif args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
