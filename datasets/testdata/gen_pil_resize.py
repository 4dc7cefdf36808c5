"""Writes pictures and Pillow's bilinear resizes of them, for datasets' TestResizeBilinearEqualsPillow.

Run with Debian's python3-pil:  /usr/bin/python3 gen_pil_resize.py OUT_DIR
For each case i: in_i.png (random RGB noise with blocks, w x h) and out_i.raw, the RGB bytes of
Image.resize((W, H), Image.BILINEAR) on it; cases.json lists the sizes.
"""
import json
import os
import sys

import numpy as np
from PIL import Image

CASES = [((640, 480), (256, 256)), ((300, 200), (256, 256)), ((100, 80), (256, 256)), ((256, 300), (256, 256)),
         ((257, 255), (256, 256)), ((1000, 37), (256, 256)), ((256, 256), (224, 224)), ((50, 50), (17, 93))]


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1)
    cases = []
    for i, ((w, h), (dw, dh)) in enumerate(CASES):
        a = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        a[h // 4:h // 2, w // 3:] = rng.integers(0, 256, 3)
        Image.fromarray(a).save(os.path.join(out, "in_%d.png" % i))
        r = Image.fromarray(a).resize((dw, dh), Image.BILINEAR)
        with open(os.path.join(out, "out_%d.raw" % i), "wb") as f:
            f.write(np.asarray(r, dtype=np.uint8).tobytes())
        cases.append({"w": dw, "h": dh})
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(cases, f)


if __name__ == "__main__":
    main(sys.argv[1])
