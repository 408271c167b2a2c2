"""The original program: classify images with a torchvision resnet18, preprocessing done the PyTorch way.

This is the "original" of Sophgo's FP32 BModel precise-alignment walkthrough
(sophon-demo docs/FP32BModel_Precise_Alignment.md): cv2.imread (BGR) -> RGB -> ToPILImage ->
Resize((224, 224)) -> ToTensor -> Normalize(ImageNet mean/std) -> resnet18 -> softmax/argmax.
Each step is a bmtrace stage; with no active bmtrace run the decorators do nothing.

Usage:
    python original.py [IMAGE ...]                 # default: every images/*.jpg
    bmtrace record --out runs/original --side original -- python original.py

Stage functions are module-level and take what the port's matching stage records (numpy arrays), so
`bmtrace diff --isolate` / `bmtrace replay` can import them and feed them the port's inputs.
"""
import argparse
import functools
import glob
import os

import cv2
import torch
import torch.nn.functional as F
import torchvision
from torchvision import transforms

import bmtrace

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_DIR = os.path.join(HERE, "images")
INPUT_SIZE = (224, 224)  # (height, width)
MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics, RGB order
STD = (0.229, 0.224, 0.225)
SEED = 0  # the weights are a pure function of this seed (no downloads)


@bmtrace.trace_stage("read", meta={"color": "BGR", "layout": "HWC"})
def read(path):
    """Decode an image file as OpenCV does: BGR, HWC, uint8."""
    img = cv2.imread(path)
    if img is None:
        raise FileNotFoundError("cannot read image %s" % path)
    return img


@bmtrace.trace_stage("to_rgb", meta={"img": {"color": "BGR", "layout": "HWC"},
                                     "out": {"color": "RGB", "layout": "HWC"}})
def to_rgb(img):
    """Reorder BGR to RGB: torchvision models expect RGB."""
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@bmtrace.trace_stage("resize", meta={"color": "RGB", "layout": "HWC"})
def resize(img):
    """Resize with torchvision on a PIL image (bilinear, and PIL antialiases when shrinking)."""
    pil = transforms.ToPILImage()(img)
    return transforms.Resize(INPUT_SIZE)(pil)


@bmtrace.trace_stage("normalize", meta={"img": {"color": "RGB", "layout": "HWC"},
                                        "out": {"color": "RGB", "layout": "NCHW"}})
def normalize(img):
    """Scale to [0, 1], subtract the mean, divide by the std; add the batch dimension."""
    tensor = transforms.ToTensor()(img)
    tensor = transforms.Normalize(MEAN, STD)(tensor)
    return tensor.unsqueeze(0)


@bmtrace.trace_stage("infer")
def infer(x):
    """Run the model on a 1x3x224x224 float32 batch (a torch tensor or a numpy array)."""
    with torch.no_grad():
        return load_model()(torch.as_tensor(x))


@bmtrace.trace_stage("postprocess")
def postprocess(logits):
    """Softmax over the classes; return the top-1 class index and its probability."""
    probs = torch.softmax(torch.as_tensor(logits), dim=1)
    score, res = probs.max(dim=1)
    return {"res": int(res[0]), "score": float(score[0])}


def classify(path):
    """The whole pipeline for one image file, recorded as one bmtrace sample."""
    with bmtrace.sample(os.path.basename(path)):
        img = read(path)
        img = to_rgb(img)
        img = resize(img)
        x = normalize(img)
        logits = infer(x)
        return postprocess(logits)


@functools.lru_cache(maxsize=None)
def load_model():
    """The example's resnet18 in eval mode, built once per process."""
    return build_model(SEED)


def build_model(seed):
    """A resnet18 with seeded random weights whose predictions depend on the image.

    A freshly initialised resnet18 predicts the same class for every input: its BatchNorm layers
    still hold mean 0 / variance 1, so activations drift far from zero and one direction dominates
    the logits. Measuring the BatchNorm statistics on seeded synthetic textures and centring the
    classifier on their mean feature fixes that, so small input changes can move the top-1 as they
    do with trained weights. Deterministic for a given seed and torch version.
    """
    torch.manual_seed(seed)
    model = torchvision.models.resnet18(weights=None)
    generator = torch.Generator().manual_seed(seed + 1)
    calibration = _synthetic_batch(generator, count=16)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batch
    with torch.no_grad():
        model.train()
        model(calibration)
        model.eval()
        features = _pooled_features(model, calibration)
        centre = features.mean(0)
        spread = ((features - centre) @ model.fc.weight.T).std()
        model.fc.weight.div_(spread)  # logits with unit spread over the calibration set
        model.fc.bias.copy_(-(centre @ model.fc.weight.T))
    return model


def _synthetic_batch(generator, count):
    """Normalised random textures: smooth noise at several scales plus fine grain."""
    images = []
    for _ in range(count):
        x = torch.zeros(1, 3, *INPUT_SIZE)
        for cells in (2, 4, 8, 16, 32, 64):
            coarse = torch.rand(1, 3, cells, cells, generator=generator)
            weight = torch.rand(1, generator=generator).item()
            x += weight * F.interpolate(coarse, size=INPUT_SIZE, mode="bicubic", align_corners=False)
        x += 0.3 * torch.rand(1, generator=generator).item() * torch.randn(x.shape, generator=generator)
        images.append((x - x.mean()) / x.std())
    return torch.cat(images)


def _pooled_features(model, x):
    """The 512-d globally pooled features that feed resnet18's classifier."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    x = model.layer4(model.layer3(model.layer2(model.layer1(x))))
    return torch.flatten(model.avgpool(x), 1)


def image_paths(args_images):
    """The images named on the command line, or every JPEG of the example's images/ folder."""
    return list(args_images) or sorted(glob.glob(os.path.join(IMAGE_DIR, "*.jpg")))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", help="image files (default: images/*.jpg)")
    args = parser.parse_args(argv)
    print("runtime: torch %s (resnet18, seed %d)" % (torch.__version__, SEED))
    for path in image_paths(args.images):
        result = classify(path)
        print("%s, res: %d, score: %.4f" % (os.path.basename(path), result["res"], result["score"]))


if __name__ == "__main__":
    main()
