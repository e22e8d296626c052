"""Procedural Shapes3D look-alike (not the DeepMind release) on the real factor grid, in the real order.

Factors: floor_hue, wall_hue, object_hue (0.0 … 0.9), scale linspace(0.75, 1.25, 8), shape {cube, cylinder,
sphere, capsule}, orientation linspace(−30, 30, 15) degrees; index = classes · [48000, 4800, 480, 60, 15, 1].

Scene: a room (floor z = 0, a back wall and two side walls) around one object standing at the origin, seen by a
pinhole camera that orbits the object by ``orientation`` degrees. Each pixel's ray is intersected analytically with
the room and the object once per (scale, shape, orientation), in numpy: a light-blue sky above the walls (about
rows 0–14), walls HSV(wall_hue, 1, 1) down to about row 39 (the back wall full, the side walls darker; the room
corner swings into view as the camera turns, in perspective), the floor HSV(floor_hue, 1, 1) below, the object
(cube, cylinder, sphere, capsule, sized by ``scale``) at HSV(object_hue, 1, 1) with Lambert shading from the upper
left, and its shadow cast to the lower right. That gives each pixel a part (sky, floor, wall, object) and a
brightness; an image is then ``palette[part] * brightness`` with the per-image hues (one torch gather, CUDA when
present). Each factor only changes its own pixels: floor hue the floor (shadow included), wall hue the walls,
object hue the object. No anti-aliasing, no wall texture, one world-fixed light.
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
HUE_RGB = np.array([colorsys.hsv_to_rgb(h, 1.0, 1.0) for h in HUES], dtype=np.float32)  # (10, 3)

# Camera and room (world units; the cube of scale 1 is 1 unit a side), fitted so that at orientation 0 the wall top
# sits at row 15, the back wall meets the floor at row 39.5 and the object stands on row 52.5, and at ±30° the room
# corner shows near columns 19 / 45 with its top edge dipping to row 19, as in the real images.
CAM_DISTANCE, CAM_HEIGHT, CAM_TARGET_Z, FOCAL_PX = 3.6, 0.99, 1.14, 64.3
ROOM_BACK, ROOM_HALF_WIDTH, WALL_HEIGHT = 9.55, 9.37, 5.05
KEY_LIGHT = np.array([-0.4, -0.75, 0.55])  # towards the light that shades the object: upper left, in front
SHADOW_LIGHT = np.array([-0.3, 0.3, 1.0])  # towards the light that casts the shadow: to the lower right on screen
SIDE_WALL_LIGHT, SHADOW_DARKNESS = 0.66, 0.45

REGION_SKY, REGION_BACK, REGION_SIDE, REGION_FLOOR = 0, 1, 2, 3
PART_SKY, PART_FLOOR, PART_WALL, PART_OBJECT = 0, 1, 2, 3


def factor_values(classes: np.ndarray) -> np.ndarray:
    c = np.asarray(classes, dtype=np.int64)
    return np.stack(
        [HUES[c[:, 0]], HUES[c[:, 1]], HUES[c[:, 2]], SCALES[c[:, 3]], c[:, 4].astype(float), ORIENTATIONS[c[:, 5]]],
        axis=1,
    )


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@functools.lru_cache(maxsize=None)
def camera(o: int) -> tuple[np.ndarray, np.ndarray]:
    """Camera position (3,) and the (4096, 3) ray directions through the pixel centres, row-major, orientation o."""
    t = np.radians(ORIENTATIONS[o])
    eye = np.array([CAM_DISTANCE * np.sin(t), -CAM_DISTANCE * np.cos(t), CAM_HEIGHT])
    forward = _unit(np.array([0.0, 0.0, CAM_TARGET_Z]) - eye)
    right = _unit(np.cross(forward, [0.0, 0.0, 1.0]))
    up = np.cross(right, forward)
    rows, cols = np.meshgrid(np.arange(64) + 0.5 - 32, np.arange(64) + 0.5 - 32, indexing="ij")
    d = forward + (cols.reshape(-1, 1) * right - rows.reshape(-1, 1) * up) / FOCAL_PX
    return eye, d


def _plane(o_k, d_k, value):
    """Ray parameter where coordinate k reaches ``value`` (inf if never, going forward)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (value - o_k) / d_k
    return np.where(np.isfinite(t) & (t > 1e-9), t, np.inf)


