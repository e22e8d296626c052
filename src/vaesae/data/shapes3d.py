"""Procedural Shapes3D look-alike (not the DeepMind release) on the real factor grid, in the real order.

Factors: floor_hue, wall_hue, object_hue (0.0 … 0.9), scale linspace(0.75, 1.25, 8), shape {cube, cylinder,
sphere, capsule}, orientation linspace(−30, 30, 15) degrees; index = classes · [48000, 4800, 480, 60, 15, 1].

Scene, drawn analytically per pixel in numpy: a light-blue sky over rows 0–13; a room corner whose two walls
(HSV(wall_hue, 1, 1): a back wall across the view and darker side walls at the edges, whose widths follow the
view orientation) reach down to row 38; the floor HSV(floor_hue, 1, 1) below; one object at HSV(object_hue, 1, 1), centred on the floor,
sized by ``scale``, with Lambert shading from the upper left and a shadow cast to the lower right. Each factor only
changes its own pixels: floor hue the floor (shadow included), wall hue the walls, object hue the object.
"""

from __future__ import annotations

import colorsys
import functools

import numpy as np

NAME = "shapes3d"
FACTOR_NAMES = ["floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"]
FACTOR_SIZES = [10, 10, 10, 8, 4, 15]
N_TOTAL = 480_000
STRIDES = np.array([48000, 4800, 480, 60, 15, 1], dtype=np.int64)
HUES = np.linspace(0.0, 0.9, 10)
SCALES = np.linspace(0.75, 1.25, 8)
ORIENTATIONS = np.linspace(-30.0, 30.0, 15)
SKY = np.array([153, 226, 249], dtype=np.float32) / 255.0
SKY_ROWS, WALL_BOTTOM = 14, 38
REGION_SKY, REGION_LEFT, REGION_RIGHT, REGION_FLOOR = 0, 1, 2, 3  # LEFT: back wall, RIGHT: side walls
SHADOW_DARKNESS = 0.55


def factor_values(classes: np.ndarray) -> np.ndarray:
    c = np.asarray(classes, dtype=np.int64)
    return np.stack(
        [HUES[c[:, 0]], HUES[c[:, 1]], HUES[c[:, 2]], SCALES[c[:, 3]], c[:, 4].astype(float), ORIENTATIONS[c[:, 5]]],
        axis=1,
    )


HUE_RGB = np.array([colorsys.hsv_to_rgb(h, 1.0, 1.0) for h in HUES], dtype=np.float32)  # (10, 3)
_ROWS, _COLS = np.meshgrid(np.arange(64, dtype=np.float32) + 0.5, np.arange(64, dtype=np.float32) + 0.5, indexing="ij")


@functools.lru_cache(maxsize=None)
def backgrounds() -> tuple[np.ndarray, np.ndarray]:
    """Per orientation: region map (15, 64, 64) int8 and brightness (15, 64, 64) float32."""
    regions = np.zeros((15, 64, 64), dtype=np.int8)
    light = np.ones((15, 64, 64), dtype=np.float32)
    for o, deg in enumerate(ORIENTATIONS):
        # back wall across the view; the side walls show at the edges, the one turned towards grows with the angle
        left_edge = max(0.0, 7.0 - 0.3 * deg)
        right_edge = 64.0 - max(0.0, 7.0 + 0.3 * deg)
        wall = (_ROWS >= SKY_ROWS) & (_ROWS < WALL_BOTTOM)
        side_left = wall & (_COLS < left_edge) & (_ROWS >= SKY_ROWS - 0.4 * (left_edge - _COLS))
        side_right = wall & (_COLS >= right_edge)
        regions[o][wall] = REGION_LEFT
        regions[o][side_left | side_right] = REGION_RIGHT
        regions[o][_ROWS >= WALL_BOTTOM] = REGION_FLOOR
        light[o][regions[o] == REGION_LEFT] = 0.95
        light[o][regions[o] == REGION_RIGHT] = 0.62
        floor = regions[o] == REGION_FLOOR
        light[o][floor] = (0.85 + 0.15 * (_ROWS[floor] - WALL_BOTTOM) / (64 - WALL_BOTTOM)).clip(0.85, 1.0)
    return regions, light


