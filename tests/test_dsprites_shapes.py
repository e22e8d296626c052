"""Shapes of the procedural dSprites renderer against the real dataset.

The real frames are cut from the reference images ``dsprites_samples_{0,2,4}.png`` (5 × 5 and 3 × 3 grids of 64×64
images, nearest-neighbour upscaled ×2.27–2.31 and separated by white gutters; each frame is read back at its 64 × 64
cell centres): 43 frames, 15 squares, 17 ellipses, 11 hearts. Sheet 0 samples every factor, sheet 2 fixes posX = 0
and sheet 4 fixes the orientation at class 5 (0.81 rad), as in DeepMind's loading notebook.

Measured on them (the numbers the renderer is built from, see ``vaesae.data.dsprites``):
- placement: at posX = 0 the real squares and ellipses have their bounding-box centre and centroid at column 15.5
  (pixel i has its centre at i); elsewhere the centroids of those symmetric shapes fall on 15.5 + 32 k / 31, at
  sub-pixel positions, to within 0.2 px. The heart's rotation and placement point sits 2 px (at scale 1) below its centroid.
- extent: real areas in px per scale (the scale of the best-matching procedural image):
  squares 90–97 (0.5), 128–133 (0.6), 233–237 (0.8), 290 (0.9), 364–369 (1); ellipses 72–73 (0.5), 101–106 (0.6),
  141–147 (0.7), 183–185 (0.8), 231–241 (0.9); hearts 53–55 (0.5), 78–80 (0.6), 108 (0.7), 144–145 (0.8), 181–183 (0.9).
- mean best-match IoU of a real frame against the procedural images of its shape: square 0.999, ellipse 0.992,
  heart 0.968 (0.901, 0.894, 0.889 with the previous renderer, whose centres were whole pixels 16–49, whose ellipse
  stood upright with 11.9 × 6.3 px semi-axes and whose heart turned about its centroid).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from vaesae.data import dsprites

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIRS = [ROOT / "shared" / "reference", ROOT.parent / "shared" / "reference"]
SQUARE, ELLIPSE, HEART = 0, 1, 2
SHAPE_IDS = ["square", "ellipse", "heart"]
TOP_SCALE = len(dsprites.SCALES) - 1

# frames of the reference images (row-major panel index) per shape, identified by eye
REAL_FRAMES = {
    SQUARE: {0: [0, 6, 7, 8, 9, 14, 16, 19, 21], 2: [1, 4], 4: [0, 2, 6, 7]},
    ELLIPSE: {0: [1, 3, 4, 10, 12, 17, 23, 24], 2: [2, 3, 5, 6, 8], 4: [1, 3, 4, 5]},
    HEART: {0: [2, 5, 11, 13, 15, 18, 20, 22], 2: [0, 7], 4: [8]},
}
N_FRAMES = {SQUARE: 15, ELLIPSE: 17, HEART: 11}
FIXED_POS_X_SHEET, FIXED_ORIENTATION_SHEET, FIXED_ORIENTATION = 2, 4, 5
# the issue asks for a mean best-match IoU of at least 0.90 per shape; the floors below guard the measured
# 0.999 / 0.992 / 0.968 against regressions
REQUIRED_MEAN_IOU = 0.90
MIN_MEAN_IOU = {SQUARE: 0.99, ELLIPSE: 0.98, HEART: 0.95}
SEARCH_RADIUS = 3.0  # px: candidate origins around the frame's bounding-box centre (the best match lies within 1.2 px)
SYMMETRY = {SQUARE: np.pi / 2, ELLIPSE: np.pi, HEART: 2 * np.pi}  # the turn that maps the shape onto itself


def _crop(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _bbox_centre(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2


# ------------------------------------------------------------------------------------------------- the renderer
def test_placement_on_the_position_grid():
    """The origin's pixel coordinate is 15.5 + 32 · pos: 15.5 … 47.5, at sub-pixel steps of 32/31 px."""
    c = dsprites.centres(np.arange(32))
    assert c[0] == 15.5 and c[-1] == 47.5 and np.allclose(np.diff(c), 32 / 31)
    # the symmetric shapes are centred on it: at posX = posY = 0 (origin on a pixel corner) their bounding box is
    # centred at 15.5, as the real squares and ellipses at posX = 0 are; at class 17 (33.05) at 33.0 or 33.5
    for shape, scale in itertools.product([SQUARE, ELLIPSE], range(6)):
        img = dsprites.render(np.array([[shape, scale, 0, 0, 0], [shape, scale, 0, 17, 17]]))[..., 0] > 0
        assert _bbox_centre(img[0]) == (15.5, 15.5), (shape, scale)
        assert all(abs(v - 33.05) <= 0.55 for v in _bbox_centre(img[1])), (shape, scale)
    # the heart's origin is 2 px · scale below its centroid, 0.3 px · scale below its bounding-box centre
    for scale in range(6):
        s = dsprites.SCALES[scale]
        heart = dsprites.render(np.array([[HEART, scale, 0, 16, 16]]))[0, ..., 0] > 0
        ys, _ = np.nonzero(heart)
        origin = dsprites.centres(16)
        assert abs((origin - ys.mean()) - 2.0 * s) <= 0.5, scale
        assert abs((origin - _bbox_centre(heart)[0]) - 0.3 * s) <= 0.6, scale


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART], ids=SHAPE_IDS)
def test_extent_at_scale_one(shape):
    """Height × width at orientation 0 and area, at scale 1, over the 31 sub-pixel phases of the position grid."""
    hw = {SQUARE: (19.2, 19.2), ELLIPSE: (14.4, 25.6), HEART: (17.65, 19.85)}[shape]  # px, of the continuous shape
    area = {SQUARE: 19.2**2, ELLIPSE: np.pi * 12.8 * 7.2, HEART: 226.8}[shape]
    k = np.arange(31)
    imgs = dsprites.render(np.stack([np.full(31, shape), np.full(31, TOP_SCALE), np.zeros(31), k, k], 1))[..., 0] > 0
    for img in imgs:
        h, w = _crop(img).shape
        assert abs(h - hw[0]) <= 1 and abs(w - hw[1]) <= 1, (h, w)
    assert abs(imgs.sum(axis=(1, 2)).mean() - area) <= 0.02 * area


