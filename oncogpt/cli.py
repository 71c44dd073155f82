"""The `oncogpt` command: subcommands mapped to plain functions in the stage modules."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable

from oncogpt import __version__
from oncogpt.flags import add_model_flags, add_sampling_flags, load_engine, sampling_from_args

NOTICE = "OncoGPT is a research model: not medical advice, not for clinical use."


def _user_errors() -> tuple[type[BaseException], ...]:
    from oncogpt.errors import OncoGPTError

    return (OncoGPTError, OSError)


def cmd_models(args: argparse.Namespace) -> int:
    from oncogpt.models import BASE_NAMES, list_models, resolve_adapter

    header = ("NAME", "BASE", "ADAPTER", "STATUS", "ARCH", "PARAMS", "CONTEXT", "CHAT TEMPLATE")
    rows = [header]
    for m in list_models():
        template = {True: "yes", False: "no", None: "?"}[m.chat_template]
        adapter = "oncogpt (shipped)" if resolve_adapter(m.name, "default") else "-"
        base = BASE_NAMES.get(m.name, "-")
        row = (m.name, base, adapter, m.status, m.architecture, m.parameters)
        rows.append((*row, str(m.context_length or "?"), template))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from oncogpt.conversation import Conversation

    question = " ".join(args.question).strip() or sys.stdin.read().strip()
    engine = load_engine(args)
    print(f"Patient: {question}")
    if args.cite:
        return _ask_cited(engine, question, args)
    print("OncoGPT: ", end="", flush=True)
    for piece in engine.reply(Conversation.single(question), sampling_from_args(args), True):
        print(piece, end="", flush=True)
    print()
    return 0


def _ask_cited(engine, question: str, args: argparse.Namespace) -> int:
    from oncogpt.rag.ask import ask_with_citations
    from oncogpt.safety import DISCLAIMER

    sampling = sampling_from_args(args)  # a bad flag fails before the KB is built
    retriever = _retriever(args)
    mode = "remove" if args.remove_unsupported else "flag"
    cited = ask_with_citations(engine, retriever, question, sampling, args.k, mode, args.compose)
    print(f"OncoGPT: {cited.render()}\n\n{DISCLAIMER}")
    return 0


def cmd_kb_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from oncogpt.progress import Progress
    from oncogpt.rag.kb import build_kb

    with Progress("kb build: embedding", unit="passage") as progress:
        stats = build_kb([Path(s) for s in args.source], Path(args.out), progress=progress)
    print(stats.summary())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from oncogpt.serve.options import serve_from_args

    return serve_from_args(args)


def cmd_chat(args: argparse.Namespace) -> int:
    from oncogpt.chat import run_chat

    engine = load_engine(args)
    sampling = sampling_from_args(args)
    retriever = _retriever(args) if args.cite else None
    return run_chat(engine, sampling, retriever=retriever, compose=args.compose)


def _retriever(args: argparse.Namespace):
    """The retriever over `--kb`, or over the shipped KB (built on first use)."""
    from oncogpt.rag.ask import default_kb
    from oncogpt.rag.retrieve import SqliteRetriever

    return SqliteRetriever(args.kb or default_kb())


def cmd_data_build(args: argparse.Namespace) -> int:
    from oncogpt.data.pipeline import build_dataset

    out, stats = build_dataset(load_command_config(args, DATA_CONFIG))
    rejected = sum(stats.rejected.values())
    print(f"wrote {out}: {sum(stats.split.values())} conversations kept, {rejected} rejected")
    for (stage, split), n in sorted(stats.split.items()):
        print(f"  {stage:>10} {split:<10} {n}")
    print(f"dataset card: {out / 'README.md'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from oncogpt.train.recipe import train

    for result in train(load_command_config(args, TRAIN_CONFIG)):
        m = result.metrics
        losses = ", ".join(
            f"{k} {m[k]:.4f}" for k in ("base_eval_loss", "eval_loss", "train_loss") if k in m
        )
        print(f"stage {result.name}: adapter {result.adapter_dir} ({losses})")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from oncogpt.evaluate.run import run_eval

    out = run_eval(load_command_config(args, EVAL_CONFIG))
    run = json.loads((out / "run.json").read_text())
    done = run["this_call"]
    print(f"{run['items']} items ({run['removed_training_overlap']} removed as near-duplicates of "
          f"training data); answered {done['answered']} now in {done['minutes']} min "
          f"({done['answers_per_minute'] or 0} answers/min)")  # fmt: skip
    print(f"wrote {out / 'results.jsonl'}; compare runs with `oncogpt eval compare DIR…`")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from oncogpt.export import export

    out = export(load_command_config(args, EXPORT_CONFIG))
    print(f"wrote {out}: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0


def cmd_eval_compare(args: argparse.Namespace) -> int:
    from oncogpt.evaluate.report import compare_runs

    report = compare_runs(args.runs, args.out)
    print(f"wrote {report}")
    return 0


def cmd_eval_rules(args: argparse.Namespace) -> int:
    from pathlib import Path

    from oncogpt.evaluate.rules import run_rules

    return run_rules(Path(args.data_dir), Path(args.built))


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
    "models": (cmd_models, "list the models that can be used, with size and context length"),
    "ask": (cmd_ask, "answer one question with a model"),
    "kb build": (cmd_kb_build, "index Markdown, text, JSONL and CSV files into a knowledge base"),
    "serve": (cmd_serve, "serve an OpenAI-compatible API and the web demo on 127.0.0.1"),
    "chat": (cmd_chat, "chat in the terminal (or piped), with history and /reset /save /exit"),
    "data build": (cmd_data_build, "build a clean, de-identified, split dataset folder"),
    "train": (cmd_train, "fine-tune with LoRA, stage by stage"),
    "eval": (cmd_eval, "answer held-out questions and score them (resumable)"),
    "eval-compare": (cmd_eval_compare, "compare eval runs: report.md with CIs and plots"),
    "eval-rules": (cmd_eval_rules, "measure the triage and the categorizer on the public labels"),
    "export": (cmd_export, "merge an adapter into its base: HF folder or GGUF, Ollama Modelfile"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oncogpt", description=f"OncoGPT. {NOTICE}")
    parser.add_argument("--version", action="version", version=f"oncogpt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for name, (func, help_text) in COMMANDS.items():
        group, _, leaf = name.rpartition(" ")
        if group and group not in groups:
            groups[group] = sub.add_parser(group, help=f"{group} commands").add_subparsers(
                dest="subcommand", required=True
            )
        p = (groups[group] if group else sub).add_parser(
            leaf, help=help_text, description=help_text
        )
        p.set_defaults(func=func)
        CONFIGURE.get(name, lambda p: None)(p)
    return parser


def _configure_ask(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", nargs="*", help="the question (read from stdin if absent)")
    _add_cite_flag(p)
    p.add_argument("--kb", default=None, help="knowledge base file (default: the shipped KB)")
    p.add_argument("--k", type=int, default=4, help="passages retrieved for --cite")
    p.add_argument("--remove-unsupported", action="store_true", help="cut unsupported sentences")
    _add_compose_flag(p)
    add_model_flags(p)
    add_sampling_flags(p)


def _configure_serve(p: argparse.ArgumentParser) -> None:
    from oncogpt.serve.options import add_serve_flags

    add_serve_flags(p)


def _add_cite_flag(p: argparse.ArgumentParser) -> None:
    # Grounded answers are the default: on held-out patient questions the 135M model's own
    # answers state false facts (e.g. "advanced lung cancer is curable in most people"), while
    # grounded ones say only what a cited passage says, or that the sources do not cover it.
    p.add_argument(
        "--cite", action=argparse.BooleanOptionalAction, default=True,
        help="answer from the knowledge base with checked citations (default); --no-cite: "
        "the model's own answer, which is not checked against any source",
    )  # fmt: skip


def _add_compose_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--compose",
        default="extract",
        choices=("extract", "rewrite", "free"),
        help="cited answers: passage sentences (extract), simplified by the model and checked "
        "(rewrite), or written by the model from the passages (free)",
    )


def _configure_chat(p: argparse.ArgumentParser) -> None:
    _add_cite_flag(p)
    _add_compose_flag(p)
    p.add_argument("--kb", default=None, help="knowledge base file (default: the shipped KB)")
    add_model_flags(p)
    add_sampling_flags(p)


def _configure_eval_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="eval run folders; the first is the baseline")
    p.add_argument("--out", required=True, help="report folder")


def _configure_eval_rules(p: argparse.ArgumentParser) -> None:
    from oncogpt.evaluate.rules import DATA_DIR

    p.add_argument("--data-dir", default=str(DATA_DIR), help="the shared data folder")
    p.add_argument("--built", default="data/built", help="built dataset (its test split)")


def _configure_kb_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", nargs="+", required=True, help="files or folders to index")
    p.add_argument("--out", required=True, help="the knowledge base file (SQLite)")


def _config_class(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _with_config(path: str, required: bool = False) -> Callable[[argparse.ArgumentParser], None]:
    """Flags for a config class: `--config FILE` plus one flag per field."""

    def configure(p: argparse.ArgumentParser) -> None:
        from oncogpt.config import add_config_flags

        p.add_argument("--config", required=required, default=None, help="YAML config file")
        add_config_flags(p, _config_class(path))

    return configure


def load_command_config(args: argparse.Namespace, path: str):
    """The config of a command: defaults, then --config, then flags."""
    from oncogpt.config import flag_overrides, load_config

    cls = _config_class(path)
    return load_config(cls, args.config, **flag_overrides(args, cls))


DATA_CONFIG = "oncogpt.data.config:DataConfig"
TRAIN_CONFIG = "oncogpt.train.config:TrainConfig"
EVAL_CONFIG = "oncogpt.evaluate.run:EvalConfig"
EXPORT_CONFIG = "oncogpt.export:ExportConfig"

CONFIGURE: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "data build": _with_config(DATA_CONFIG, required=True),
    "train": _with_config(TRAIN_CONFIG),
    "eval": _with_config(EVAL_CONFIG),
    "export": _with_config(EXPORT_CONFIG),  # a bare `--ollama` means true
    "kb build": _configure_kb_build,
    "eval-compare": _configure_eval_compare,
    "eval-rules": _configure_eval_rules,
    "serve": _configure_serve,
    "chat": _configure_chat,
    "ask": _configure_ask,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] in (["eval", "compare"], ["eval", "rules"]):
        argv = [f"eval-{argv[1]}", *argv[2:]]
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except _user_errors() as exc:
        command = " ".join(filter(None, [args.command, getattr(args, "subcommand", None)]))
        print(f"oncogpt {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
