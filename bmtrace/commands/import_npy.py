"""`bmtrace import-npy`: make hand-saved .npy files (one per operation) into a run."""
from __future__ import annotations

NAME = "import-npy"
HELP = "import hand-saved .npy/.npz files as stage outputs of a run (FILE=STAGE[:NAME] ...)"


def add_arguments(parser):
    parser.add_argument("mappings", nargs="+", metavar="FILE=STAGE[:NAME]",
                        help="e.g. img_read_cv.npy=read img_resize_cv.npy=resize; files of one stage "
                             "form one call (name them with :NAME)")
    parser.add_argument("--into", required=True, metavar="RUN", help="run directory (created if missing)")
    parser.add_argument("--side", help="side label when the run is created, e.g. port")
    parser.add_argument("--sample", metavar="KEY", help="sample key, e.g. test.jpg")
    parser.epilog = ("example: bmtrace import-npy img_read_cv.npy=read img_resize_cv.npy=resize "
                     "--into runs/port --sample test.jpg")


def run(args) -> int:
    from ..sophon.npy_import import import_npy

    recorded = import_npy(args.into, args.mappings, side=args.side, sample=args.sample)
    for stage, names in recorded:
        print("%s: %s" % (stage, ", ".join(names)))
    print("imported %d stage(s) into %s" % (len(recorded), args.into))
    return 0
