"""Progress for long actions: a bar on a terminal, silence when piped."""
from __future__ import annotations

import sys


class Progress:
    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._rich = None
        self._task = None

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress as RichProgress
            self._rich = RichProgress(transient=True, console=Console(file=self.stream))
            self._rich.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)

    def step(self, text: str) -> None:
        """A named phase of an action (读取 → 计算 → 写入)."""
        self.update(0, None, text)

    def update(self, done: int, total: int | None, text: str = "") -> None:
        if self._rich is None:
            return
        if self._task is None:
            self._task = self._rich.add_task(self.label, total=total)
        self._rich.update(self._task, completed=done, total=total,
                          description=f"{self.label} {text}".strip())
