"""torch.Tensor -> numpy, detached and on CPU; only called when torch is already imported."""
from __future__ import annotations


def torch_to_array(tensor):
    import torch

    if not isinstance(tensor, torch.Tensor):
        return None
    meta = {"framework": "torch", "device": str(tensor.device)}
    t = tensor.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    note = None
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16
        t, note = t.float(), "bfloat16 stored as float32"
        meta["torch_dtype"] = "bfloat16"
    if t.is_conj():
        t = t.resolve_conj()
    return t.numpy(), meta, note
