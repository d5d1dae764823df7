"""kanjian's OCR (``tools.ocr.run_ocr``, RapidOCR) against Tesseract 5 on the rendered set.

``python -m bench.ocr`` renders the labelled images of :mod:`bench.ocr_images`, warms both
engines up, then reads every image with each, side by side in one run, and prints the
character error rate and the median latency per image, per kind and overall, with the
ratios kanjian/Tesseract (goals: CER <= 0.5x, latency <= 1.0x).

CER = total edit distance / total reference length (characters, summed over all images),
after normalising reference and hypothesis alike: Unicode NFKC (full-width ``：`` reads as
``:``), every run of whitespace (newlines included) becomes one space, and spaces next to a
CJK character are dropped (Chinese is written without them; Tesseract puts one between
every character). Spaces between Latin words are kept, so a dropped word space counts as an
error. ``CER (no spaces)`` removes all whitespace, for reference.

Tesseract runs as ``pytesseract.image_to_string(image, lang="chi_sim+eng")`` with its default
page segmentation; both engines use the machine's cores as they are configured by default.
"""

from __future__ import annotations

import re
import statistics
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from bench.ocr_images import Sample, render_set

__all__ = ["cer_counts", "main", "normalise"]

_CJK = (
    r"\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
)
_SPACE_NEXT_TO_CJK = re.compile(rf"\s+(?=[{_CJK}])|(?<=[{_CJK}])\s+")
_WHITESPACE = re.compile(r"\s+")

Reader = Callable[[Image.Image], str]


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _WHITESPACE.sub(" ", text).strip()
    return _SPACE_NEXT_TO_CJK.sub("", text)


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def cer_counts(reference: str, hypothesis: str, *, spaces: bool = True) -> tuple[int, int]:
    """(edit distance, reference length) after normalisation; ``spaces=False`` drops them all."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not spaces:
        ref, hyp = ref.replace(" ", ""), hyp.replace(" ", "")
    return _edit_distance(ref, hyp), len(ref)


@dataclass
class Tally:
    errors: int = 0
    chars: int = 0
    errors_nospace: int = 0
    chars_nospace: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, sample: Sample, text: str, seconds: float) -> None:
        errors, chars = cer_counts(sample.text, text)
        errors_ns, chars_ns = cer_counts(sample.text, text, spaces=False)
        self.errors += errors
        self.chars += chars
        self.errors_nospace += errors_ns
        self.chars_nospace += chars_ns
        self.seconds.append(seconds)

    @property
    def cer(self) -> float:
        return self.errors / self.chars if self.chars else 0.0

    @property
    def cer_nospace(self) -> float:
        return self.errors_nospace / self.chars_nospace if self.chars_nospace else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else 0.0


def _kanjian() -> Reader:
    from kanjian.tools.ocr import run_ocr

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


def _run(samples: list[Sample], readers: dict[str, Reader]) -> dict[str, dict[str, Tally]]:
    """Per engine, per kind (and "all"), the tallies; engines alternate image by image."""
    tallies: dict[str, dict[str, Tally]] = {name: {} for name in readers}
    for sample in samples:
        for name, read in readers.items():
            text, seconds = _timed(read, sample.image)
            for key in (sample.kind, "all"):
                tallies[name].setdefault(key, Tally()).add(sample, text, seconds)
    return tallies


def _report(tallies: dict[str, dict[str, Tally]], count: int) -> None:
    ours, theirs = tallies["kanjian"], tallies["tesseract"]
    print(f"{count} images; CER after normalisation (see module docstring); latency per image")
    print(
        f"{'kind':<12}{'kanjian CER':>13}{'tesseract CER':>15}{'kanjian ms':>12}{'tesseract ms':>14}"
    )
    for kind in [*sorted(k for k in ours if k != "all"), "all"]:
        a, b = ours[kind], theirs[kind]
        print(
            f"{kind:<12}{a.cer:>13.2%}{b.cer:>15.2%}"
            f"{a.median * 1000:>12.0f}{b.median * 1000:>14.0f}"
        )
    a, b = ours["all"], theirs["all"]
    print(
        f"CER (no spaces): kanjian {a.cer_nospace:.2%}, tesseract {b.cer_nospace:.2%}; "
        f"edits {a.errors}/{a.chars} vs {b.errors}/{b.chars}"
    )
    cer_ratio = a.cer / b.cer if b.cer else float("inf")
    latency_ratio = a.median / b.median if b.median else float("inf")
    print(f"CER ratio kanjian/tesseract: {cer_ratio:.3f}x (goal <= 0.5)")
    print(
        f"median latency ratio kanjian/tesseract: {latency_ratio:.3f}x (goal <= 1.0); "
        f"{a.median * 1000:.0f} ms vs {b.median * 1000:.0f} ms"
    )


def main() -> None:
    samples = render_set()
    readers = {"kanjian": _kanjian(), "tesseract": _tesseract()}
    for read in readers.values():  # warm up: model loading and first-call costs
        read(samples[0].image)
    _report(_run(samples, readers), len(samples))


if __name__ == "__main__":
    main()
