"""What bench/render.py and bench/render_window.py share: a row of the results table and the
formatting of figures."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

WRAP = 100                      # prose is wrapped at this width; table rows are not
MB = 1_000_000
MiB = 1024 * 1024


@dataclass
class Row:
    """One line of the results table, and what the report says about it elsewhere."""
    num: str
    what: str
    ours: str
    base: str
    ratio: str
    bar: str
    verdict: str
    cause: str = ""                               # the "bar not met" paragraph, with its measured cause
    details: list = field(default_factory=list)   # secondary figures, one bullet each

    def cells(self) -> str:
        return "| " + " | ".join(c.replace("|", "/") for c in (
            self.num, self.what, self.ours, self.base, self.ratio, self.bar, self.verdict)) + " |"


def f(x, spec=".2f") -> str:
    return "n/a" if x is None else f"{x:{spec}}"


def ms(x, spec=".0f") -> str:
    return f(None if x is None else x * 1000, spec)


def ratio(x, y):
    return x / y if x and y else None


def verdict(ok) -> str:
    return "n/a" if ok is None else ("MET" if ok else "NOT MET")


def mib(x) -> str:
    return "n/a" if x is None else f"{x / MiB:.0f} MiB"


def wrap(text: str) -> list:
    """Prose at WRAP characters; a bullet's further lines indented under it."""
    indent = "  " if text.startswith("- ") else ""
    return textwrap.wrap(text, WRAP, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def phase(task: str) -> str:
    """`vcloud.usage_meter.inplace_upgrade : Verify | Wait for ...` -> `verify`."""
    return task.split(" : ")[-1].split(" | ")[0].lower()
