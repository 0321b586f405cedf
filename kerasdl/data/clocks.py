"""Analog clocks: a seeded renderer (`clocks`) and the course's real files (`clock_photos`).

The course's "tell the time" data (18,000 grey 150x150 images of one clock seen
at many angles, labels hour and minute) cannot be had here, so kerasdl draws
its own. The renderer makes the task hard in the ways the real data is: the
whole clock is rotated, seen at a slant (a perspective homography), and every
image has its own hand shapes, lengths and widths, tick style (hour ticks,
minute ticks, numerals or not), background, contrast, polarity, lighting,
blur and noise. Each dial keeps one cue for "up" (the numeral 12 or a wide
12 o'clock mark): without it a rotated dial could not be read at all.

The minute hand points at `minute * 6` degrees and the hour hand moves between
hours as on a real clock, at `(hour + minute / 60) * 30` degrees, both measured
clockwise from 12 on the dial (`hand_angles`). Labels are `(hour 0-11, minute 0-59)`.

Drawing is vectorised numpy: every pixel of a chunk of images is mapped back
through its image's homography onto the dial, and each element (rim, ticks,
numerals, hands) is a signed distance turned into anti-aliased coverage. The
edge softness doubles as the blur. Images are a pure function of
(n, size, seed, rotation); generated sets are cached as .npz in
`kerasdl.paths.cache_dir()/clocks/`.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

from kerasdl.data import cache
from kerasdl.data.registry import Dataset, Hit, Locator, register
from kerasdl.errors import DataCorrupt, UserError

# Bump when the drawing changes: the cache key carries it, so stale images are redrawn.
RENDER_VERSION = 1
# Images drawn at once: large enough for numpy to amortise its per-call cost,
# small enough that the float32 work arrays stay around 100 MB at 150x150.
CHUNK = 16
MINUTES_PER_DIAL = 720


# --------------------------------------------------------------------------- geometry


def hand_angles(hours, minutes):
    """(hour hand, minute hand) angles in degrees, clockwise from 12 on the dial."""
    hours = np.asarray(hours, dtype=np.float64) % 12
    minutes = np.asarray(minutes, dtype=np.float64)
    return (hours + minutes / 60.0) * 30.0, minutes * 6.0


def random_styles(n, rng, rotation=30.0, distortion=1.0):
    """Per-image drawing parameters, one array of length n each.

    `rotation`: the whole clock turns by up to +-rotation degrees.
    `distortion` in [0, 1] scales the perspective, blur, noise and lighting
    (0 draws clean, front-on clocks: the tests use it to measure hand angles).
    """
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    chance = lambda p: rng.random(n) < p  # noqa: E731
    d = float(distortion)
    s = {}
    # Placement and view: scale (clock radius / half image), centre, rotation, slant.
    s["scale"] = u(0.60, 0.80)
    s["cx"], s["cy"] = u(-0.06, 0.06), u(-0.06, 0.06)
    s["rotation"] = u(-rotation, rotation)
    s["tilt"] = np.radians(u(0, 40) * d)  # the dial's plane seen this far from front-on
    s["tilt_dir"] = u(0, np.pi)
    s["px"], s["py"] = u(-0.10, 0.10) * d, u(-0.10, 0.10) * d  # projective terms
    # Case and face.
    s["rim"] = u(0.02, 0.12)
    dark = chance(0.2)  # light hands on a dark face
    face, ink = u(0.70, 1.0), u(0.0, 0.30)
    s["face"] = np.where(dark, 1 - face, face)
    s["ink"] = np.where(dark, 1 - ink, ink)
    s["hand_ink"] = np.clip(s["ink"] + u(-0.1, 0.1), 0, 1)
    s["rim_c"], s["bg"] = u(0, 1), u(0, 1)
    s["bg_gx"], s["bg_gy"] = u(-0.25, 0.25), u(-0.25, 0.25)
    s["shade"] = u(-0.12, 0.12)  # a brightness slope across the face
    s["shade_dir"] = u(0, 2 * np.pi)
    # Marks: hour ticks, minute ticks, numerals (all twelve or only 12/3/6/9).
    s["numerals"] = chance(0.5)
    s["quarters"] = s["numerals"] & chance(0.3)
    s["hour_ticks"] = chance(0.85) | ~s["numerals"]  # always one cue for "up"
    s["minute_ticks"] = chance(0.5)
    s["tick_out"] = u(0.88, 0.97)
    s["tick_len"] = u(0.05, 0.18)
    s["tick_w"] = u(0.02, 0.05)
    s["tick_len"] = np.maximum(s["tick_len"], s["tick_w"])  # short ticks become square dots
    s["mtick_len"] = u(0.03, 0.06)
    s["mtick_w"] = u(0.008, 0.018)
    # Without numerals, 12 o'clock gets a wide mark: the only way to tell "up".
    s["mark12"] = np.where(s["numerals"], 1.0, u(2.2, 3.0))
    s["num_r"] = s["tick_out"] - np.where(s["hour_ticks"], s["tick_len"], 0.0) - u(0.10, 0.14)
    s["num_h"] = u(0.13, 0.19)
    # Hands: hour shorter and (usually) wider than minute; taper 1 = pointed tip;
    # leaf > 0 widens the hand into a spade near its tip; tail behind the centre.
    s["hour_len"] = u(0.36, 0.52)
    s["min_len"] = np.maximum(s["hour_len"] + 0.2, u(0.68, 0.92))
    s["hour_w"] = u(0.05, 0.11)
    s["min_w"] = np.minimum(u(0.03, 0.08), s["hour_w"])
    s["hour_taper"], s["min_taper"] = u(0, 1), u(0, 1)
    s["hour_leaf"] = np.where(chance(0.3), u(0.5, 1.5), 0.0)
    s["min_leaf"] = np.where(chance(0.3), u(0.5, 1.5), 0.0)
    s["hour_tail"], s["min_tail"] = u(0, 0.18), u(0, 0.22)
    s["cap"] = u(0.03, 0.07)
    # Photography: blur (extra edge softness, in pixels), lighting, contrast, noise.
    s["blur"] = u(0, 1.6) * d
    s["light"] = u(-0.2, 0.2) * d
    s["light_dir"] = u(0, 2 * np.pi)
    s["lo"], s["hi"] = u(0, 0.25) * d, 1 - u(0, 0.25) * d
    s["noise"] = u(0, 0.06) * d
    return s


def homographies(styles):
    """(n, 3, 3) maps from dial coordinates (radius 1, y up) to image coordinates
    ([-1, 1] across the image, y up): rotate, slant, scale, move, then project."""
    rot = -np.radians(styles["rotation"])  # clockwise on the image
    cr, sr = np.cos(rot), np.sin(rot)
    ct, st = np.cos(styles["tilt_dir"]), np.sin(styles["tilt_dir"])
    squash = np.cos(styles["tilt"])
    n = len(rot)
    rotate = np.stack([np.stack([cr, -sr], -1), np.stack([sr, cr], -1)], -2)
    towards = np.stack([np.stack([ct, -st], -1), np.stack([st, ct], -1)], -2)
    flatten = np.zeros((n, 2, 2))
    flatten[:, 0, 0], flatten[:, 1, 1] = 1.0, squash
    # Squash along direction tilt_dir: R(dir) diag(1, cos tilt) R(-dir).
    a = towards @ flatten @ np.transpose(towards, (0, 2, 1)) @ rotate
    h = np.zeros((n, 3, 3))
    h[:, :2, :2] = a * styles["scale"][:, None, None]
    h[:, 0, 2], h[:, 1, 2] = styles["cx"], styles["cy"]
    h[:, 2, 0], h[:, 2, 1], h[:, 2, 2] = styles["px"], styles["py"], 1.0
    return h


@functools.lru_cache(maxsize=None)
def numeral_sprites(height=32):
    """(12, height, 2 * height) float32 masks of "12", "1", ..., "11", centred,
    lightly blurred so that nearest-pixel sampling does not alias."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font = ImageFont.load_default(size=int(height * 1.25))
    width = 2 * height
    out = np.zeros((12, height, width), np.float32)
    for k in range(12):
        text = str(k or 12)
        image = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(image)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        draw.text(((width - (right - left)) / 2 - left, (height - (bottom - top)) / 2 - top),
                  text, fill=255, font=font)
        image = image.filter(ImageFilter.GaussianBlur(height / 24))
        out[k] = np.asarray(image, np.float32) / 255.0
    return out


