"""`bmtrace import-bmrt`: add libbmrt's BMRT_SAVE_IO_TENSORS dumps to a run as one stage call."""
from __future__ import annotations

NAME = "import-bmrt"
HELP = "import BMRT_SAVE_IO_TENSORS dumps (*.dat.bmrt) as named tensors of a run, using the bmodel"


def add_arguments(parser):
    parser.add_argument("--bmodel", required=True, metavar="M", help="the .bmodel that produced the dumps")
    parser.add_argument("--net", metavar="NAME", help="network name (default: the only one)")
    parser.add_argument("--input", metavar="FILE", help="input_ref_data.dat.bmrt")
    parser.add_argument("--output", metavar="FILE", help="output_ref_data.dat.bmrt")
    parser.add_argument("--into", required=True, metavar="RUN", help="run directory (created if missing)")
    parser.add_argument("--stage", default="infer", help="stage name (default: infer)")
    parser.add_argument("--sample", metavar="KEY", help="sample key, e.g. test.jpg")
    parser.add_argument("--side", help="side label when the run is created, e.g. port")
    parser.epilog = ("example: bmtrace import-bmrt --bmodel resnet18.bmodel --input input_ref_data.dat.bmrt \\\n"
                     "             --output output_ref_data.dat.bmrt --into runs/port --sample test.jpg")


def run(args) -> int:
    from ..errors import UsageError
    from ..sophon.bmrt_import import import_bmrt, load_bmrt_dumps

    if not args.input and not args.output:
        raise UsageError("give --input and/or --output dump files")
    import_bmrt(args.into, args.bmodel, args.input, args.output, net=args.net, stage=args.stage,
                sample=args.sample, side=args.side)
    inputs, outputs, _ = load_bmrt_dumps(args.bmodel, args.input, args.output, args.net)
    for role, values in (("input", inputs), ("output", outputs)):
        for name, value in values.items():
            print("%-6s %-28s %-8s %s" % (role, name, value.dtype, "x".join(str(d) for d in value.shape)))
    print("imported stage %r into %s" % (args.stage, args.into))
    return 0
