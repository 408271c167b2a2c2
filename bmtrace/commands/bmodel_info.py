"""`bmtrace bmodel-info FILE [--json]`: print a bmodel's chip, networks, stages and IO tensors."""
from __future__ import annotations

import json

NAME = "bmodel-info"
HELP = "show a .bmodel's chip, networks and input/output tensors (names, dtypes, shapes, scales)"


def add_arguments(parser):
    parser.add_argument("bmodel", metavar="FILE", help="the .bmodel file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.epilog = "example: bmtrace bmodel-info models/resnet18_fp32.bmodel --json"


def _tensor_line(role, tensor):
    quant = ""
    if tensor.is_quantized or tensor.scale != 1.0 or tensor.zero_point:
        quant = "  scale=%.9g zero_point=%d" % (tensor.scale, tensor.zero_point)
    return "    %-6s %d  %-24s %-8s %-20s %8d B%s" % (
        role, tensor.index, tensor.name, tensor.dtype, "[" + ",".join(str(d) for d in tensor.shape) + "]",
        tensor.device_size, quant,
    )


def format_text(model) -> str:
    """Human-readable summary, one line per tensor."""
    lines = [
        "file:    %s" % model.path,
        "chip:    %s" % model.chip,
        "version: %s" % model.version,
        "type:    %s" % model.type,
        "time:    %s" % model.time,
        "devices: %d" % model.device_num,
    ]
    if model.kernel_module:
        lines.append("kernel:  %s" % model.kernel_module)
    for net in model.networks:
        lines.append("net %r: %d stage(s)" % (net.name, len(net.stages)))
        for stage in net.stages:
            lines.append("  stage %d%s, cores %d" % (stage.index, " (dynamic)" if stage.is_dynamic else "",
                                                      stage.core_num))
            for tensor in stage.inputs:
                lines.append(_tensor_line("input", tensor))
            for tensor in stage.outputs:
                lines.append(_tensor_line("output", tensor))
    return "\n".join(lines)


def run(args) -> int:
    from ..sophon.bmodel import read_bmodel

    model = read_bmodel(args.bmodel)
    if args.json:
        print(json.dumps(model.to_dict(), indent=2))
    else:
        print(format_text(model))
    return 0
