"""FAKE sail Handle/Decoder/Bmcv/PaddingAtrr for tests only, added to tests/fakes/fake_sail.py's module.

Signatures follow sophon-sail's documentation (/work/shared/design/SOPHON.md): Decoder(path, compressed,
tpu_id).read(handle, img); Bmcv(handle).resize/vpp_resize(img, w, h, resize_alg), crop_and_resize_padding,
convert_to(in, out, ((a0, b0), (a1, b1), (a2, b2))). Pixels are computed with OpenCV.
"""
import cv2
import numpy as np

BMCV_INTER_NEAREST, BMCV_INTER_LINEAR = 0, 1


class Handle:
    def __init__(self, tpu_id=0):
        self.tpu_id = tpu_id


class PaddingAtrr:
    def __init__(self, stx=0, sty=0, w=0, h=0, r=0, g=0, b=0):
        self.dst_crop_stx, self.dst_crop_sty, self.dst_crop_w, self.dst_crop_h = stx, sty, w, h
        self.padding_r, self.padding_g, self.padding_b = r, g, b
        self.if_memset = 1


def install(monkeypatch, sail):
    """Add the media classes to the fake sail module for one test."""

    class Decoder:
        def __init__(self, file_path, compressed=True, tpu_id=0):
            self._path = file_path

        def read(self, handle, image):
            pixels = cv2.imread(self._path)
            if pixels is None:
                return 1
            image.__init__(pixels, sail.Format.FORMAT_BGR_PACKED)
            return 0

    class Bmcv:
        def __init__(self, handle):
            self.handle = handle

        def resize(self, input, tar_w, tar_h, resize_alg=BMCV_INTER_NEAREST):
            flag = cv2.INTER_LINEAR if resize_alg == BMCV_INTER_LINEAR else cv2.INTER_NEAREST
            return sail.BMImage(cv2.resize(input.asnumpy(), (tar_w, tar_h), interpolation=flag), input.format())

        def vpp_resize(self, input, tar_w, tar_h, resize_alg=BMCV_INTER_NEAREST):
            return self.resize(input, tar_w, tar_h, resize_alg)

        def crop_and_resize_padding(self, input, crop_x0, crop_y0, crop_w, crop_h, resize_w, resize_h,
                                    padding_in, resize_alg=BMCV_INTER_NEAREST):
            crop = input.asnumpy()[crop_y0:crop_y0 + crop_h, crop_x0:crop_x0 + crop_w]
            inner = cv2.resize(crop, (padding_in.dst_crop_w, padding_in.dst_crop_h), interpolation=cv2.INTER_NEAREST)
            out = np.empty((resize_h, resize_w, 3), np.uint8)
            out[...] = (padding_in.padding_b, padding_in.padding_g, padding_in.padding_r)
            y, x = padding_in.dst_crop_sty, padding_in.dst_crop_stx
            out[y:y + inner.shape[0], x:x + inner.shape[1]] = inner
            return sail.BMImage(out, input.format())

        def convert_to(self, input, output, alpha_beta=None):
            if alpha_beta is None:
                output, alpha_beta = None, output
            pixels = input.asnumpy().astype(np.float32)
            alpha = np.float32([a for a, _ in alpha_beta])
            beta = np.float32([b for _, b in alpha_beta])
            result = (pixels * alpha + beta).transpose(2, 0, 1)[np.newaxis]
            if output is None:
                return sail.Tensor(result)
            output.update_data(result)
            return None

    for name, value in (("Handle", Handle), ("Decoder", Decoder), ("Bmcv", Bmcv), ("PaddingAtrr", PaddingAtrr),
                        ("BMCV_INTER_NEAREST", BMCV_INTER_NEAREST), ("BMCV_INTER_LINEAR", BMCV_INTER_LINEAR)):
        monkeypatch.setattr(sail, name, value, raising=False)
    return sail
