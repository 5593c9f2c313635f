"""Shared fixtures: small synthetic photo folders, the shared real-photo folder, quiet logs."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def synthetic_photo(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A smooth, colourful uint8 image: random colour gradients plus a few solid blobs."""
    y, x = np.mgrid[0:size, 0:size] / size
    channels = []
    for _ in range(3):
        a, b, c = rng.uniform(-1, 1, 3)
        channels.append(0.5 + 0.4 * np.sin(3 * (a * x + b * y) + c * 6))
    image = np.stack(channels, -1)
    for _ in range(3):
        cy, cx, r = rng.integers(0, size, 2).tolist() + [rng.integers(size // 8, size // 3)]
        mask = (y * size - cy) ** 2 + (x * size - cx) ** 2 < r**2
        image[mask] = rng.uniform(0, 1, 3)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """``train/`` (12) and ``test/`` (4) folders of 64² synthetic photos."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 4)):
        folder = tmp_path / "photos" / split
        folder.mkdir(parents=True)
        for i in range(count):
            Image.fromarray(synthetic_photo(rng)).save(folder / f"img_{i:02d}.png")
    return tmp_path / "photos"


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "train").is_dir():
        pytest.skip(
            f"real photos not available: {SHARED_DATA} is absent (it is only on the dev machines)"
        )
    return SHARED_DATA


def pytest_terminal_summary(terminalreporter):
    """Lines a test asks to show at the end of the run (``record_property("report_line", text)``): where
    tests/test_browser.py left its screenshots."""
    lines = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == "report_line"
    ]
    for line in dict.fromkeys(lines):  # each test's reports (setup, call, teardown) all carry it
        terminalreporter.write_line(line)
