"""torch.Tensor <-> numpy, detached and on CPU. torch is only used when the program already imported
it (recording) or when a recorded torch tensor is rebuilt (replay)."""
from __future__ import annotations

import sys

import numpy as np

from .base import Codec
from .leaf import Leaf


class TorchCodec(Codec):
    name = "torch"

    def encode(self, value, name, meta):
        module = type(value).__module__ or ""
        if not module.startswith("torch") or "torch" not in sys.modules:
            return None
        torch = sys.modules["torch"]
        if not isinstance(value, torch.Tensor):
            return None
        merged = {"framework": "torch", "device": str(value.device)}
        t = value.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        note = None
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds every value exactly
            t, note = t.float(), "bfloat16 stored as float32"
            merged["torch_dtype"] = "bfloat16"
        if t.is_conj():
            t = t.resolve_conj()
        merged.update(meta)
        return Leaf.of_array(name, t.numpy(), merged, note=note)

    def decodes(self, leaf, meta):
        return leaf.kind == "array" and meta.get("framework") == "torch"

    def decode(self, leaf, meta):
        """A CPU tensor owning a copy of the data, bfloat16 again when it was recorded from one."""
        import torch

        tensor = torch.from_numpy(np.array(leaf.load(), copy=True))
        if meta.get("torch_dtype") == "bfloat16":
            tensor = tensor.to(torch.bfloat16)
        return tensor