# --------------------------------------------------------------------------- drawing


def _ramp(distance, inv_soft):
    """Coverage of a signed distance (positive inside): a linear ramp 1/inv_soft wide."""
    out = distance * inv_soft
    out += 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def _hand(x, y, angle, length, width, taper, leaf, tail):
    """Signed distance to one hand pointing at `angle` (radians clockwise from 12),
    positive inside: the smallest margin to its sides, tip and tail."""
    sa, ca = np.sin(angle)[:, None], np.cos(angle)[:, None]
    along = x * sa + y * ca
    across = np.abs(x * ca - y * sa)
    q = np.clip(along / length[:, None], 0.0, 1.0)
    half = 0.5 * width[:, None] * ((1.0 - taper[:, None] * q)
                                   + leaf[:, None] * np.maximum(0.0, 1.0 - np.abs(q - 0.72) / 0.22))
    half -= across
    np.minimum(half, along + tail[:, None], out=half)
    return np.minimum(half, length[:, None] - along, out=half)


def render(hours, minutes, styles, size=150, seed=0):
    """Draw clocks showing `hours:minutes` with `styles` (see random_styles):
    uint8 (n, size, size), 0 black. Deterministic in all of its arguments."""
    hours, minutes = np.asarray(hours), np.asarray(minutes)
    n = len(hours)
    out = np.empty((n, size, size), np.uint8)
    h_inv = np.linalg.inv(homographies(styles))
    hour_deg, minute_deg = hand_angles(hours, minutes)
    sprites = numeral_sprites()
    # Pixel centres in image coordinates, [-1, 1], y up.
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    u = np.tile(grid, size)[None, :]
    v = np.repeat(-grid, size)[None, :]
    rng = np.random.default_rng([seed, size])
    # Noise: windows of one shared pool at random offsets (drawing a fresh normal
    # for every pixel would take a third of the time).
    pool = rng.standard_normal(4 * size * size, dtype=np.float32)
    offsets = rng.integers(0, 3 * size * size, n)
    from kerasdl.training.progress import progress  # here: `data list` must not load keras

    chunks = range(0, n, CHUNK)
    for start in progress(chunks, desc=f"drawing {n:,} clocks (once; then cached)"):
        sl = slice(start, min(n, start + CHUNK))
        s = {k: np.asarray(val[sl]) for k, val in styles.items()}
        noise = np.stack([pool[o:o + size * size] for o in offsets[sl]])
        img = _draw_chunk(u, v, h_inv[sl].astype(np.float32), s, np.radians(hour_deg[sl]),
                          np.radians(minute_deg[sl]), sprites, size, noise)
        out[sl] = img.reshape(-1, size, size)
    return out


