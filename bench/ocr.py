"""kanjian's OCR against Tesseract 5 on pages laid out like real ones, side by side in one run.

``python -m bench.ocr`` renders the held-out pages of :mod:`bench.ocr_pages` (multi-column
articles, newspapers, receipts, tables, forms, vertical Chinese, rotated and photographed
pages), reads each with both engines (alternating, image by image) and prints:

- the character error rate per kind, on the multi-column subset and overall, with the ratio
  kanjian/Tesseract (goal: <= 0.5 overall and on the multi-column subset);
- the median in-process latency per image (``run_ocr`` vs ``pytesseract.image_to_string``,
  which runs the ``tesseract`` program per call: that is how Python uses it), goal <= 0.5;
- the median per-process wall time of ``kanjian ocr IMG`` vs ``tesseract IMG - -l chi_sim+eng``
  on a few of the pages written to disk, each started fresh, goal <= 1.0.

``python -m bench.ocr --dev`` scores the tuning split instead (other texts, other seeds).

CER = total edit distance / total reference length over all images of a group, after
normalising the truth and the output alike: Unicode NFKC (``：`` reads as ``:``), table bars
``|`` read as spaces, every run of whitespace (line breaks too) becomes one space, and spaces
next to a CJK character are dropped (Chinese is written without them; Tesseract puts one
between every character). Order counts: a page read in the wrong order scores badly even
when every line was recognised.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from bench.ocr_images import Sample
from bench.ocr_pages import MULTI_COLUMN, render_pages

__all__ = ["cer_counts", "main", "normalise"]

_CJK = (
    r"\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
)
_SPACE_NEXT_TO_CJK = re.compile(rf"\s+(?=[{_CJK}])|(?<=[{_CJK}])\s+")
_WHITESPACE = re.compile(r"[\s|]+")
# Pages started per engine for the per-process figure (each run costs a fresh start-up).
_PROCESS_PAGES = ("columns-en-00", "newspaper-01", "receipt-00", "table-00", "form-00", "photo-00")
_PROCESS_ROUNDS = 2

Reader = Callable[[Image.Image], str]


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _WHITESPACE.sub(" ", text).strip()
    return _SPACE_NEXT_TO_CJK.sub("", text)


def cer_counts(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance, reference length) after normalisation."""
    from rapidfuzz.distance import Levenshtein

    ref, hyp = normalise(reference), normalise(hypothesis)
    return Levenshtein.distance(ref, hyp), len(ref)


@dataclass
class Tally:
    errors: int = 0
    chars: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, sample: Sample, text: str, seconds: float) -> None:
        errors, chars = cer_counts(sample.text, text)
        self.errors += errors
        self.chars += chars
        self.seconds.append(seconds)

    @property
    def cer(self) -> float:
        return self.errors / self.chars if self.chars else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else 0.0


def _kanjian() -> Reader:
    from kanjian.tools.ocr import run_ocr, warm_up

    warm_up()
    return lambda image: run_ocr(image).text


def _tesseract() -> Reader:
    import pytesseract

    version = pytesseract.get_tesseract_version()
    langs = pytesseract.get_languages(config="")
    if "chi_sim" not in langs:
        raise RuntimeError(
            f"Tesseract {version} has no 'chi_sim' language data (it has {sorted(langs)!r}); "
            "install it with `apt-get install tesseract-ocr-chi-sim` (or `make sysdeps`)."
        )
    return lambda image: str(pytesseract.image_to_string(image, lang="chi_sim+eng"))


def _timed(read: Reader, image: Image.Image) -> tuple[str, float]:
    started = time.perf_counter()
    text = read(image)
    return text, time.perf_counter() - started


def _groups(kind: str) -> tuple[str, ...]:
    return (kind, "multi-column", "all") if kind in MULTI_COLUMN else (kind, "all")


def _run(samples: list[Sample], readers: dict[str, Reader]) -> dict[str, dict[str, Tally]]:
    """Per engine, per kind (and the multi-column subset and "all"), the tallies."""
    tallies: dict[str, dict[str, Tally]] = {name: {} for name in readers}
    for sample in samples:
        for name, read in readers.items():
            text, seconds = _timed(read, sample.image)
            for key in _groups(sample.kind):
                tallies[name].setdefault(key, Tally()).add(sample, text, seconds)
    return tallies


def _per_process(samples: list[Sample]) -> tuple[float, float]:
    """Median wall seconds of a fresh ``kanjian ocr IMG`` and ``tesseract IMG -`` per page."""
    kanjian = shutil.which("kanjian", path=str(Path(sys.executable).parent)) or "kanjian"
    tesseract = shutil.which("tesseract") or "tesseract"
    pages = [s for s in samples if s.name in _PROCESS_PAGES] or samples[:4]
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for sample in pages:
            path = Path(tmp) / f"{sample.name}.png"
            sample.image.save(path)
            paths.append(path)
        for _ in range(_PROCESS_ROUNDS):
            for path in paths:
                ours.append(_wall([kanjian, "ocr", str(path)]))
                theirs.append(_wall([tesseract, str(path), "-", "-l", "chi_sim+eng"]))
    return statistics.median(ours), statistics.median(theirs)


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=os.environ.copy(), check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr[-300:]!r}")
    return seconds


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def _report(tallies: dict[str, dict[str, Tally]], count: int, split: str) -> None:
    ours, theirs = tallies["kanjian"], tallies["tesseract"]
    print(f"{count} {split} pages; CER after normalisation (see module docstring); ms per image")
    print(
        f"{'kind':<14}{'n':>3}{'kanjian CER':>13}{'tesseract CER':>15}{'ratio':>7}"
        f"{'kanjian ms':>12}{'tesseract ms':>14}"
    )
    kinds = sorted(k for k in ours if k not in ("all", "multi-column"))
    for kind in [*kinds, "multi-column", "all"]:
        a, b = ours[kind], theirs[kind]
        print(
            f"{kind:<14}{len(a.seconds):>3}{a.cer:>13.2%}{b.cer:>15.2%}{_ratio(a.cer, b.cer):>7.2f}"
            f"{a.median * 1000:>12.0f}{b.median * 1000:>14.0f}"
        )


def _verdict(tallies: dict[str, dict[str, Tally]], process: tuple[float, float]) -> None:
    ours, theirs = tallies["kanjian"], tallies["tesseract"]
    lines = [
        ("CER overall", ours["all"].cer, theirs["all"].cer, 0.5, "{:.2%}"),
        ("CER multi-column", ours["multi-column"].cer, theirs["multi-column"].cer, 0.5, "{:.2%}"),
        ("in-process median s", ours["all"].median, theirs["all"].median, 0.5, "{:.3f}"),
        ("per-process wall s", process[0], process[1], 1.0, "{:.3f}"),
    ]
    for name, a, b, goal, fmt in lines:
        ratio = _ratio(a, b)
        mark = "ok" if ratio <= goal else "MISSED"
        print(
            f"{name:<22} kanjian {fmt.format(a):>8}  tesseract {fmt.format(b):>8}  "
            f"ratio {ratio:.3f}x (goal <= {goal}) {mark}"
        )


def main(split: str = "test") -> None:
    samples = render_pages(split)
    readers = {"kanjian": _kanjian(), "tesseract": _tesseract()}
    readers["tesseract"](samples[0].image)  # its first call pays for loading the page cache
    tallies = _run(samples, readers)
    _report(tallies, len(samples), split)
    process = _per_process(samples)
    _verdict(tallies, process)


if __name__ == "__main__":
    main("dev" if "--dev" in sys.argv[1:] else "test")
