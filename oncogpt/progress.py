"""Progress of the long jobs (data build, kb build, eval, export) on stderr.

On a terminal: a tqdm bar with items/s and ETA (as training's). Otherwise (CI logs, pipes,
files): a plain line at the start, at most every `every_s` seconds, and at the end, so logs stay
short and readable. Only counts are shown, never the items: patient text stays out of logs.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return (
        f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
        if minutes >= 60
        else f"{minutes}:{secs:02d}"
    )


class Progress:
    """Counts `done` of `total` (None when unknown); `update(n)` adds, `progress(done, total)`
    sets (the callback shape `build_kb` takes)."""

    def __init__(
        self,
        desc: str,
        total: int | None = None,
        unit: str = "item",
        stream: TextIO | None = None,
        every_s: float = 10.0,
        bar: bool | None = None,
    ) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.done = 0
        self.started = self._last = time.monotonic()
        if bar is None:
            bar = self.stream.isatty()
        self._bar: Any = None
        if bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=True)
        else:
            self._line(force=True)

    def update(self, n: int = 1) -> None:
        self.progress(self.done + n)

    def progress(self, done: int, total: int | None = None) -> None:
        if total is not None and total != self.total:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
        step, self.done = done - self.done, done
        if self._bar is not None:
            self._bar.update(step)
        else:
            self._line()

    __call__ = progress

    def line(self) -> str:
        """`desc: done/total unit (pct%), rate/s, ETA m:ss` (the plain form)."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.desc}: {self.done}"
        if self.total:
            text += f"/{self.total} {self.unit}s ({100 * self.done / self.total:.0f}%)"
        else:
            text += f" {self.unit}s"
        text += f", {rate:.1f} {self.unit}s/s, {_clock(elapsed)} elapsed"
        if self.total and rate > 0 and self.done < self.total:
            text += f", ETA {_clock((self.total - self.done) / rate)}"
        return text

    def _line(self, force: bool = False) -> None:
        now = time.monotonic()
        finished = self.total is not None and self.done >= self.total
        if force or finished or now - self._last >= self.every_s:
            print(self.line(), file=self.stream, flush=True)
            self._last = now

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.total is None or self.done < self.total:
            self._line(force=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
