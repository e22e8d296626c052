"""Procedural dSprites (Matthey et al. 2017) on the real factor grid, in the real order.

Factors (color dropped): shape {square, ellipse, heart}, scale linspace(0.5, 1, 6), orientation linspace(0, 2π, 40),
posX, posY linspace(0, 1, 32); index = classes · [245760, 40960, 1024, 32, 1]. Binary 64×64 sprites, no
anti-aliasing: a pixel is on when its centre lies inside the shape, which is scaled by ``scale``, turned
counter-clockwise on screen by ``orientation`` about its origin, and placed with that origin at sub-pixel position

    column = 15.5 + 32 · posX,  row = 15.5 + 32 · posY   (pixel i has its centre at i)

i.e. the origin spans the middle half of the canvas, 16 … 48 in edge coordinates (64 · [1/4, 3/4]).

Geometry, in px at scale 1 (x right, y up, origin at the grid point; every length scales linearly with ``scale``),
re-derived from the real frames of ``dsprites_samples_{0,2,4}.png`` in the reference folder (64×64 grids upscaled
×2.27–2.31 by nearest neighbour, read back at each cell's centre: 43 frames, 15 squares, 17 ellipses, 11 hearts; sheet 2
has posX = 0, sheet 4 orientation class 5), and the position density ``dsprites_samples_3.png`` (posX = 0):

- placement: frames at posX = 0 have their square/ellipse centre (bounding-box centre and centroid) at column 15.5;
  elsewhere the symmetric sprites' centroids fall on 15.5 + 32k/31 to within 0.2 px (k = 17: 33.05, k = 22: 38.21,
  ...), not on whole pixels. Rounding the centres to whole pixels costs 0.08 of mean best IoU on the squares (the
  previous renderer put them on whole pixels 16 … 49).
- square: side 19.2 (64 · 0.3). At this side and placement 13 of the 15 real squares are reproduced pixel for pixel
  (IoU 1.000), the other two at 0.995, over scales 0.5 … 1 (areas 90 … 369 px²).
- ellipse: semi-axes 12.8 × 7.2 (a 25.6 × 14.4 px ellipse), long axis horizontal at orientation 0 (the real frames at
  orientation class 5, 0.81 rad, lean "/"). Real ellipse areas are 72, 101–106, 141–147, 183–185 and 231–241 px²: five
  scales, 0.5 … 0.9 (none of the 17 is at scale 1). Read as scales 0.6 … 1 instead, the ellipse would have to shrink
  faster than its scale; the posX = 0 density (dsprites_samples_3.png) fits the 25.6 px ellipse better (rms 0.0050
  against 0.0075 of the grey level). The previous ellipse stood upright with semi-axes 11.9 × 6.3.
- heart, point down at orientation 0: two lobe discs of radius 5.2 centred at (±4.725, 3.95), each joined to the
  point T = (0, −8.5) by its convex hull (the union over λ ∈ [0, 1] of the discs centred at T + λ(C − T) with
  radius λ · 5.2). 19.85 wide, 17.65 tall (y −8.5 … 9.15). Its origin, the rotation and placement point, is 2.0 px
  below its centroid and 0.3 px below its bounding-box centre: with the origin at the centroid (as before) the mean
  best IoU is 0.90, at the bounding-box centre 0.94, here 0.97.

Mean best-match IoU against the real frames (any procedural image of that shape on the factor grid, see
``tests/test_dsprites_shapes.py``): square 0.999, ellipse 0.992, heart 0.968 (the previous renderer: 0.901, 0.894,
0.889).

Distinct images: drawn exactly as above, 3,068 of the 718,848 images with orientation < 2π would repeat another
image of the same shape, scale and position (a square turned by 10 or 29 orientation classes, 92.3° or 267.7°, is
within 2.3° of itself; an ellipse turned by 19 or 20 classes within 4.6°). Squares and ellipses are therefore drawn
orientation by orientation per (scale, position), and one that would repeat an earlier orientation is shifted by
NUDGE px (2 · NUDGE if that repeats too, ...); all other images are exact. Then every factor combination gives a
different image (checked on the whole grid), except orientation 2π, which draws exactly as 0, as in the real set.
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
PATCH = 32  # px: side of the patches of sprites(), centred on the origin (the largest reach is the square's 13.6 px)
SQUARE_SIDE = 19.2  # px: side of the square at scale 1
ELLIPSE_AXES = (12.8, 7.2)  # px: semi-axes (along x, along y) of the ellipse at scale 1 and orientation 0
HEART_LOBE, HEART_RADIUS, HEART_TIP = (4.725, 3.95), 5.2, 8.5  # px: right lobe centre and radius, point depth
CENTRE_LO, CENTRE_SPAN = 15.5, 32.0  # px: the origin's pixel coordinate is CENTRE_LO + CENTRE_SPAN · pos
_CHUNK = 4096  # rows evaluated at once in render()
NUDGE = (0.12, 0.2)  # px (rows, columns): shift of a square/ellipse orientation that would repeat an earlier one
_MAX_NUDGES = 3


def factor_values(classes: np.ndarray) -> np.ndarray:
    c = np.asarray(classes, dtype=np.int64)
    return np.stack(
        [c[:, 0] + 1.0, SCALES[c[:, 1]], ORIENTATIONS[c[:, 2]], POSITIONS[c[:, 3]], POSITIONS[c[:, 4]]], axis=1
    )


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Implicit shapes in px at scale 1 and orientation 0, origin at the grid point; v points up."""
    if shape == 0:  # square
        return (np.abs(u) <= SQUARE_SIDE / 2) & (np.abs(v) <= SQUARE_SIDE / 2)
    if shape == 1:  # ellipse, elongated horizontally at orientation 0
        return (u / ELLIPSE_AXES[0]) ** 2 + (v / ELLIPSE_AXES[1]) ** 2 <= 1.0
    # heart: mirror onto the right lobe C; w = point − T, c = C − T; inside the disc around T + λc of radius λ·r
    # for some λ in [0, 1]  <=>  min over λ of |w − λc|² − (λr)² ≤ 0 (a convex quadratic in λ)
    cx, cy = HEART_LOBE[0], HEART_LOBE[1] + HEART_TIP
    wx, wy = np.abs(u), v + HEART_TIP
    lam = np.clip((wx * cx + wy * cy) / (cx * cx + cy * cy - HEART_RADIUS**2), 0.0, 1.0)
    return (wx - lam * cx) ** 2 + (wy - lam * cy) ** 2 <= (lam * HEART_RADIUS) ** 2


