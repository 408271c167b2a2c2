"""The port after the fix: it resizes like the original, so its predictions match original.py.

bmtrace diff names `resize` as the first divergent stage of ported.py, and replay shows the later
stages only inherit its error. The fix replaces that one stage: torchvision's Resize on a PIL image
is PIL's bilinear resize, which widens its filter when shrinking (antialiasing); cv2.resize with
INTER_LINEAR samples only the 2x2 nearest source pixels. Everything else is ported.py unchanged.
On a device without PIL, cv2.INTER_AREA is the usual near (not bit-exact) substitute.

Usage:
    python ported_aligned.py [--runtime NAME] [IMAGE ...]
    bmtrace record --out runs/aligned --side aligned -- python ported_aligned.py
"""
import sys

import numpy as np
from PIL import Image

import bmtrace
import ported


@bmtrace.trace_stage("resize", meta={"color": "RGB", "layout": "HWC"})
def resize(img):
    """Resize as transforms.Resize does on a PIL image: bilinear with an antialiasing filter."""
    height, width = ported.INPUT_SIZE
    return np.asarray(Image.fromarray(img).resize((width, height), Image.BILINEAR))


if __name__ == "__main__":
    sys.exit(ported.main(resize=resize))
