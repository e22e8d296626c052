"""Procedural dSprites (Matthey et al. 2017) on the real factor grid, in the real order.

Factors (color dropped): shape {square, ellipse, heart}, scale linspace(0.5, 1, 6), orientation linspace(0, 2π, 40),
posX, posY linspace(0, 1, 32); index = classes · [245760, 40960, 1024, 32, 1]. Binary 64×64 sprites, no
anti-aliasing: each (shape, scale, orientation) sprite is rasterised once on a 28×28 patch (pixel-centre sampling
of an implicit shape, rotated about its centre), then pasted at its position; centres span pixels 16–49.

Sizes follow the real images (areas measured on the reference samples at scale 1): the square is 19 px a side
(361 px²; real ≈ 363–369), the ellipse 24.5 × 12.3 px (236 px²; real ≈ 237), the heart about 18 px across
(233 px²; real ≈ 234); every size scales linearly with ``scale``.
"""

from __future__ import annotations

import functools

import numpy as np

NAME = "dsprites"
FACTOR_NAMES = ["shape", "scale", "orientation", "posX", "posY"]
FACTOR_SIZES = [3, 6, 40, 32, 32]
N_TOTAL = 737_280
STRIDES = np.array([245760, 40960, 1024, 32, 1], dtype=np.int64)
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
PATCH = 28
EXTENT = 19.0  # px: side of the square at scale 1; the unit of the implicit shapes below is EXTENT / 2
CENTRE_LO, CENTRE_HI = 16.0, 49.0
CENTRE_OFFSET = (0.1, 0.15)  # sub-pixel offset (rows, columns) of the rotation centre within its pixel


def factor_values(classes: np.ndarray) -> np.ndarray:
    c = np.asarray(classes, dtype=np.int64)
    return np.stack(
        [c[:, 0] + 1.0, SCALES[c[:, 1]], ORIENTATIONS[c[:, 2]], POSITIONS[c[:, 3]], POSITIONS[c[:, 4]]], axis=1
    )


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Implicit shapes in units of EXTENT / 2 (the square is [-1, 1]²); v points up."""
    if shape == 0:  # square
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
    if shape == 1:  # ellipse, elongated vertically at orientation 0 (axes 1 : 2, the square's area × 0.65)
        return (u / 0.645) ** 2 + (v / 1.29) ** 2 <= 1.0
    x, y = u * 1.19, v * 1.19 + 0.15  # heart (point down): (x² + y² − 1)³ − x² y³ ≤ 0
    return (x * x + y * y - 1.0) ** 3 - x * x * y**3 <= 0.0


@functools.lru_cache(maxsize=None)
def sprites() -> np.ndarray:
    """All 3 × 6 × 40 sprites on (PATCH, PATCH) patches, bool, centre at pixel (PATCH/2 - 0.5)."""
    c = np.arange(PATCH) - (PATCH / 2 - 0.5)
    # the rotation centre sits off the pixel grid's symmetry points, so sprites that are symmetric under a quarter
    # (square) or half (ellipse) turn still rasterise differently at nearby grid orientations
    yy, xx = np.meshgrid(c - CENTRE_OFFSET[0], c - CENTRE_OFFSET[1], indexing="ij")
    out = np.zeros((3, 6, 40, PATCH, PATCH), dtype=bool)
    for s in range(3):
        for i, scale in enumerate(SCALES):
            half = scale * EXTENT / 2.0
            for j, theta in enumerate(ORIENTATIONS):
                ct, st = np.cos(theta % (2 * np.pi)), np.sin(theta % (2 * np.pi))  # 2π draws exactly as 0
                u = (ct * xx - st * yy) / half  # rotate the sampling grid by −θ: the sprite turns by θ
                v = (st * xx + ct * yy) / half
                out[s, i, j] = _inside(s, u, -v)
    return out


def centres(pos_class: np.ndarray) -> np.ndarray:
    """Integer pixel of a sprite centre for a position class: 16 … 49."""
    return np.rint(CENTRE_LO + (CENTRE_HI - CENTRE_LO) * POSITIONS[pos_class]).astype(np.int64)


def render(classes: np.ndarray) -> np.ndarray:
    """uint8 images (n, 64, 64, 1) with values {0, 255} for class rows (n, 5)."""
    c = np.asarray(classes, dtype=np.int64)
    n = len(c)
    patches = sprites()[c[:, 0], c[:, 1], c[:, 2]]  # (n, P, P)
    top = centres(c[:, 4]) - PATCH // 2 + 1  # posY -> rows
    left = centres(c[:, 3]) - PATCH // 2 + 1  # posX -> columns
    rows = top[:, None, None] + np.arange(PATCH)[None, :, None]
    cols = left[:, None, None] + np.arange(PATCH)[None, None, :]
    out = np.zeros((n, 64, 64), dtype=np.uint8)
    out[np.arange(n)[:, None, None], rows, cols] = patches.astype(np.uint8) * 255
    return out[..., None]
