"""Serving: an OpenAI-compatible chat-completions API and a web demo (research only).

`serve()` starts the server; `create_app()` builds the FastAPI app around a loaded engine.
See docs/serving.md. Names are imported on first use, so that `oncogpt.serve.options`
(the CLI flags) does not pull in FastAPI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BackgroundServer", "ServeSettings", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from oncogpt.serve import app

        return getattr(app, name)
    raise AttributeError(f"module 'oncogpt.serve' has no attribute {name!r}")
