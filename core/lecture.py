"""The lecture path: both lectures as a list of steps in the order of the slides.

The steps live in one data file, ``core/lecture.toml`` (its header documents the fields). Each step names
the slide's heading, the page that teaches it (a ``url_path`` of ``dashboard/navigation.py``), a preset view
(a query string the page's URL state understands), the slide's formula or claim in a line, what to try, and
a check question with its answer. The dashboard walks it with a "Slide k / N" control
(``dashboard/lecture.py``), the warm start computes every step's view before class (``serving/serve.py``),
and ``python -m core lecture --json`` prints it.

Which headings of the notes are *content* slides: every top-level heading except the title, agenda,
divider and backup slides listed in :data:`NOT_CONTENT` (tests/pages/test_lecture_path.py checks the
steps against the notes).
"""

from __future__ import annotations

import argparse
import functools
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

PATH_FILE = Path(__file__).with_name("lecture.toml")

# Headings of the notes that are not content slides: titles, agendas, section dividers (their only content
# is "Part One: ..." and a notebook link), the closing title and the backup template slides.
NOT_CONTENT = frozenset({
    "Lecture Notes for Neural Networks and Machine Learning", "Logistics and Agenda", "CNN Visualization",
    "Visualizing ConvNets", "Backup slides", "Title Between Topics", "Example Slide", "Title",
})
FIELDS = ("slide", "page", "query", "section", "claim", "try", "question", "answer")
REQUIRED = ("slide", "page", "query", "claim", "try", "question", "answer")


@dataclass(frozen=True)
class Step:
    slide: str  # the slide's heading, as in the notes
    page: str  # url_path of the page
    query: str  # the preset view ("" = the page's defaults)
    claim: str  # the slide's formula or claim (LaTeX between $ $)
    try_: str  # what to try
    question: str
    answer: str
    section: str = ""  # the sub-heading this step is about (optional)

    @property
    def params(self) -> dict[str, str]:
        """The preset view as a dict (one value per key)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["try"] = d.pop("try_")
        return {k: d[k] for k in FIELDS}


class LecturePathError(ValueError):
    """The lecture path file is malformed (a bug of the file, reported with the step's number)."""


@functools.cache
def steps(path: Path = PATH_FILE) -> tuple[Step, ...]:
    """Every step of the lecture path, in order."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, raw in enumerate(data.get("step", []), start=1):
        missing = [k for k in REQUIRED if k not in raw]
        unknown = [k for k in raw if k not in FIELDS]
        if missing or unknown:
            raise LecturePathError(f"{path.name} step {i}: missing {missing}, unknown {unknown}")
        if not all(isinstance(v, str) for v in raw.values()):
            raise LecturePathError(f"{path.name} step {i}: every field is a string")
        out.append(Step(slide=raw["slide"], page=raw["page"], query=raw["query"].lstrip("?"), claim=raw["claim"],
                        try_=raw["try"], question=raw["question"], answer=raw["answer"],
                        section=raw.get("section", "")))
    if not out:
        raise LecturePathError(f"{path.name} has no [[step]]")
    return tuple(out)


@functools.cache
def extra_views(path: Path = PATH_FILE) -> tuple[tuple[str, str, str], ...]:
    """(page, query, why) of the off-default views a lecturer is likely to open beyond the path."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return tuple((v["page"], v["query"].lstrip("?"), v.get("why", "")) for v in data.get("view", []))


def class_views() -> list[tuple[str, str]]:
    """Every (page, query) to compute before class: each step's preset, then the extra views; each once.
    Pages at their defaults come first (``query == ""``)."""
    seen: list[tuple[str, str]] = []
    for view in [(s.page, s.query) for s in steps()] + [(p, q) for p, q, _ in extra_views()]:
        if view not in seen:
            seen.append(view)
    return sorted(seen, key=lambda v: v[1] != "")  # stable: defaults first, then presets in path order


def content_headings(notes: str) -> list[str]:
    """The notes' top-level headings that are content slides, in order, markup removed, consecutive
    repeats merged (a slide continued over several pages is one slide)."""
    out: list[str] = []
    for line in notes.splitlines():
        if not line.startswith("# "):
            continue
        heading = re.sub(r"[*_`]", "", line[2:]).strip()
        if heading in NOT_CONTENT:
            continue
        if not out or out[-1] != heading:
            out.append(heading)
    return out


def slide_sequence(path_steps=None) -> list[str]:
    """The steps' slide headings with consecutive repeats merged (several steps may show one slide)."""
    out: list[str] = []
    for s in path_steps or steps():
        if not out or out[-1] != s.slide:
            out.append(s.slide)
    return out


# ----------------------------------------------------------------------------- CLI


def _cmd_lecture(args: argparse.Namespace) -> tuple[Any, str]:
    all_steps = steps()
    payload = {"steps": [s.as_dict() for s in all_steps], "count": len(all_steps),
               "slides": len(slide_sequence(all_steps)),
               "extra_views": [{"page": p, "query": q, "why": w} for p, q, w in extra_views()]}
    lines = [f"{i:2d}. {s.slide}" + (f" — {s.section}" if s.section else "") + f"  [{s.page}"
             + (f"?{s.query}" if s.query else "") + "]" for i, s in enumerate(all_steps, start=1)]
    lines.append(f"{len(all_steps)} steps over {payload['slides']} slides.")
    return payload, "\n".join(lines)


def register_cli(sub: argparse._SubParsersAction) -> None:
    from core.cli import add_common

    p = sub.add_parser("lecture", help="the lecture path: every slide as a step (page, preset view, check question)")
    add_common(p)
    p.set_defaults(func=_cmd_lecture)
