"""An undecorated 'port' of original_pil.py: OpenCV only, no colour conversion, cv2.resize (no antialias).

Usage: python port_cv2.py OUT_DIR IMAGE...
"""
import hashlib
import os
import sys

import cv2
import numpy as np


def main(out_dir, paths):
    for path in paths:
        img = cv2.imread(path)  # the port forgets BGR->RGB (harmless here: the test images are grey)
        small = cv2.resize(img, (16, 16), interpolation=cv2.INTER_LINEAR)
        x = np.ascontiguousarray((small.astype(np.float32) / 255.0).transpose(2, 0, 1))
        np.save(os.path.join(out_dir, os.path.basename(path) + ".npy"), x)
        print(os.path.basename(path), hashlib.sha256(x.tobytes()).hexdigest()[:16])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