# sin and cos of the twelve hour directions, and the sprite shown at each hour
# (index 12 is a blank sprite: "quarters" dials show only 12, 3, 6 and 9).
_SIN12 = np.sin(np.arange(12) * np.pi / 6).astype(np.float32)
_COS12 = np.cos(np.arange(12) * np.pi / 6).astype(np.float32)


def _draw_chunk(u, v, h_inv, s, hour_rad, minute_rad, sprites, size, noise):
    f32 = lambda key: s[key].astype(np.float32)[:, None]  # noqa: E731
    # Back-project every pixel onto the dial.
    den = h_inv[:, 2, 0, None] * u + h_inv[:, 2, 1, None] * v + h_inv[:, 2, 2, None]
    x = (h_inv[:, 0, 0, None] * u + h_inv[:, 0, 1, None] * v + h_inv[:, 0, 2, None]) / den
    y = (h_inv[:, 1, 0, None] * u + h_inv[:, 1, 1, None] * v + h_inv[:, 1, 2, None]) / den
    r = np.sqrt(x * x + y * y)
    theta = np.arctan2(x, y)  # clockwise from 12
    # 1 / (one pixel in dial units, roughly, widened by the blur).
    inv_soft = f32("scale") * (size / 2.0) / (1.0 + f32("blur"))

    # Background, case, face.
    img = f32("bg") + f32("bg_gx") * u + f32("bg_gy") * v
    case = _ramp(1.0 + f32("rim") - r, inv_soft)
    img += (f32("rim_c") - img) * case
    face = f32("face") + f32("shade") * (x * np.cos(f32("shade_dir")) + y * np.sin(f32("shade_dir")))
    img += (face - img) * _ramp(1.0 - r, inv_soft)

    # Ticks: the margin across the nearest hour (minute) mark and along the
    # radius; r * angle is the arc length, close enough to the chord here.
    t12 = theta * (6.0 / np.pi)
    k12 = np.rint(t12)
    k12i = k12.astype(np.int32) % 12
    is12 = k12i == 0
    out_r = f32("tick_out")
    outer = out_r - r
    tick_w = np.where(is12, 0.5 * f32("tick_w") * f32("mark12"), 0.5 * f32("tick_w"))
    tick_len = np.where(is12, f32("tick_len") * np.sqrt(f32("mark12")), f32("tick_len"))
    t12 -= k12
    margin = tick_w - r * np.abs(t12) * (np.pi / 6.0)
    np.minimum(margin, r - (out_r - tick_len), out=margin)
    np.minimum(margin, outer, out=margin)
    marks = _ramp(margin, inv_soft) * f32("hour_ticks")
    t60 = theta * (30.0 / np.pi)
    t60 -= np.rint(t60)
    margin = 0.5 * f32("mtick_w") - r * np.abs(t60) * (np.pi / 30.0)
    np.minimum(margin, r - (out_r - f32("mtick_len")), out=margin)
    np.minimum(margin, outer, out=margin)
    np.maximum(marks, _ramp(margin, inv_soft) * f32("minute_ticks"), out=marks)

    # Numerals: sample the sprite of the nearest hour, upright on the dial.
    with_numerals = np.flatnonzero(s["numerals"])
    if len(with_numerals):
        idx = with_numerals
        sh, sw = sprites.shape[1:]
        k = k12i[idx]
        scale = sh / f32("num_h")[idx]
        num_r = f32("num_r")[idx]
        col = ((x[idx] - num_r * _SIN12[k]) * scale + sw / 2).astype(np.int32)
        row = (sh / 2 - (y[idx] - num_r * _COS12[k]) * scale).astype(np.int32)
        # Sprite 12 is blank: hours a "quarters" dial leaves out, and pixels off the sprite.
        hidden = s["quarters"][idx, None] & (k % 3 != 0)
        hidden |= (col < 0) | (col >= sw) | (row < 0) | (row >= sh)
        k[hidden] = 12
        flat = (k * sh + np.clip(row, 0, sh - 1)) * sw + np.clip(col, 0, sw - 1)
        glyph = np.take(_padded_sprites(), flat)
        np.maximum(marks[idx], glyph, out=glyph)
        marks[idx] = glyph
    img += (f32("ink") - img) * marks

    # Hands, hour first (the minute hand lies on top), then the cap over both.
    hand_ink = f32("hand_ink")
    for name, angle in (("hour", hour_rad), ("min", minute_rad)):
        margin = _hand(x, y, angle.astype(np.float32), *(s[f"{name}_{p}"].astype(np.float32)
                                                        for p in ("len", "w", "taper", "leaf", "tail")))
        img += (hand_ink - img) * _ramp(margin, inv_soft)
    img += (hand_ink - img) * _ramp(f32("cap") - r, inv_soft)

    # Lighting, contrast, noise.
    img *= 1.0 + f32("light") * (u * np.cos(f32("light_dir")) + v * np.sin(f32("light_dir")))
    img = f32("lo") + (f32("hi") - f32("lo")) * img
    img += f32("noise") * noise
    img *= 255.0
    img += 0.5
    return np.clip(img, 0.0, 255.0, out=img).astype(np.uint8)