def _room(eye: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Region (sky, back wall, side wall, floor) and distance of the first room surface along each ray."""
    inf = np.full(len(d), np.inf)
    x = lambda t, k: eye[k] + t * d[:, k]  # noqa: E731
    floor = _plane(eye[2], d[:, 2], 0.0)
    back = _plane(eye[1], d[:, 1], ROOM_BACK)
    back = np.where((x(back, 2) <= WALL_HEIGHT) & (np.abs(x(back, 0)) <= ROOM_HALF_WIDTH), back, np.inf)
    side = np.minimum(_plane(eye[0], d[:, 0], -ROOM_HALF_WIDTH), _plane(eye[0], d[:, 0], ROOM_HALF_WIDTH))
    side = np.where((x(side, 2) <= WALL_HEIGHT) & (x(side, 1) <= ROOM_BACK), side, np.inf)
    ts = np.stack([inf, back, side, floor])  # order = REGION_* codes
    t = ts.min(0)
    region = np.where(np.isinf(t), REGION_SKY, ts.argmin(0)).astype(np.int8)
    return region, t


@functools.lru_cache(maxsize=None)
def backgrounds() -> tuple[np.ndarray, np.ndarray]:
    """Per orientation: region map (15, 64, 64) int8 (REGION_*) and brightness (15, 64, 64) float32."""
    regions = np.zeros((15, 64, 64), dtype=np.int8)
    light = np.ones((15, 64, 64), dtype=np.float32)
    for o in range(15):
        eye, d = camera(o)
        region, t = _room(eye, d)
        lum = np.ones(len(d))
        lum[region == REGION_SIDE] = SIDE_WALL_LIGHT
        floor = region == REGION_FLOOR  # a spot-lit floor: slightly darker far away
        lum[floor] = 1.0 - 0.12 * np.clip((t[floor] - 4.0) / 10.0, 0.0, 1.0)
        regions[o], light[o] = region.reshape(64, 64), lum.reshape(64, 64)
    return regions, light


def _sphere(eye, d, centre, r):
    oc = eye - centre
    b = np.einsum("ij,ij->i", oc, d) if oc.ndim == 2 else d @ oc
    a = np.einsum("ij,ij->i", d, d)
    c = (np.einsum("ij,ij->i", oc, oc) if oc.ndim == 2 else oc @ oc) - r * r
    disc = b * b - a * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / a
    t = np.where((disc >= 0) & (t > 1e-6), t, np.inf)
    p = eye + t[:, None] * d
    return t, (p - centre) / r


def _vertical_tube(eye, d, r, z0, z1):
    """Side of the vertical cylinder x² + y² = r², z0 ≤ z ≤ z1."""
    ex, ey = (eye[..., 0], eye[..., 1])
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = ex * d[:, 0] + ey * d[:, 1]
    c = ex**2 + ey**2 - r * r
    disc = b * b - a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-b - np.sqrt(disc)) / a
    z = eye[..., 2] + t * d[:, 2]
    t = np.where((disc >= 0) & (t > 1e-6) & (z >= z0) & (z <= z1), t, np.inf)
    p = eye + t[:, None] * d
    n = np.stack([p[:, 0], p[:, 1], np.zeros(len(d))], 1) / r
    return t, n


def _disc(eye, d, r, z, up):
    t = _plane(eye[..., 2], d[:, 2], z)
    p = eye + np.where(np.isfinite(t), t, 0.0)[:, None] * d
    t = np.where(p[:, 0] ** 2 + p[:, 1] ** 2 <= r * r, t, np.inf)
    n = np.zeros((len(d), 3))
    n[:, 2] = 1.0 if up else -1.0
    return t, n


def _box(eye, d, a):
    """Axis-aligned cube [-a, a]² × [0, 2a]."""
    lo, hi = np.array([-a, -a, 0.0]), np.array([a, a, 2 * a])
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - eye) / d, (hi - eye) / d
    t1 = np.where(np.isnan(t1), -np.inf, t1)
    t2 = np.where(np.isnan(t2), np.inf, t2)
    tmin, tmax = np.minimum(t1, t2), np.maximum(t1, t2)
    t_in, t_out = tmin.max(1), tmax.min(1)
    axis = tmin.argmax(1)
    t = np.where((t_in <= t_out) & (t_in > 1e-6), t_in, np.inf)
    n = np.zeros((len(d), 3))
    n[np.arange(len(d)), axis] = -np.sign(d[np.arange(len(d)), axis])
    return t, n


def _closest(*hits):
    ts = np.stack([t for t, _ in hits])
    k = ts.argmin(0)
    n = np.stack([n for _, n in hits])[k, np.arange(ts.shape[1])]
    return ts.min(0), n


def intersect(shape: int, scale: float, eye: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (inf on a miss) and unit normal where each ray first meets the object standing at the origin."""
    r = 0.5 * scale
    if shape == 0:  # cube, side = scale
        return _box(eye, d, r)
    if shape == 1:  # cylinder, diameter = height = scale
        side = _vertical_tube(eye, d, r, 0.0, 2 * r)
        return _closest(side, _disc(eye, d, r, 2 * r, True), _disc(eye, d, r, 0.0, False))
    if shape == 2:  # sphere, diameter = scale
        return _sphere(eye, d, np.array([0.0, 0.0, r]), r)
    rc = 0.9 * r  # capsule, 0.9 × scale wide and 2 × scale tall
    top = 2 * scale - rc
    return _closest(
        _vertical_tube(eye, d, rc, rc, top),
        _sphere(eye, d, np.array([0.0, 0.0, rc]), rc),
        _sphere(eye, d, np.array([0.0, 0.0, top]), rc),
    )


def _object(shape: int, scale: float, o: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask, shading, shadow mask) of one object seen from orientation o, each (64, 64)."""
    eye, d = camera(o)
    region, t_room = _room(eye, d)
    t, n = intersect(shape, scale, eye, d)
    mask = t < t_room
    shade = np.zeros(len(d), dtype=np.float32)
    lambert = np.clip(n[mask] @ _unit(KEY_LIGHT), 0.0, 1.0)
    shade[mask] = np.minimum(1.0, 0.4 + 0.75 * lambert)
    floor = (region == REGION_FLOOR) & ~mask
    points = eye + t_room[floor, None] * d[floor]
    points[:, 2] = 1e-6
    toward = np.broadcast_to(_unit(SHADOW_LIGHT), points.shape)
    shadow = np.zeros(len(d), dtype=bool)
    shadow[floor] = np.isfinite(intersect(shape, scale, points, np.ascontiguousarray(toward))[0])
    return mask.reshape(64, 64), shade.reshape(64, 64), shadow.reshape(64, 64)


@functools.lru_cache(maxsize=None)
def objects() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks, shading and shadows for all 8 × 4 × 15 (scale, shape, orientation) combinations."""
    masks = np.zeros((8, 4, 15, 64, 64), dtype=bool)
    shades = np.zeros((8, 4, 15, 64, 64), dtype=np.float32)
    shadows = np.zeros((8, 4, 15, 64, 64), dtype=bool)
    for i, sc in enumerate(SCALES):
        for s in range(4):
            for o in range(15):
                masks[i, s, o], shades[i, s, o], shadows[i, s, o] = _object(s, sc, o)
    return masks, shades, shadows


@functools.lru_cache(maxsize=None)
def scenes() -> tuple[np.ndarray, np.ndarray]:
    """Per (scale, shape, orientation): which part each pixel shows (PART_*) and its brightness, (8, 4, 15, 64, 64).

    Hues only choose the colour of a part, so an image is ``palette[part] * light`` with a per-image palette.
    """
    regions, light_bg = backgrounds()
    masks, shades, shadows = objects()
    part = np.choose(regions.astype(np.int64), [PART_SKY, PART_WALL, PART_WALL, PART_FLOOR])
    part = np.broadcast_to(part[None, None], masks.shape).astype(np.uint8).copy()
    light = np.broadcast_to(light_bg[None, None], masks.shape).astype(np.float32).copy()
    light[shadows & (part == PART_FLOOR)] *= SHADOW_DARKNESS
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
