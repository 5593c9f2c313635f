"""Geometric data augmentation (ColorED's), with albumentations.

ColorED used HorizontalFlip(p=0.5) + ShiftScaleRotate(shift 6 %, scale ±10 %, rotate ±45°,
nearest interpolation, reflect-101 border). ShiftScaleRotate is deprecated in albumentations 2, so
this is the same transform expressed with ``Affine``. Nothing here touches colour: the ab targets
must stay the true colours of the photo.
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np


def build_augmenter(enabled: bool = True, seed: int | None = None) -> A.Compose:
    """ColorED's geometric augmentation; ``enabled=False`` gives an identity transform."""
    transforms = []
    if enabled:
        transforms = [
            A.HorizontalFlip(p=0.5),
            A.Affine(
                translate_percent=(-0.06, 0.06),
                scale=(0.9, 1.1),
                rotate=(-45, 45),
                interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_REFLECT_101,
                p=0.5,  # ShiftScaleRotate's default probability
            ),
        ]
    return A.Compose(transforms, seed=seed)


def augment(augmenter: A.Compose, rgb: np.ndarray) -> np.ndarray:
    """Apply ``augmenter`` to one RGB image (any dtype albumentations accepts)."""
    return augmenter(image=rgb)["image"]
