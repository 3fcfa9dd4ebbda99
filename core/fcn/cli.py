"""CLI commands of the fully convolutional pages: ``upsample``, ``transpose-conv``."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli import add_common


def cmd_upsample(args: argparse.Namespace) -> tuple[Any, str]:
    import numpy as np

    from core.fcn import upsampling as U

    x = U.SLIDE_MATRIX if args.method != "unpool" else U.SLIDE_POOL_INPUT
    payload: dict[str, Any] = {"method": args.method, "input": x.tolist()}
    if args.method in ("nearest", "bilinear", "bicubic"):
        out = U.interpolate(x, args.factor, args.method, backend=args.backend)
    elif args.method == "zeros-kernel":
        zeros, out = U.zero_insert_upsample(x, "tent")
        payload.update(zero_inserted=zeros.tolist(), kernel=U.TENT_KERNEL.tolist(),
                       equals_bilinear=bool(np.allclose(out, U.bilinear_align_corners(x))))
    else:
        pool = U.max_pool_with_switches(x)
        values = np.array([float(v) for v in args.values.split(",")]).reshape(pool.pooled.shape)
        out = U.max_unpool(values, pool.switches, pool.input_shape)
        payload.update(pooled=pool.pooled.tolist(), switches=pool.switches.tolist(), unpooled_values=values.tolist())
    payload["output"] = np.asarray(out).tolist()
    text = "\n".join(" ".join(f"{v:6.2f}" for v in row) for row in np.asarray(out))
    return payload, text


def cmd_transpose_conv(args: argparse.Namespace) -> tuple[Any, str]:
    from core.fcn.upsampling import transpose_conv_1d

    res = transpose_conv_1d(args.kernel.split(","), args.input.split(","), args.stride)
    text = (f"C = {res['matrix']}\nC @ padded input = {res['product']}\nC^T = {res['transpose']}\n"
            f"C^T @ {res['transpose_input']} = {res['transpose_product']}")
    return res, text


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upsample", help="the slide's upsampling computations on its 4x4 matrices")
    p.add_argument("--method", choices=["nearest", "bilinear", "bicubic", "zeros-kernel", "unpool"], default="bilinear")
    p.add_argument("--factor", type=int, default=2)
    p.add_argument("--backend", choices=["opencv", "keras"], default="opencv")
    p.add_argument("--values", default="1,2,3,4", help="unpool: the 2x2 values to put back (row-major)")
    add_common(p)
    p.set_defaults(func=cmd_upsample)

    p = sub.add_parser("transpose-conv", help="1-D convolution as a matrix and its transpose (symbolic or numeric)")
    p.add_argument("--kernel", default="x,y,z")
    p.add_argument("--input", default="a,b,c")
    p.add_argument("--stride", type=int, choices=[1, 2], default=1)
    add_common(p)
    p.set_defaults(func=cmd_transpose_conv)
