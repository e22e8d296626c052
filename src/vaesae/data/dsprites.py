"""Procedural dSprites (Matthey et al. 2017) on the real factor grid, in the real order.

Factors (color dropped): shape {square, ellipse, heart}, scale linspace(0.5, 1, 6), orientation linspace(0, 2π, 40),
posX, posY linspace(0, 1, 32); index = classes · [245760, 40960, 1024, 32, 1]. Binary 64×64 sprites, no
anti-aliasing: each (shape, scale, orientation) sprite is rasterised once on a 28×28 patch (pixel-centre sampling
of an implicit shape, rotated about its centre), then pasted at its position; centres span pixels 16–49.

Shapes, in px at scale 1 (every size scales linearly with ``scale``), fitted to the real frames of
``dsprites_samples_{0,2,4}.png`` in the reference folder (64×64 grids upscaled ×2.27–2.31 by nearest neighbour, read
back at each cell's centre: 43 frames, 15 squares, 17 ellipses, 11 hearts):

- square: side 19 (361 px²; real scale-1 squares 364–369 px²).
- ellipse: semi-axes 6.3 × 11.9, long axis vertical at orientation 0 (235 px², upright 24 × 12 px); real scale-1
  ellipses 231–241 px². This 1 : 1.9 aspect fits the real ellipses better than 1 : 2 (mean best IoU 0.89, up from
  0.87); 1 : 1.8 fits slightly better still but renders some small ellipses identically at nearly opposite angles.
- heart, point down at orientation 0: two lobe discs of radius 5.0 centred at (±4.8, 2.0), each joined to the
  point T = (0, −10.5) by its convex hull, i.e. the union over λ ∈ [0, 1] of the discs centred at T + λ(C − T) with
  radius λ · 5.0 (a disc growing linearly from the point into the lobe C). The origin, and so the rotation centre,
  is the heart's centroid. Rasterised at scale 1: 20 × 17 px,
  222 px². Real hearts: areas ≈ 222 px² · scale² (212–228 over scales 0.5–0.9); the upright scale-0.9 heart is
  17 × 17 px with 45° sides and a one-pixel point. Mean best IoU against the 11 real hearts (any procedural heart
  image on the factor grid): 0.90, up from 0.86 for the previous (x² + y² − 1)³ − x² y³ ≤ 0 curve (18 × 18 px).
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
EXTENT = 19.0  # px: side of the square at scale 1
ELLIPSE_AXES = (6.3, 11.9)  # px: semi-axes (across, along) of the ellipse at scale 1
HEART_LOBE, HEART_RADIUS, HEART_TIP = (4.8, 2.0), 5.0, 10.5  # px: right lobe centre and radius, point depth
CENTRE_LO, CENTRE_HI = 16.0, 49.0
CENTRE_OFFSET = (0.1, 0.15)  # sub-pixel offset (rows, columns) of the rotation centre within its pixel


def factor_values(classes: np.ndarray) -> np.ndarray:
    c = np.asarray(classes, dtype=np.int64)
    return np.stack(
        [c[:, 0] + 1.0, SCALES[c[:, 1]], ORIENTATIONS[c[:, 2]], POSITIONS[c[:, 3]], POSITIONS[c[:, 4]]], axis=1
    )


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Implicit shapes in px at scale 1, centred on the origin; v points up."""
    if shape == 0:  # square
        return (np.abs(u) <= EXTENT / 2) & (np.abs(v) <= EXTENT / 2)
    if shape == 1:  # ellipse, elongated vertically at orientation 0
        return (u / ELLIPSE_AXES[0]) ** 2 + (v / ELLIPSE_AXES[1]) ** 2 <= 1.0
    # heart: mirror onto the right lobe C; w = point − T, c = C − T; inside the disc around T + λc of radius λ·r
    # for some λ in [0, 1]  <=>  min over λ of |w − λc|² − (λr)² ≤ 0 (a convex quadratic in λ)
    cx, cy = HEART_LOBE[0], HEART_LOBE[1] + HEART_TIP
    wx, wy = np.abs(u), v + HEART_TIP
    lam = np.clip((wx * cx + wy * cy) / (cx * cx + cy * cy - HEART_RADIUS**2), 0.0, 1.0)
    return (wx - lam * cx) ** 2 + (wy - lam * cy) ** 2 <= (lam * HEART_RADIUS) ** 2


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
            for j, theta in enumerate(ORIENTATIONS):
                ct, st = np.cos(theta % (2 * np.pi)), np.sin(theta % (2 * np.pi))  # 2π draws exactly as 0
                u = (ct * xx - st * yy) / scale  # rotate the sampling grid by −θ: the sprite turns by θ
                v = (st * xx + ct * yy) / scale
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
