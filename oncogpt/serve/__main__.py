"""`python -m oncogpt.serve --model default --port 8000`: the server without the CLI."""

from __future__ import annotations

import argparse
import sys

from oncogpt.serve.options import add_serve_flags, serve_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oncogpt.serve",
        description="OpenAI-compatible API and web demo. Research only, not for clinical use.",
    )
    add_serve_flags(parser)
    return serve_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
