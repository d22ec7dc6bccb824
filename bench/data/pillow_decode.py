"""Pillow doing run-exp's preprocessing work: decode, apply EXIF orientation,
convert to RGB, resize to SIZE x SIZE, into one uint8 array.

Usage: pillow_decode.py FILELIST SIZE PROCESSES DRAFT  -> one JSON line.
DRAFT=1 lets libjpeg scale down while decoding (Image.draft), as sharp's
shrink-on-load does; DRAFT=0 is the plain open/convert/resize most code uses.
"""
import json
import sys
import time
from multiprocessing import Pool

import PIL
from PIL import Image, ImageOps

files = open(sys.argv[1]).read().split("\n")
size, processes, draft = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"


def load(path):
    with Image.open(path) as im:
        if draft:
            im.draft("RGB", (size, size))
        im = ImageOps.exif_transpose(im).convert("RGB").resize((size, size), Image.BILINEAR)
        return im.tobytes()


if __name__ == "__main__":
    t0 = time.perf_counter()
    if processes == 1:
        out = [load(f) for f in files]
    else:
        with Pool(processes) as pool:
            out = pool.map(load, files, chunksize=64)
    seconds = time.perf_counter() - t0
    assert all(len(b) == size * size * 3 for b in out)
    print(json.dumps({"framework": f"Pillow {PIL.__version__}", "processes": processes, "draft": draft,
                      "images": len(files), "seconds": seconds}))
