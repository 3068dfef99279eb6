"""The photometric pipeline applied to every scene: blur, exposure, colour casts, sensor noise, JPEG.

The two sensor-noise transforms are cheap re-implementations of albumentations' GaussNoise and ISONoise
(those draw float64 noise for every pixel and channel and cost ~15 ms per 640 px image).
"""

from __future__ import annotations

import math
import os
import sys
from functools import lru_cache
from statistics import NormalDist

import cv2
import numpy as np

# Normal quantiles at the centres of 256 equal-probability bins: a uniform byte through this table is a
# standard-normal sample (tails cut at 2.66 sigma, invisible at the noise levels used here).
_NORMAL_BYTE = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], np.float32)


def _random_bytes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(rng.bytes(int(np.prod(shape))), np.uint8).reshape(shape)


def gauss_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Independent Gaussian noise (std ``sigma`` grey levels) per pixel and channel."""
    noise = cv2.LUT(_random_bytes(rng, img.shape), _NORMAL_BYTE * np.float32(sigma))
    return cv2.add(img, noise, dtype=cv2.CV_8U)


def iso_noise(img: np.ndarray, intensity: float, rng: np.random.Generator) -> np.ndarray:
    """Sensor speckle as albumentations' ISONoise makes it: ``k ~ Poisson(std(L) * intensity)`` per pixel
    raises HLS lightness by ``k * intensity * (1 - L)``. Only speckled pixels change, so only they are
    converted. (ISONoise's hue jitter, under 0.05 degrees, changes no grey level and is left out.)"""
    flat = img.reshape(-1, 3)
    sub = img[::4, ::4].reshape(-1, 3).astype(np.float32)
    lam = float(((sub.max(1) + sub.min(1)) / 510).std()) * intensity  # lightness std from a subsample
    u = rng.random(len(flat), dtype=np.float32)
    cdf = np.cumsum([np.exp(-lam) * lam ** k / math.factorial(k) for k in range(4)])
    idx = np.flatnonzero(u > cdf[0])
    if not len(idx):
        return img
    k = np.searchsorted(cdf, u[idx]).astype(np.float32)
    hls = cv2.cvtColor(flat[idx][:, None].astype(np.float32) / 255, cv2.COLOR_RGB2HLS)
    hls[:, 0, 1] += k * intensity * (1 - hls[:, 0, 1])
    rgb = np.clip(cv2.cvtColor(hls, cv2.COLOR_HLS2RGB)[:, 0] * 255 + 0.5, 0, 255)
    out = img.copy()
    out.reshape(-1, 3)[idx] = rgb.astype(np.uint8)
    return out


@lru_cache(maxsize=1)
def photometric_pipeline():
    """The albumentations pipeline (built once per process; seeded per sample)."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # never reach the network
    blocked = "torch" not in sys.modules and "albumentations" not in sys.modules
    if blocked:  # skip albumentations' optional torch import (seconds per worker); we never need it
        sys.modules["albumentations.pytorch"] = None  # type: ignore[assignment]
    try:
        import albumentations as A
    finally:
        if blocked:
            sys.modules.pop("albumentations.pytorch", None)

    class GaussNoise(A.ImageOnlyTransform):
        def __init__(self, std_range: tuple[float, float], p: float):
            super().__init__(p=p)
            self.std_range = std_range

        def apply(self, img, **_):
            return gauss_noise(img, 255 * self.py_random.uniform(*self.std_range), self.random_generator)

    class ISONoise(A.ImageOnlyTransform):
        def __init__(self, intensity: tuple[float, float], p: float):
            super().__init__(p=p)
            self.intensity = intensity

        def apply(self, img, **_):
            return iso_noise(img, self.py_random.uniform(*self.intensity), self.random_generator)

    return A.Compose([
        A.OneOf([
            A.MotionBlur(blur_limit=(3, 9), p=1.0),
            A.Defocus(radius=(1, 3), alias_blur=(0.1, 0.3), p=1.0),
            A.GaussianBlur(blur_limit=(3, 5), p=1.0),
        ], p=0.35),
        A.RandomBrightnessContrast(brightness_limit=(-0.35, 0.2), contrast_limit=(-0.3, 0.2), p=0.6),
        A.RandomGamma(gamma_limit=(70, 160), p=0.3),  # includes low light
        A.OneOf([
            A.RGBShift(r_shift_limit=25, g_shift_limit=20, b_shift_limit=25, p=1.0),
            A.HueSaturationValue(hue_shift_limit=8, sat_shift_limit=20, val_shift_limit=15, p=1.0),
        ], p=0.4),  # colour casts
        A.OneOf([GaussNoise(std_range=(0.01, 0.06), p=1.0), ISONoise(intensity=(0.1, 0.4), p=1.0)], p=0.45),
        A.ImageCompression(quality_range=(35, 95), p=0.5),
    ])


def photometric(img: np.ndarray, seed: int) -> np.ndarray:
    pipe = photometric_pipeline()
    pipe.set_random_seed(seed)
    return pipe(image=img)["image"]
