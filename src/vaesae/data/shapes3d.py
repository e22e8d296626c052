"""Procedural Shapes3D look-alike (not the DeepMind release) on the real factor grid, in the real order.

Factors: floor_hue, wall_hue, object_hue (0.0 … 0.9), scale linspace(0.75, 1.25, 8), shape {cube, cylinder,
sphere, capsule}, orientation linspace(−30, 30, 15) degrees; index = classes · [48000, 4800, 480, 60, 15, 1].

Scene, drawn analytically per pixel in numpy once per (scale, shape, orientation), then coloured per image in torch: a light-blue sky over rows 0–13; a room corner whose two walls
(HSV(wall_hue, 1, 1): a back wall across the view and darker side walls at the edges, whose widths follow the
view orientation) reach down to row 38; the floor HSV(floor_hue, 1, 1) below; one object at HSV(object_hue, 1, 1), centred on the floor,
sized by ``scale``, with Lambert shading from the upper left and a shadow cast to the lower right. Each factor only
changes its own pixels: floor hue the floor (shadow included), wall hue the walls, object hue the object.
"""

from __future__ import annotations

import colorsys
import functools

import numpy as np
import torch

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


PART_SKY, PART_FLOOR, PART_WALL, PART_OBJECT = 0, 1, 2, 3


@functools.lru_cache(maxsize=None)
def scenes() -> tuple[np.ndarray, np.ndarray]:
    """Per (scale, shape, orientation): which part each pixel shows (sky, floor, wall, object) and its brightness.

    Hues only choose the colour of a part, so an image is ``palette[part] * light`` with a per-image palette.
    """
    regions, light_bg = backgrounds()
    masks, shades, shadows = objects()
    part = np.where(regions == REGION_FLOOR, PART_FLOOR, np.where(regions == REGION_SKY, PART_SKY, PART_WALL))
    part = np.broadcast_to(part[None, None], masks.shape).astype(np.uint8).copy()
    light = np.broadcast_to(light_bg[None, None], masks.shape).astype(np.float32).copy()
    light[shadows & (part == PART_FLOOR)] *= SHADOW_DARKNESS
    light[part == PART_SKY] = 1.0
    part[masks] = PART_OBJECT
    light[masks] = shades[masks]
    return part, light


@functools.lru_cache(maxsize=None)
def _scene_tensors(device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    part, light = scenes()
    return (
        torch.from_numpy(part.reshape(480, 64 * 64)).long().to(device),
        torch.from_numpy(light.reshape(480, 64 * 64)).to(device),
        torch.from_numpy(HUE_RGB * 255.0).to(device),
        torch.from_numpy(SKY * 255.0).to(device),
    )


def render(classes: np.ndarray, device: str | None = None) -> np.ndarray:
    """uint8 RGB images (n, 64, 64, 3) for class rows (n, 6); torch on ``device`` (CUDA when present)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    part, light, hue, sky = _scene_tensors(device)
    c = torch.as_tensor(np.asarray(classes, dtype=np.int64), device=device)
    n = len(c)
    palette = torch.empty(n, 4, 3, device=device)
    palette[:, PART_SKY] = sky
    palette[:, PART_FLOOR] = hue[c[:, 0]]
    palette[:, PART_WALL] = hue[c[:, 1]]
    palette[:, PART_OBJECT] = hue[c[:, 2]]
    scene = c[:, 3] * 60 + c[:, 4] * 15 + c[:, 5]  # (scale, shape, orientation) -> 0..479
    rgb = torch.gather(palette, 1, part[scene].unsqueeze(-1).expand(-1, -1, 3))  # (n, 4096, 3)
    rgb.mul_(light[scene].unsqueeze(-1)).round_()
    return rgb.to(torch.uint8).reshape(n, 64, 64, 3).cpu().numpy()
