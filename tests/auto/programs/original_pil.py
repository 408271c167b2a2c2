"""An undecorated 'original': OpenCV decode, BGR->RGB, torchvision Resize on a PIL image, ToTensor.

Usage: python original_pil.py OUT_DIR IMAGE...  (writes OUT_DIR/<image>.npy, prints a checksum per image)
"""
import hashlib
import os
import sys

import cv2
import numpy as np
from torchvision import transforms


def main(out_dir, paths):
    for path in paths:
        img = cv2.imread(path)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        small = transforms.Resize((16, 16))(transforms.ToPILImage()(img))
        x = transforms.ToTensor()(small).numpy()
        np.save(os.path.join(out_dir, os.path.basename(path) + ".npy"), x)
        print(os.path.basename(path), hashlib.sha256(x.tobytes()).hexdigest()[:16])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
