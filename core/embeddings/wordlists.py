"""Word lists shipped as assets: Bolukbasi's gender lists, the WEAT sets, benchmark files."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.assets import AssetManager


@dataclass(frozen=True)
class GenderLists:
    """Bolukbasi et al.'s lists. Pairs are (female, male), as in ``bolukbasi.json``."""

    definitional_pairs: tuple[tuple[str, str], ...]
    equalize_pairs: tuple[tuple[str, str], ...]
    specific_full: tuple[str, ...]
    specific_seed: tuple[str, ...]
    professions: tuple[tuple[str, float, float], ...]  # (word, definitional, stereotypical)

    @property
    def profession_words(self) -> list[str]:
        return [p[0] for p in self.professions]


def _manager(manager: AssetManager | None) -> AssetManager:
    return manager or AssetManager()


def gender_lists(manager: AssetManager | None = None) -> GenderLists:
    data = json.loads(Path(_manager(manager).ensure("bolukbasi-words")).read_text())["gender"]
    return GenderLists(
        definitional_pairs=tuple(tuple(p) for p in data["definitional_pairs"]),
        equalize_pairs=tuple(tuple(p) for p in data["equalize_pairs"]),
        specific_full=tuple(data["specific_full"]),
        specific_seed=tuple(data["specific_seed"]),
        professions=tuple((p[0], float(p[1]), float(p[2])) for p in data["professions"]),
    )


def case_variants(word: str) -> list[str]:
    """lower, UPPER and Title forms (in that order, without repeats)."""
    out = []
    for w in (word.lower(), word.upper(), word.title()):
        if w not in out:
            out.append(w)
    return out


def with_case_variants(words: Iterable[str]) -> set[str]:
    return {v for w in words for v in case_variants(w)}


def pair_case_variants(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each pair in its lower/UPPER/Title forms (debiaswe's convention for equality sets)."""
    out: list[tuple[str, str]] = []
    for a, b in pairs:
        for va, vb in ((a.lower(), b.lower()), (a.upper(), b.upper()), (a.title(), b.title()), (a, b)):
            if (va, vb) not in out:
                out.append((va, vb))
    return out


@dataclass(frozen=True)
class WeatTest:
    name: str
    targets: tuple[str, str]  # names of X and Y
    attributes: tuple[str, str]  # names of A and B
    x: tuple[str, ...]
    y: tuple[str, ...]
    a: tuple[str, ...]
    b: tuple[str, ...]
    original_d: float | None = None
    original_p: str | None = None


def weat_tests(manager: AssetManager | None = None) -> list[WeatTest]:
    raw = json.loads(Path(_manager(manager).ensure("weat-sets")).read_text())
    tests = []
    for i, t in enumerate(raw, start=1):
        finding = t.get("original_finding", {})
        d = finding.get("d")
        tests.append(WeatTest(
            name=f"WEAT {i}: {t['first_target']['name']} vs {t['second_target']['name']} / "
                 f"{t['first_attribute']['name']} vs {t['second_attribute']['name']}",
            targets=(t["first_target"]["name"], t["second_target"]["name"]),
            attributes=(t["first_attribute"]["name"], t["second_attribute"]["name"]),
            x=tuple(t["first_target"]["words"]), y=tuple(t["second_target"]["words"]),
            a=tuple(t["first_attribute"]["words"]), b=tuple(t["second_attribute"]["words"]),
            original_d=float(d) if d not in (None, "") else None, original_p=finding.get("p"),
        ))
    return tests


def default_name_groups(manager: AssetManager | None = None) -> dict[str, list[str]]:
    """The 18 + 18 first names of WEAT 4 (Caliskan et al.; the ones Bolukbasi's w2v subset contains):
    the name groups the sentiment demo compares by default."""
    test = next(t for t in weat_tests(manager) if "European American" in t.targets[0] and len(t.x) == 18)
    return {"european_american": list(test.x), "african_american": list(test.y)}


SIMILARITY_BENCHMARKS = {  # display name -> asset
    "WordSim353": "bench-wordsim353",
    "SimLex-999": "bench-simlex999",
    "MEN": "bench-men",
    "RG-65": "bench-rg65",
    "MTurk-771": "bench-mturk771",
    "RW": "bench-rw",
}
ANALOGY_BENCHMARKS = {"Google": "bench-google-analogies", "MSR": "bench-msr-analogies"}


def similarity_pairs(asset: str, manager: AssetManager | None = None) -> list[tuple[str, str, float]]:
    """(word1, word2, human score) rows; comment/header lines skipped."""
    rows = []
    for line in Path(_manager(manager).ensure(asset)).read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        try:
            rows.append((parts[0], parts[1], float(parts[2])))
        except (IndexError, ValueError):
            continue  # a header line
    return rows


def analogy_questions(asset: str, manager: AssetManager | None = None) -> list[tuple[str, str, str, str, str]]:
    """(section, a, b, c, d) rows meaning a:b :: c:d."""
    rows, section = [], ""
    for line in Path(_manager(manager).ensure(asset)).read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        parts = line.split()
        if len(parts) == 4:
            rows.append((section, *parts))
    return rows