def centres(pos_class: np.ndarray) -> np.ndarray:
    """Sub-pixel coordinate (pixel i has its centre at i) of a sprite's origin for a position class: 15.5 … 47.5."""
    return CENTRE_LO + CENTRE_SPAN * POSITIONS[np.asarray(pos_class, dtype=np.int64)]


def _draw(shape: int, scale: np.ndarray, theta: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Sprites of one shape, (n, len(dy), len(dx)) bool, sampled at pixel-centre offsets dy (rows, down) and dx
    (columns) from the origin, each of shape (P,) or (n, P); per row its scale and orientation (2π draws as 0)."""
    theta = np.asarray(theta, dtype=np.float64) % (2 * np.pi)
    s = np.asarray(scale, dtype=np.float64)[:, None, None]
    ct, st = np.cos(theta)[:, None, None] / s, np.sin(theta)[:, None, None] / s
    x, y = dx[..., None, :], -dy[..., :, None]  # y up
    u = ct * x + st * y  # rotate the sampling points by −θ (the sprite turns by +θ, counter-clockwise), unscale
    v = ct * y - st * x
    return _inside(shape, u, v)


def _reach(shape: int) -> float:
    """px at scale 1: the farthest point of the shape from its origin."""
    if shape == 0:
        return SQUARE_SIDE / np.sqrt(2)
    if shape == 1:
        return max(ELLIPSE_AXES)
    return max(float(np.hypot(*HEART_LOBE)) + HEART_RADIUS, HEART_TIP)


def _pack(patches: np.ndarray) -> np.ndarray:
    """Bool patches (n, h, w) as rows of uint64 words, for exact equality tests."""
    bits = np.packbits(patches.reshape(len(patches), -1), axis=1)
    return np.pad(bits, ((0, 0), (0, -bits.shape[1] % 8))).view(np.uint64)


def _symmetric_patches(shape, scale, orient, pos, dy, dx):
    """Patches of a square or ellipse (one scale) for rows with orientation classes ``orient``, position keys ``pos``
    and pixel offsets dy, dx (n, P) from the origin. A square turned by about a quarter turn (a 92.3° step is 10
    orientation classes), or an ellipse by about a half turn, can rasterise exactly like an earlier orientation of the
    same sprite at the same position (3,068 of the 718,848 images with orientation < 2π). Orientations are therefore
    drawn in order per (scale, position), and one that would repeat an earlier image is shifted by NUDGE px (then
    2 · NUDGE, ...) until it does not: the exact sprite otherwise."""
    orient = np.where(orient == len(ORIENTATIONS) - 1, 0, orient)  # 2π draws exactly as 0
    keys, first, inv = np.unique(pos, return_index=True, return_inverse=True)
    need = np.zeros(len(keys), dtype=np.int64)
    np.maximum.at(need, inv, orient)
    gy, gx = dy[first], dx[first]
    h, w = dy.shape[1], dx.shape[1]
    seen = np.zeros((len(keys), need.max() + 1, _pack(np.zeros((1, h, w), bool)).shape[1]), np.uint64)
    out = np.zeros((len(orient), h, w), dtype=bool)
    for j in range(need.max() + 1):
        pending = np.nonzero(need >= j)[0]
        drawn = np.zeros((len(keys), h, w), dtype=bool)
        for m in range(_MAX_NUDGES + 1):
            img = _draw(shape, np.full(len(pending), scale), np.full(len(pending), ORIENTATIONS[j]),
                        gy[pending] - m * NUDGE[0], gx[pending] - m * NUDGE[1])  # fmt: skip
            code = _pack(img)
            clash = (seen[pending, :j] == code[:, None]).all(axis=2).any(axis=1)
            ok = pending[~clash]
            seen[ok, j], drawn[ok] = code[~clash], img[~clash]
            pending = pending[clash]
            if not len(pending):
                break
        else:
            raise RuntimeError(f"dsprites: shape {shape} at orientation class {j} repeats an earlier orientation")
        rows = np.nonzero(orient == j)[0]
        out[rows] = drawn[inv[rows]]
    return out


@functools.lru_cache(maxsize=None)
def sprites() -> np.ndarray:
    """All 3 × 6 × 40 sprites on (PATCH, PATCH) patches, bool, as ``render`` draws them at posX = posY = 0 (origin at
    patch pixel PATCH/2 − 0.5, on a pixel corner). Other positions draw the same shapes at other sub-pixel phases."""
    grid = np.stack(np.meshgrid(range(3), range(6), range(40), [0], [0], indexing="ij"), -1).reshape(-1, 5)
    return (render(grid)[:, :PATCH, :PATCH, 0] > 0).reshape(3, 6, 40, PATCH, PATCH)


def render(classes: np.ndarray) -> np.ndarray:
    """uint8 images (n, 64, 64, 1) with values {0, 255} for class rows (n, 5)."""
    c = np.asarray(classes, dtype=np.int64)
    out = np.zeros((len(c), 64, 64), dtype=np.uint8)
    cy, cx = centres(c[:, 4]), centres(c[:, 3])  # posY -> rows, posX -> columns
    top, left = np.floor(cy).astype(np.int64), np.floor(cx).astype(np.int64)
    for k in range(3):
        for i, scale in enumerate(SCALES):
            group = np.nonzero((c[:, 0] == k) & (c[:, 1] == i))[0]
            if not len(group):
                continue
            # a window of pixels floor(centre) − r … floor(centre) + r + 1 holds the sprite: r ≥ its reach
            r = int(np.ceil(_reach(k) * scale))
            offs = np.arange(-r, r + 2)
            # the symmetric shapes resolve repeats per position, over all their rows at once (at most 1,024 positions)
            for rows in np.array_split(group, -(-len(group) // _CHUNK)) if k == 2 else [group]:
                dy, dx = (top[rows] - cy[rows])[:, None] + offs, (left[rows] - cx[rows])[:, None] + offs
                if k == 2:  # the heart has no rotational symmetry: every orientation rasterises differently
                    patches = _draw(k, np.full(len(rows), scale), ORIENTATIONS[c[rows, 2]], dy, dx)
                else:
                    patches = _symmetric_patches(k, scale, c[rows, 2], c[rows, 3] * 32 + c[rows, 4], dy, dx)
                ys, xs = (top[rows, None] + offs)[:, :, None], (left[rows, None] + offs)[:, None, :]
                out[rows[:, None, None], ys, xs] = patches.astype(np.uint8) * 255
    return out[..., None]
