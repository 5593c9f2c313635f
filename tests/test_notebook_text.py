"""The notebooks' prose must agree with their outputs.

A lab handout that says "the loss levels off around 0.0013" above an output of 0.0017 teaches the
student to distrust the outputs (or the text). nbval keeps the *outputs* honest; this keeps the *text*
honest where a machine can: every number quoted in a markdown cell must be printed by a cell, written
in the notebook's code (a parameter, a constant), or be a documented fact listed below with its source.
Ratios are stated as numbers ("12×"), never as words ("ten times"), so that they are checked too.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from colored.color import HUE_NAMES
from colored.notebook import chain

from .test_notebooks import NOTEBOOK_DIR

# Numbers the text may quote without a cell printing them: facts from outside the notebook, each with
# where it comes from. Keep this short; a number that a cell can print should be printed instead.
FACTS: dict[str, str] = {
    "256": "the seed's image size (../shared/reference/FACTS.md)",
    "200": "the seed's epochs",
    "5,000": "photos in the Kaggle dataset's train split",
    "739": "photos in the Kaggle dataset's test split",
    "1,000": "ImageNet classes, the embedding's length",
    "215": "MB of InceptionResNetV2 ImageNet weights (Keras' download)",
    "2016": "Zhang et al. 2016, Colorful Image Colorization",
    "0.38": "Zhang et al.'s annealed-mean temperature",
    "91": "% of the seed's data time spent in InceptionResNetV2 (README, Training throughput)",
    "162": "ms per image of InceptionResNetV2 in the seed-style generator (README, Training throughput)",
    "512": "filters of the encoder's widest convolutions (notebook 03's summary shows them)",
    "2.4": "M weights of one 512 × 512 × 9 convolution, arithmetic in the sentence itself",
    "150": "the largest threshold of Zhang's AuC, in Lab units (colored.metrics)",
    "299": "InceptionResNetV2's input size",
}
# Words for ratios hide numbers from the check above.
WORDED_RATIO = re.compile(
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a dozen|dozens of)\s+times\b",
    re.IGNORECASE,
)
# What counts as a quoted number: decimals (0.0013, 6.2), thousands (6,541,202), integers of two or
# more digits (44, 128), with a percent or × kept apart. Not: notebook numbers (01..07), steps (1–8).
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+\.\d+|\d{2,})(?![\w])")
LINK = re.compile(r"\]\([^)]*\)|<https?://[^>]*>|https?://\S+")
NOTEBOOK_NUMBER = re.compile(r"^0\d$")


def quoted_numbers(markdown: str) -> list[str]:
    text = LINK.sub(" ", markdown)
    text = re.sub(
        r"`[^`]*`", " ", text
    )  # code: parameter settings to try, names (checked by nbval's run)
    text = re.sub(
        r"\b\d+(?:–\d+)?\s?(?:min|s)\b", " ", text
    )  # how long an exercise takes: a rough guide
    text = re.sub(r"\b\d+-bit\b", " ", text)
    text = re.sub(r"\b\d{2}_\w+", " ", text)  # file names such as 06_history.png, 02_preprocessing
    text = re.sub(r"\b(?:ab_acc_|epoch_)\d+", " ", text)  # metric and file names
    return [n for n in NUMBER.findall(text) if not NOTEBOOK_NUMBER.match(n)]


def notebook_corpus(nb) -> str:
    """Everything a student can see that is not prose: the code and every committed text output."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            for kind in ("text/plain", "text/markdown", "text/html"):
                data = output.get("data", {}).get(kind)
                if data:
                    parts.append(data if isinstance(data, str) else "".join(data))
    return "\n".join(parts)


def appears(number: str, corpus: str) -> bool:
    # "0.002" also matches "0.0020"; "6,285,202" also matches "6285202"; "12" matches "12.2" (a ratio
    # quoted to the whole number) but never "112" or "1.12".
    forms = {number, number.replace(",", "")}
    return any(re.search(rf"(?<![\d.]){re.escape(form)}(?!\d)", corpus) for form in forms)


@pytest.fixture(scope="module", params=chain.NOTEBOOKS)
def notebook(request):
    return request.param, nbformat.read(str(NOTEBOOK_DIR / request.param), as_version=4)


def test_numbers_in_the_text_are_printed_or_documented(notebook):
    name, nb = notebook
    corpus = notebook_corpus(nb)
    stale = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for number in quoted_numbers(cell.source):
            if number not in FACTS and not appears(number, corpus):
                stale.append(f"cell {cell.get('id')}: {number}")
    assert not stale, (
        f"{name}: numbers in the text that no cell prints and no code contains (they go stale: "
        f"print them from a cell, word them so they cannot go stale, or, for an outside fact, "
        f"add it to FACTS in {__name__} with its source): {stale}"
    )


def test_ratios_are_numbers_not_words(notebook):
    name, nb = notebook
    worded = [
        f"cell {c.get('id')}: {m.group(0)!r}"
        for c in nb.cells
        if c.cell_type == "markdown"
        for m in WORDED_RATIO.finditer(c.source)
    ]
    assert not worded, (
        f"{name}: ratios in words cannot be checked against the outputs; print them: {worded}"
    )


# A colour the text names for a printed colour (*grayish red*): colored.color.ab_colour_name's words, in
# italics, must be what a cell printed (a person once called a mauve swatch "orange-brown").
NAMED_COLOUR = re.compile(
    r"\*((?:grayish )?(?:" + "|".join(sorted({n for _, n in HUE_NAMES})) + r"|gray))\*"
)


def test_colour_names_in_the_text_are_the_printed_ones(notebook):
    name, nb = notebook
    corpus = notebook_corpus(nb)
    wrong = [
        f"cell {c.get('id')}: {m.group(1)!r}"
        for c in nb.cells
        if c.cell_type == "markdown"
        for m in NAMED_COLOUR.finditer(c.source)
        if m.group(1) not in corpus
    ]
    assert not wrong, (
        f"{name}: colours named in the text that no cell printed (colored.color.ab_colour_name): {wrong}"
    )


def test_the_check_catches_the_mismatches_it_was_written_for():
    """The defects found in review: a quoted loss the output did not show, a worded ratio."""
    corpus = (
        "PASS: loss 0.0273 -> ~0.0016 (< 0.002)\nSimplifiedModel 513,570 parameters\n12.2× smaller"
    )
    assert [
        n for n in quoted_numbers("the loss levels off around 0.0013") if not appears(n, corpus)
    ] == ["0.0013"]
    assert all(
        appears(n, corpus)
        for n in quoted_numbers("below the 0.002 threshold; 513,570 parameters; 12× smaller")
    )
    assert WORDED_RATIO.search("the SimplifiedModel is ten times smaller")
    assert (
        quoted_numbers(
            "see [03](03_model.ipynb), notebook 05, 06_history.png, ab_acc_10, steps 1–8"
        )
        == []
    )
    assert quoted_numbers("set `epochs = 30` (10–15 min), 16-bit TIFF") == []
    assert not appears("12", "112 and 1.12")
    assert [
        m.group(1) for m in NAMED_COLOUR.finditer("the mean is a *grayish orange*, or *blue*")
    ] == ["grayish orange", "blue"]