@functools.lru_cache(maxsize=None)
def _padded_sprites():
    """The numeral sprites, flattened, with a blank 13th sprite."""
    sprites = numeral_sprites()
    return np.concatenate([sprites, np.zeros_like(sprites[:1])]).reshape(-1)


def generate(n=18000, size=150, seed=0, rotation=30.0, distortion=1.0):
    """(images uint8 (n, size, size), labels int64 (n, 2) = hour, minute, styles)."""
    if n < 1 or size < 16:
        raise UserError(f"clocks: n={n}, size={size}: expected n >= 1 and size >= 16 pixels")
    rng = np.random.default_rng(seed)
    hours = rng.integers(0, 12, n)
    minutes = rng.integers(0, 60, n)
    styles = random_styles(n, rng, rotation=rotation, distortion=distortion)
    images = render(hours, minutes, styles, size=size, seed=seed)
    return images, np.stack([hours, minutes], 1).astype(np.int64), styles


# --------------------------------------------------------------------------- data sets


def _split(name, images, labels, test_fraction, seed, provenance):
    """A seeded train/test split into a Dataset with a channel axis."""
    n = len(images)
    order = np.random.default_rng([seed, 1]).permutation(n)
    n_test = int(round(test_fraction * n))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    images = images[..., None]
    return Dataset(name, images[train], labels[train], images[test], labels[test],
                   class_names=[], provenance=provenance, value_range=(0, 255))