def _object(shape: int, scale: float, deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask, shading, shadow mask) of one object, each (64, 64)."""
    r = 9.0 * scale
    cx, base = 32.0, 54.0
    x, y = _ROWS * 0 + _COLS - cx, _ROWS
    t = np.radians(deg)
    shade = np.zeros((64, 64), dtype=np.float32)
    if shape == 0:  # cube: front faces split by the view angle, lighter top face
        h = 2 * r
        w_left = r * (1.0 + 0.6 * np.sin(t))
        w_right = 2 * r - w_left
        top_h = 0.45 * r
        body = (x >= -w_left) & (x <= w_right) & (y <= base) & (y >= base - h)
        top = (y < base - h) & (y >= base - h - top_h)
        top &= (x >= -w_left + (base - h - y) * 0.6) & (x <= w_right + (base - h - y) * 0.6)
        mask = body | top
        shade[body & (x < 0)] = 0.85
        shade[body & (x >= 0)] = 0.62
        shade[top] = 1.0
    elif shape == 1:  # cylinder: shaded side, elliptical top
        h = 2 * r
        side = (np.abs(x) <= r) & (y <= base) & (y >= base - h)
        cap = (x / r) ** 2 + ((y - (base - h)) / (0.35 * r)) ** 2 <= 1.0
        bottom = (x / r) ** 2 + ((y - base) / (0.35 * r)) ** 2 <= 1.0
        mask = side | cap | bottom
        nx = np.clip(x / r, -1, 1)
        shade[mask] = (0.55 + 0.45 * np.clip(-0.7 * nx + 0.7 * np.sqrt(1 - nx**2), 0, 1))[mask]
        shade[cap & (y <= base - h)] = 1.0
    elif shape == 2:  # sphere: Lambert shading, light from the upper left and front
        cy = base - r
        d2 = (x / r) ** 2 + ((y - cy) / r) ** 2
        mask = d2 <= 1.0
        nz = np.sqrt(np.clip(1 - d2, 0, 1))
        lam = (-0.5 * x / r - 0.5 * (y - cy) / r + 0.7 * nz) / np.sqrt(0.5**2 + 0.5**2 + 0.7**2)
        shade[mask] = (0.35 + 0.65 * np.clip(lam, 0, 1))[mask]
    else:  # capsule: vertical stadium
        half = 0.7 * r
        rad = 0.75 * r
        cy_top, cy_bot = base - rad - 2 * half, base - rad
        yc = np.clip(y, cy_top, cy_bot)
        d2 = (x / rad) ** 2 + ((y - yc) / rad) ** 2
        mask = d2 <= 1.0
        nz = np.sqrt(np.clip(1 - d2, 0, 1))
        lam = (-0.6 * x / rad + 0.8 * nz) / 1.0
        shade[mask] = (0.35 + 0.65 * np.clip(lam, 0, 1))[mask]
    shadow_x, shadow_y = x - 0.9 * r, y - (base + 0.3 * r)
    shadow = ((shadow_x / (1.6 * r)) ** 2 + (shadow_y / (0.45 * r)) ** 2 <= 1.0) & ~mask
    return mask, shade.astype(np.float32), shadow


@functools.lru_cache(maxsize=None)
def objects() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks, shading and shadows for all 8 × 4 × 15 (scale, shape, orientation) combinations."""
    masks = np.zeros((8, 4, 15, 64, 64), dtype=bool)
    shades = np.zeros((8, 4, 15, 64, 64), dtype=np.float32)
    shadows = np.zeros((8, 4, 15, 64, 64), dtype=bool)
    for i, sc in enumerate(SCALES):
        for s in range(4):
            for o, deg in enumerate(ORIENTATIONS):
                masks[i, s, o], shades[i, s, o], shadows[i, s, o] = _object(s, sc, deg)
    return masks, shades, shadows


def render(classes: np.ndarray) -> np.ndarray:
    """uint8 RGB images (n, 64, 64, 3) for class rows (n, 6)."""
    c = np.asarray(classes, dtype=np.int64)
    regions_all, light_all = backgrounds()
    masks, shades, shadows = objects()
    regions, light = regions_all[c[:, 5]], light_all[c[:, 5]]  # (n, 64, 64)
    mask, shade, shadow = masks[c[:, 3], c[:, 4], c[:, 5]], shades[c[:, 3], c[:, 4], c[:, 5]], shadows[c[:, 3], c[:, 4], c[:, 5]]
    floor = HUE_RGB[c[:, 0]][:, None, None, :]
    wall = HUE_RGB[c[:, 1]][:, None, None, :]
    obj = HUE_RGB[c[:, 2]][:, None, None, :]
    is_floor = (regions == REGION_FLOOR)[..., None]
    is_wall = ((regions == REGION_LEFT) | (regions == REGION_RIGHT))[..., None]
    floor_light = np.where(shadow & (regions == REGION_FLOOR), light * SHADOW_DARKNESS, light)[..., None]
    img = np.where(is_floor, floor * floor_light, np.where(is_wall, wall * light[..., None], SKY))
    img = np.where(mask[..., None], obj * shade[..., None], img)
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
