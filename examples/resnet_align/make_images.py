"""Draw the example's test images deterministically and save them as small JPEGs in images/.

No photographs can be downloaded here, so each image is a synthetic scene with what makes photos hard
to resize: smooth gradients, hard edges, fine periodic texture (which aliases when a resize skips
antialiasing) and sensor-like noise. The committed JPEGs are the reference; rerunning this script
rewrites them (bytes may differ slightly across OpenCV/libjpeg builds, the scenes do not).

Usage: python make_images.py [--out DIR] [--quality Q]
"""
import argparse
import os

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def fractal_noise(rng, height, width, octaves=5, base=4):
    """Smooth noise in [0, 1]: random grids of growing resolution, upsampled and summed."""
    total = np.zeros((height, width), np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        cells = base * 2 ** octave
        grid = rng.random((cells, cells)).astype(np.float32)
        total += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        norm += amplitude
        amplitude *= 0.5
    total /= norm
    return (total - total.min()) / (total.max() - total.min() + 1e-6)


def vertical_gradient(height, width, top, bottom):
    """An HxWx3 float image blending colour `top` into `bottom` (BGR, 0..255)."""
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    top, bottom = np.float32(top), np.float32(bottom)
    return np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).copy()


def ridge(rng, width, level, roughness):
    """A mountain skyline: y coordinate per column from 1-D multi-octave noise."""
    profile = np.zeros(width, np.float32)
    amplitude = roughness
    for octave in range(6):
        knots = rng.random(4 * 2 ** octave + 1).astype(np.float32) - 0.5
        profile += amplitude * np.interp(np.linspace(0, len(knots) - 1, width), np.arange(len(knots)), knots)
        amplitude *= 0.5
    return level + profile


def add_sensor_noise(rng, image, sigma):
    """Gaussian noise like a camera's, then clip to uint8."""
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def lakeside(rng, width=1280, height=720):
    """Sunset over mountains and a lake with fine ripples."""
    horizon = int(height * 0.62)
    img = vertical_gradient(height, width, (120, 40, 30), (60, 150, 250))
    clouds = fractal_noise(rng, height, width, octaves=6, base=3)
    img += (np.clip(clouds - 0.45, 0, 1) * 180)[:, :, None] * np.float32([0.8, 0.85, 1.0])
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    sun = np.exp(-((xx - width * 0.68) ** 2 + (yy - horizon * 0.8) ** 2) / (2 * (width * 0.05) ** 2))
    img += sun[:, :, None] * np.float32([120, 220, 255])
    layers = [(0.45, (110, 90, 95)), (0.52, (80, 60, 60)), (0.58, (45, 40, 35))]  # far to near
    for depth, (level, colour) in enumerate(layers):
        top = ridge(rng, width, height * level, height * (0.22 - 0.05 * depth))
        mask = yy > top[None, :]
        img[mask] = np.float32(colour) * (0.85 + 0.3 * fractal_noise(rng, height, width, 4, 8)[mask])[:, None]
    # Water: the sky mirrored, cut by thin horizontal ripples that alias when downscaled without a filter.
    water = img[horizon - (height - horizon):horizon][::-1] * 0.7
    ripples = 0.5 + 0.5 * np.sin(yy[horizon:] * 1.9 + 3 * fractal_noise(rng, height - horizon, width, 4, 6))
    img[horizon:] = water * (0.75 + 0.35 * ripples[:, :, None])
    return add_sensor_noise(rng, np.clip(img, 0, 255), 2.0)


def tiled_hall(rng, width=1024, height=768):
    """A room with a checkerboard floor in perspective and a brick wall: aliasing bait."""
    img = vertical_gradient(height, width, (200, 215, 225), (150, 170, 185))
    # Brick wall on the upper part.
    wall = np.full((height, width, 3), (70, 90, 160), np.float32)
    brick_h, brick_w = 18, 44
    for row, y in enumerate(range(0, height, brick_h)):
        wall[y:y + 2] = (190, 195, 200)  # mortar
        offset = (row % 2) * brick_w // 2
        for x in range(-offset, width, brick_w):
            wall[y:y + brick_h, max(x, 0):max(x, 0) + 2] = (190, 195, 200)
    wall *= (0.8 + 0.4 * fractal_noise(rng, height, width, 5, 6))[:, :, None]
    floor_top = int(height * 0.55)
    img[:floor_top] = wall[:floor_top]
    # Checkerboard floor warped into perspective: the far squares shrink to a few pixels.
    rows, cols = np.indices((600, 1500)) // 30
    board = ((rows + cols) % 2).astype(np.float32)
    board = np.stack([board * 200 + 30, board * 190 + 35, board * 170 + 40], -1)
    src = np.float32([[0, 0], [1499, 0], [1499, 599], [0, 599]])
    dst = np.float32([[-width * 0.5, floor_top], [width * 1.5, floor_top], [width * 3.5, height],
                      [-width * 2.5, height]])
    floor = cv2.warpPerspective(board, cv2.getPerspectiveTransform(src, dst), (width, height),
                                flags=cv2.INTER_NEAREST)
    img[floor_top:] = floor[floor_top:]
    # A window with a bright sky and frame.
    cv2.rectangle(img, (620, 90), (860, 330), (250, 235, 215), -1)
    cv2.rectangle(img, (620, 90), (860, 330), (40, 50, 60), 10)
    cv2.line(img, (740, 90), (740, 330), (40, 50, 60), 8)
    cv2.line(img, (620, 210), (860, 210), (40, 50, 60), 8)
    return add_sensor_noise(rng, np.clip(img, 0, 255), 2.0)