@register("clocks", "analog clocks drawn by kerasdl's seeded renderer, 150x150 grey, "
          "labels (hour, minute)", fallback="generated")
def load_clocks(n=18000, size=150, seed=0, rotation=30.0, test_fraction=0.2):
    """`n` generated clocks (cached), split `test_fraction` for the test set."""
    if not 0 < test_fraction < 1:
        raise UserError(f"clocks: test_fraction={test_fraction}: expected a value in (0, 1)")
    key = f"n{n}-size{size}-seed{seed}-rot{rotation:g}-v{RENDER_VERSION}"
    path = cache.cache_path("clocks", key)
    arrays = cache.read(path)
    if arrays is None:
        started = time.perf_counter()
        images, labels, _ = generate(n, size, seed, rotation)
        cache.write(path, {"images": images, "labels": labels})
        took = f", drawn in {time.perf_counter() - started:.1f} s"
    else:
        images, labels, took = arrays["images"], arrays["labels"], ""
    provenance = (f"generated analog clocks: {n} grey {size}x{size} images, rotation up to "
                  f"+-{rotation:g} deg, renderer v{RENDER_VERSION}, seed {seed}{took}")
    return _split("clocks", images, labels, test_fraction, seed, provenance)


def _probe_real(folder):
    images, labels = Path(folder) / "images.npy", Path(folder) / "labels.npy"
    if images.is_file() and labels.is_file():
        return Hit(Path(folder), "npy", {"images": images, "labels": labels})
    return None


def _read_real(hit, test_fraction=0.2, seed=0):
    try:
        images = np.load(hit.files["images"], allow_pickle=False)
        labels = np.load(hit.files["labels"], allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataCorrupt(f"clock_photos: cannot read {hit.path}/images.npy or labels.npy "
                          f"({type(exc).__name__}: {exc}); replace the files") from None
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or labels.shape != (len(images), 2):
        raise DataCorrupt(f"clock_photos: expected images.npy of shape (N, H, W) and labels.npy "
                          f"of shape (N, 2), got {images.shape} and {labels.shape} in {hit.path}")
    if images.dtype != np.uint8:
        if images.size and (images.min() < 0 or images.max() > 255):
            raise DataCorrupt(f"clock_photos: {hit.path}/images.npy holds values outside 0-255")
        images = images.astype(np.uint8)
    labels = labels.astype(np.int64)
    if labels.size and (labels[:, 0].min() < 0 or labels[:, 0].max() > 12
                        or labels[:, 1].min() < 0 or labels[:, 1].max() > 59):
        raise DataCorrupt(f"clock_photos: {hit.path}/labels.npy: expected (hour 0-11, minute 0-59) rows")
    labels[:, 0] %= 12
    provenance = (f"the course's clock images: {len(images)} grey {images.shape[1]}x{images.shape[2]} "
                  "images (images.npy, labels.npy)")
    return _split("clock_photos", images, labels, test_fraction, seed, provenance)


REAL_LOCATOR = Locator(
    name="clock_photos", aliases=("clocks", "clock_photos", "tell-the-time"),
    probe=_probe_real, read=_read_real,
    provide="put the course's images.npy (N x 150 x 150 uint8) and labels.npy (N x 2: hour, minute) "
            "in a folder")


@register("clock_photos", "the course's analog clock images: images.npy + labels.npy (hour, minute)",
          locator=REAL_LOCATOR)
def load_clock_photos(data_dir=None, test_fraction=0.2, seed=0):
    return REAL_LOCATOR.load(data_dir, test_fraction=test_fraction, seed=seed)