def test_heart_has_lobes_on_top_and_point_at_bottom():
    for i in range(len(dsprites.SCALES)):
        heart = _crop(dsprites.sprites()[HEART, i, 0])
        widths = heart.sum(axis=1)
        h = len(widths)
        # a notch between the two lobes: the top row is two runs of pixels
        top = np.diff(np.r_[0, heart[0].astype(int), 0])
        assert np.sum(top == 1) == 2, (i, heart[0])
        # the point: the bottom row is at most 2 px and the rows below the widest narrow monotonically down to it
        widest = int(np.argmax(widths))
        assert widths[-1] <= 2 and np.all(np.diff(widths[widest:]) <= 0), (i, widths)
        # the lobes carry the mass: the widest row is in the upper half, and so are most of the pixels
        assert widest < h / 2, (i, widths)
        assert widths[: h // 2].sum() > widths[h - h // 2 :].sum(), (i, widths)
        # mirror-symmetric: at posX = 0 the origin sits on a pixel corner, so each row is exactly symmetric
        assert np.array_equal(heart, heart[:, ::-1]), i


def test_shapes_grow_monotonically_with_scale():
    sp = dsprites.sprites()
    areas = sp.sum(axis=(3, 4))  # (shape, scale, orientation)
    assert np.all(np.diff(areas, axis=1) > 0)
    # area ∝ scale² up to the pixel grid
    expected = areas[:, TOP_SCALE : TOP_SCALE + 1] * (dsprites.SCALES[None, :, None] ** 2)
    assert np.all(np.abs(areas - expected) <= 0.12 * expected)
    for s in range(3):
        hw = np.array([_crop(sp[s, i, 0]).shape for i in range(len(dsprites.SCALES))])
        assert np.all(np.diff(hw, axis=0) >= 0) and np.all(hw[-1] > hw[0]), (s, hw)


def test_orientation_turns_counter_clockwise():
    """Orientation class 10 (92.3°) turns the heart's point from the bottom to the right (counter-clockwise on screen,
    as the real frames at orientation class 5 show) and stands the horizontal ellipse upright."""
    hearts = dsprites.render(np.array([[HEART, TOP_SCALE, 0, 16, 16], [HEART, TOP_SCALE, 10, 16, 16]]))[..., 0] > 0
    upright, turned = _crop(hearts[0]), _crop(hearts[1])
    assert upright[-1].sum() <= 2 < upright[0].sum()  # point at the bottom, lobes at the top
    assert turned[:, -1].sum() <= 3 < turned[:, 0].sum()  # point at the right, lobes at the left
    ellipses = dsprites.render(np.array([[ELLIPSE, TOP_SCALE, 0, 16, 16], [ELLIPSE, TOP_SCALE, 10, 16, 16]]))
    (h0, w0), (h1, w1) = (_crop(e[..., 0] > 0).shape for e in ellipses)
    assert w0 > 1.6 * h0 and h1 > 1.6 * w1


def test_every_factor_combination_renders_distinct():
    """All (shape, scale, orientation < 39) at the positions whose sub-pixel phase puts the origin on or next to a
    pixel corner or centre (where a square turned by about a quarter turn, or an ellipse by about a half turn, can
    rasterise like an earlier orientation), and at both ends of the grid. Orientation 2π (class 39) draws exactly as 0,
    as in the real set. Images of one sprite at different positions differ: one position class moves the sprite by
    32/31 > 1 px, so its first row or column moves. The whole grid is checked by the opt-in test below."""
    pos = [0, 1, 2, 15, 16, 29, 30, 31]
    classes = np.array(list(itertools.product(range(3), range(6), range(40), pos, pos)))
    images = dsprites.render(classes).reshape(len(classes), -1)
    last = classes[:, 2] == 39
    assert len({img.tobytes() for img in images[~last]}) == int((~last).sum())
    assert np.array_equal(images[last], images[classes[:, 2] == 0])
    sp = dsprites.sprites()
    assert np.array_equal(sp[:, :, 0], sp[:, :, 39])
    crops = {(c.shape, c.tobytes()) for c in map(_crop, sp[:, :, :39].reshape(-1, dsprites.PATCH, dsprites.PATCH))}
    assert len(crops) == 3 * 6 * 39


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("VAESAE_DSPRITES_FULL_GRID"), reason="set VAESAE_DSPRITES_FULL_GRID=1 (≈40 s)")
def test_the_whole_grid_renders_distinct():
    seen: set[bytes] = set()
    for start in range(0, dsprites.N_TOTAL, 8192):
        classes = np.stack(np.unravel_index(np.arange(start, start + 8192), dsprites.FACTOR_SIZES), 1)
        classes = classes[classes[:, 2] < 39]
        bits = np.packbits(dsprites.render(classes).reshape(len(classes), -1) > 0, axis=1)
        seen.update(row.tobytes() for row in bits)
    assert len(seen) == dsprites.N_TOTAL * 39 // 40