def tartan(rng, width=800, height=600):
    """Woven fabric: crossing coloured stripes and a fine thread pattern, seen slightly rotated."""
    size = 1200
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    weft = np.float32([[30, 30, 160], [40, 120, 40], [140, 60, 20], [220, 220, 220]])
    band_x = weft[((xx // 37).astype(int) * 7 + (xx // 11).astype(int)) % 4]
    band_y = weft[((yy // 41).astype(int) * 5 + (yy // 13).astype(int)) % 4]
    twill = ((xx + yy) // 3 % 2)[:, :, None]  # diagonal weave every 3 px: far above 224-px Nyquist
    cloth = band_x * twill + band_y * (1 - twill)
    cloth *= (0.85 + 0.3 * fractal_noise(rng, size, size, 5, 4))[:, :, None]
    rotation = cv2.getRotationMatrix2D((size / 2, size / 2), 17, 1.0)
    cloth = cv2.warpAffine(cloth, rotation, (size, size), flags=cv2.INTER_LINEAR)
    y0, x0 = (size - height) // 2, (size - width) // 2
    img = cloth[y0:y0 + height, x0:x0 + width]
    # A soft fold: a darker diagonal shadow.
    fold = np.exp(-(((np.arange(width)[None, :] - np.arange(height)[:, None] * 0.6 - 300) / 90.0) ** 2))
    img = img * (1 - 0.35 * fold[:, :, None])
    return add_sensor_noise(rng, np.clip(img, 0, 255), 2.5)


def night_city(rng, width=960, height=540):
    """A skyline at dusk: tall blocks with grids of small lit windows, stars, a reflecting river."""
    img = vertical_gradient(height, width, (60, 20, 10), (140, 90, 90))
    stars = rng.random((height, width)) > 0.9985
    img[stars] = 255
    river = int(height * 0.8)
    x = 0
    while x < width:
        w = int(rng.integers(50, 140))
        top = int(rng.integers(int(height * 0.15), int(height * 0.6)))
        shade = float(rng.uniform(25, 60))
        img[top:river, x:x + w] = (shade, shade * 0.9, shade * 0.85)
        lit = rng.random(((river - top) // 9 + 1, w // 7 + 1)) > 0.55
        for (r, c) in zip(*np.nonzero(lit)):
            y1, x1 = top + 4 + r * 9, x + 3 + c * 7
            if y1 + 4 < river and x1 + 3 < min(x + w, width):
                img[y1:y1 + 4, x1:x1 + 3] = (90, 200, 250)
        x += w + int(rng.integers(0, 12))
    reflection = img[2 * river - height:river][::-1] * 0.45
    wobble = np.sin(np.arange(height - river, dtype=np.float32) * 2.3)[:, None, None]
    img[river:] = reflection * (0.8 + 0.2 * wobble)
    return add_sensor_noise(rng, np.clip(img, 0, 255), 2.0)


def still_life(rng, width=640, height=480):
    """Fruit on a wooden table in front of a blurred background with highlights."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    background = fractal_noise(rng, height, width, 4, 3)[:, :, None] * np.float32([60, 120, 90]) + 40
    for _ in range(25):  # out-of-focus light discs (bokeh)
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height * 0.5), rng.uniform(8, 30)
        disc = np.clip(r - np.hypot(xx - cx, yy - cy), 0, 3) / 3
        background += disc[:, :, None] * np.float32([90, 140, 160]) * 0.6
    img = cv2.GaussianBlur(background, (0, 0), 2.5)
    table = int(height * 0.55)
    grain = np.sin(xx[table:] * 0.08 + 6 * fractal_noise(rng, height - table, width, 5, 4) + yy[table:] * 0.9)
    img[table:] = np.float32([40, 80, 140]) * (1.0 + 0.25 * grain[:, :, None])
    for cx, cy, r, colour in [(220, 300, 70, (40, 40, 200)), (350, 320, 55, (40, 160, 230)),
                              (460, 295, 62, (50, 150, 60))]:
        shadow = np.exp(-(((xx - cx - 25) / (r * 1.2)) ** 2 + ((yy - cy - r * 0.8) / (r * 0.35)) ** 2))
        img *= (1 - 0.5 * shadow)[:, :, None]
        dist = np.hypot(xx - cx, yy - cy)
        inside = dist < r
        light = np.clip(1.2 - np.hypot(xx - cx + r * 0.35, yy - cy + r * 0.35) / (1.6 * r), 0.25, 1.2)
        img[inside] = (np.float32(colour) * light[inside][:, None]) + 20
        highlight = np.exp(-(np.hypot(xx - cx + r * 0.4, yy - cy + r * 0.4) / (r * 0.12)) ** 2)
        img += highlight[:, :, None] * 200 * inside[:, :, None]
    return add_sensor_noise(rng, np.clip(img, 0, 255), 2.0)


SCENES = {  # file name -> (draw function, seed); sizes are each function's defaults
    "lakeside.jpg": (lakeside, 1),
    "tiled_hall.jpg": (tiled_hall, 2),
    "tartan.jpg": (tartan, 3),
    "night_city.jpg": (night_city, 4),
    "still_life.jpg": (still_life, 5),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "images"), help="output folder")
    parser.add_argument("--quality", type=int, default=75, help="JPEG quality")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for name, (draw, seed) in SCENES.items():
        image = draw(np.random.default_rng(seed))
        path = os.path.join(args.out, name)
        if not cv2.imwrite(path, image, [cv2.IMWRITE_JPEG_QUALITY, args.quality]):
            raise SystemExit("could not write %s" % path)
        size = os.path.getsize(path)
        total += size
        print("%-16s %4dx%-4d %6.1f kB" % (name, image.shape[1], image.shape[0], size / 1024.0))
    print("total %.1f kB in %s" % (total / 1024.0, args.out))


if __name__ == "__main__":
    main()
