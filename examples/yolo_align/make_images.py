"""Draw the example's test scenes deterministically and save them as small JPEGs in images/.

Each scene is a gradient background with sensor-like noise and a handful of solid objects (boxes,
discs, triangles) in distinct colours, some cut by the right or bottom border the way cars and people
are cut by a photo's frame. Sizes and aspect ratios differ so that letterboxing pads differently
(odd pads included). The committed JPEGs are the reference; rerunning this script rewrites them.

Usage: python make_images.py [--out DIR] [--quality Q]
"""
import argparse
import os

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
COLOURS = [(40, 40, 200), (40, 170, 240), (60, 160, 60), (200, 120, 40), (180, 60, 160), (230, 230, 230)]


def background(rng, height, width):
    """Two-colour vertical gradient plus low-frequency blotches: a wall, a road, a sky."""
    top, bottom = rng.uniform(60, 220, 3), rng.uniform(30, 160, 3)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).astype(np.float32)
    blotches = cv2.resize(rng.random((6, 8)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(img * (0.8 + 0.4 * blotches[:, :, None]))


def draw_objects(rng, img, count, edge_objects):
    """Solid shapes at random places; ``edge_objects`` of them run off the right or bottom border."""
    height, width = img.shape[:2]
    for i in range(count):
        colour = tuple(float(c) for c in COLOURS[int(rng.integers(len(COLOURS)))])
        w, h = (int(v) for v in rng.uniform(0.08, 0.3, 2) * (width, height))
        if i < edge_objects:  # cut by the frame
            x = width - w // 2 if i % 2 == 0 else int(rng.uniform(0, width - w))
            y = height - h // 2 if i % 2 == 1 else int(rng.uniform(0, height - h))
        else:
            x, y = int(rng.uniform(0, width - w)), int(rng.uniform(0, height - h))
        shape = int(rng.integers(3))
        if shape == 0:
            cv2.rectangle(img, (x, y), (x + w, y + h), colour, -1)
            cv2.rectangle(img, (x, y), (x + w, y + h), (20, 20, 20), 2)
        elif shape == 1:
            cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, colour, -1)
        else:
            pts = np.array([[x, y + h], [x + w // 2, y], [x + w, y + h]], np.int32)
            cv2.fillPoly(img, [pts], colour)
    return img


def scene(seed, width, height, count=7, edge_objects=3):
    rng = np.random.default_rng(seed)
    img = draw_objects(rng, background(rng, height, width), count, edge_objects)
    noisy = img + rng.normal(0.0, 3.0, img.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


SCENES = {  # file name -> (seed, width, height)
    "street.jpg": (11, 640, 427),
    "yard.jpg": (12, 500, 375),
    "parking.jpg": (13, 800, 450),
    "doorway.jpg": (14, 375, 500),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "images"), help="output folder")
    parser.add_argument("--quality", type=int, default=80, help="JPEG quality")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name, (seed, width, height) in SCENES.items():
        path = os.path.join(args.out, name)
        if not cv2.imwrite(path, scene(seed, width, height), [cv2.IMWRITE_JPEG_QUALITY, args.quality]):
            raise SystemExit("could not write %s" % path)
        print("%-12s %4dx%-4d %6.1f kB" % (name, width, height, os.path.getsize(path) / 1024.0))


if __name__ == "__main__":
    main()
