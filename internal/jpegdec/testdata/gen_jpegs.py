"""Writes JPEGs of many kinds and Pillow's (libjpeg-turbo's) RGB decoding of each, for
internal/jpegdec's tests.

Run with Debian's python3-pil:  /usr/bin/python3 gen_jpegs.py OUT_DIR
cases.json lists each file with its size; NAME.raw holds the RGB bytes of
Image.open(NAME.jpg).convert("RGB").
"""
import json
import os
import sys

import numpy as np
from PIL import Image


def picture(rng, w, h):
    """Smooth gradients, hard-edged blocks and noise: every frequency gets coefficients."""
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([xx * 255.0 / max(w - 1, 1), yy * 255.0 / max(h - 1, 1), (xx + yy) % 64 * 4.0], axis=2)
    for _ in range(5):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        a[y0:y0 + h // 3, x0:x0 + w // 4] = rng.integers(0, 256, 3)
    a += rng.normal(0, 12, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(5)
    cases = []
    specs = [
        ("s420_q90", (320, 240), dict(quality=90, subsampling=2)),
        ("s420_odd", (37, 23), dict(quality=75, subsampling=2)),
        ("s420_narrow", (3, 50), dict(quality=80, subsampling=2)),
        ("s422_q85", (161, 97), dict(quality=85, subsampling=1)),
        ("s444_q95", (200, 131), dict(quality=95, subsampling=0)),
        ("s420_q30", (256, 256), dict(quality=30, subsampling=2)),
        ("prog_420", (301, 203), dict(quality=88, subsampling=2, progressive=True)),
        ("prog_444", (120, 77), dict(quality=92, subsampling=0, progressive=True)),
        ("optimized", (150, 150), dict(quality=80, optimize=True)),
        ("q100", (64, 48), dict(quality=100, subsampling=0)),
    ]
    for name, (w, h), kw in specs:
        picture(rng, w, h).save(os.path.join(out, name + ".jpg"), **kw)
        cases.append(name)
    picture(rng, 99, 70).convert("L").save(os.path.join(out, "grey.jpg"), quality=85)
    cases.append("grey")
    picture(rng, 90, 60).convert("L").save(os.path.join(out, "grey_prog.jpg"), quality=85, progressive=True)
    cases.append("grey_prog")
    listed = []
    for name in cases:
        img = Image.open(os.path.join(out, name + ".jpg")).convert("RGB")
        with open(os.path.join(out, name + ".raw"), "wb") as f:
            f.write(np.asarray(img, dtype=np.uint8).tobytes())
        listed.append({"name": name, "w": img.size[0], "h": img.size[1]})
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(listed, f)


if __name__ == "__main__":
    main(sys.argv[1])