def test_sprites_are_deterministic():
    first = dsprites.sprites().copy()
    dsprites.sprites.cache_clear()
    try:
        assert np.array_equal(dsprites.sprites(), first)
    finally:
        dsprites.sprites.cache_clear()
    classes = np.array([[2, 5, 7, 3, 29], [1, 2, 33, 30, 1], [0, 0, 11, 15, 16], [0, 0, 10, 0, 0]])
    assert np.array_equal(dsprites.render(classes), dsprites.render(classes))
    # a row renders the same whatever else is rendered with it
    together = dsprites.render(np.array(list(itertools.product([0, 1], [0], range(40), [0, 31], [0]))))
    rows = itertools.product([0, 1], [0], range(40), [0, 31], [0])
    alone = np.concatenate([dsprites.render(np.array([row])) for row in rows])
    assert np.array_equal(together, alone)


# ------------------------------------------------------------------------------------------- real reference frames
def _reference_dir() -> Path:
    for d in REFERENCE_DIRS:
        if (d / "dsprites_samples_0.png").exists():
            return d
    pytest.skip("reference images dsprites_samples_*.png not available")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of the runs of False in a 1-d mask (the panels between all-white gutters)."""
    edges = np.diff(np.r_[1, mask.astype(int), 1])
    return list(zip(np.nonzero(edges == -1)[0], np.nonzero(edges == 1)[0]))


def _real_frames(path: Path) -> list[np.ndarray]:
    """The 64×64 binary frames of one reference grid image, row-major."""
    image = pytest.importorskip("PIL.Image")
    white = np.asarray(image.open(path).convert("L")) > 127
    frames = []
    for r0, r1 in _runs(white.all(axis=1)):
        for c0, c1 in _runs(white.all(axis=0)):
            rows = (r0 + (np.arange(64) + 0.5) * (r1 - r0) / 64).astype(int)
            cols = (c0 + (np.arange(64) + 0.5) * (c1 - c0) / 64).astype(int)
            frames.append(white[np.ix_(rows, cols)])
    return frames


def _best_match(frame: np.ndarray, shape: int) -> tuple[float, np.ndarray]:
    """Best IoU of a real frame against the procedural images of ``shape`` on the factor grid, and its classes.

    Searched: every orientation, every scale whose sprites' area is within 0.7 … 1/0.7 of the frame's (IoU is at
    most the ratio of the two areas), and every position class whose origin is within SEARCH_RADIUS of the frame's
    bounding-box centre (farther ones overlap the frame less). With no scale left the IoU is below 0.7: 0 is returned."""
    ys, xs = np.nonzero(frame)
    c = dsprites.centres(np.arange(32))
    ky = np.nonzero(np.abs(c - (ys.min() + ys.max()) / 2) <= SEARCH_RADIUS)[0]
    kx = np.nonzero(np.abs(c - (xs.min() + xs.max()) / 2) <= SEARCH_RADIUS)[0]
    areas = dsprites.sprites()[shape, :, :39].sum(axis=(2, 3)).mean(axis=1)
    scales = np.nonzero(np.minimum(areas, frame.sum()) / np.maximum(areas, frame.sum()) >= 0.7)[0]
    classes = np.array(list(itertools.product([shape], scales, range(39), kx, ky)))
    if not len(classes):
        return 0.0, np.zeros(5, dtype=np.int64)
    images = dsprites.render(classes)[..., 0] > 0
    inter = (images & frame).sum(axis=(1, 2))
    iou = inter / (images.sum(axis=(1, 2)) + frame.sum() - inter)
    k = int(np.argmax(iou))
    return float(iou[k]), classes[k]


@pytest.fixture(scope="module")
def matches() -> dict[int, list[dict]]:
    """Per shape, per real frame of that shape: the frame, its sheet and its best match against each shape."""
    ref = _reference_dir()
    sheets = {s: _real_frames(ref / f"dsprites_samples_{s}.png") for s in (0, 2, 4)}
    assert [len(f) for f in sheets.values()] == [25, 9, 9]
    out = {}
    for shape, which in REAL_FRAMES.items():
        out[shape] = []
        for sheet, panels in which.items():
            for k in panels:
                frame = sheets[sheet][k]
                out[shape].append(dict(sheet=sheet, panel=k, frame=frame,
                                       best=[_best_match(frame, other) for other in range(3)]))  # fmt: skip
        assert len(out[shape]) == N_FRAMES[shape]
    return out


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART], ids=SHAPE_IDS)
def test_real_frames_match_the_procedural_shape(matches, shape):
    ious = np.array([m["best"][shape][0] for m in matches[shape]])
    assert np.mean(ious) >= REQUIRED_MEAN_IOU and np.mean(ious) >= MIN_MEAN_IOU[shape], np.round(ious, 3)
    for m in matches[shape]:
        iou, classes = m["best"][shape]
        # the best match is a real rendered image: recompute its IoU from render()
        img = dsprites.render(classes[None])[0, ..., 0] > 0
        assert np.isclose(iou, (img & m["frame"]).sum() / (img | m["frame"]).sum())


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART], ids=SHAPE_IDS)
def test_the_best_matching_shape_is_the_real_one(matches, shape):
    for m in matches[shape]:
        ious = [m["best"][other][0] for other in range(3)]
        assert int(np.argmax(ious)) == shape and all(ious[shape] > ious[o] for o in range(3) if o != shape), (
            m["sheet"], m["panel"], np.round(ious, 3))  # fmt: skip


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART], ids=SHAPE_IDS)
def test_best_matches_recover_the_fixed_factors(matches, shape):
    """Sheet 2 holds posX = 0, sheet 4 orientation class 5: the best matches land there (the orientation up to the
    shape's symmetry: a square looks the same a quarter turn on, an ellipse half a turn on)."""
    for m in matches[shape]:
        classes = m["best"][shape][1]
        if m["sheet"] == FIXED_POS_X_SHEET:
            assert classes[3] == 0, (m["panel"], classes)
        if m["sheet"] == FIXED_ORIENTATION_SHEET:
            turn = (dsprites.ORIENTATIONS[classes[2]] - dsprites.ORIENTATIONS[FIXED_ORIENTATION]) % SYMMETRY[shape]
            assert min(turn, SYMMETRY[shape] - turn) <= np.radians(10), (m["panel"], classes)


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART], ids=SHAPE_IDS)
def test_extent_per_scale_matches_the_real_frames(matches, shape):
    """Each real frame's area against the mean area of the procedural sprites at its best match's scale."""
    areas = dsprites.sprites()[shape, :, :39].sum(axis=(2, 3)).mean(axis=1)
    for m in matches[shape]:
        scale = m["best"][shape][1][1]
        assert abs(m["frame"].sum() - areas[scale]) <= 0.06 * areas[scale] + 2, (m["sheet"], m["panel"], scale)
