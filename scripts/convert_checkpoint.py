#!/usr/bin/python3
"""Converts VideoPose3D checkpoints (torch.save'd .bin) to v3d's HDF5 checkpoints and back.

  convert_checkpoint.py to-h5 IN.bin OUT.h5 [--architecture 3,3,3] [--causal] [--dropout 0.25]
                              [--keypoints h36m17|pseudo_coco] [--model-key model_pos]
  convert_checkpoint.py to-bin IN.h5 OUT.bin

to-h5 copies IN['model_pos'] (a state_dict) into /model of a weights-only v3d checkpoint
(docs/checkpoints.md): datasets in state_dict order, float32 tensors, int64 0-d
num_batches_tracked, no /optimizer group; epoch and lr from the checkpoint. The architecture is
read off the weights (filter widths from the conv kernel sizes, channels, joints in and out); what
the weights cannot tell (causal alignment, dropout, the keypoint layout) comes from the flags and
goes into config_yaml, which `v3d eval` and `v3d infer` read.

to-bin writes {'epoch', 'lr', 'model_pos'}, which VideoPose3D's run.py loads with --evaluate (and
torch's load_state_dict(strict=True) accepts). It has no 'optimizer' and no 'random_state', so it
cannot be used with --resume, and no 'model_traj' (run.py --evaluate loads one only when present).

Writes are atomic (a temporary file in the output's directory, renamed into place). Every error is
one line "convert_checkpoint.py: error: <file>: <key>: <what>" and a non-zero exit.
"""

import argparse
import os
import sys

import numpy as np

PROG = "convert_checkpoint.py"
FORMAT = "v3d-checkpoint"
VERSION = 1
KEYPOINT_LAYOUTS = {"h36m17": 17, "pseudo_coco": 17}


class ConvertError(Exception):
    def __init__(self, file, key, what):
        super().__init__(f"{file}: {key}: {what}")


def import_torch():
    try:
        import torch  # noqa: F401 (heavy; only the converter's two directions need it)
    except ImportError as e:
        raise ConvertError(sys.executable, "import torch",
                           f"PyTorch is not installed ({e}); on Debian: apt-get install "
                           "python3-torch") from None
    return torch


def write_atomically(path, write):
    """write(tmp_path) fills a temporary file next to `path`, which is then renamed onto it; on
    any failure the temporary file is removed and an existing `path` is left untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConvertError(path, "/", f"no such directory: {directory}")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# The architecture from the weights (videopose3d.md 1.3)

def infer_architecture(state, src, prefix=""):
    """Filter widths, channels, C_in = J_in * F_in and J_out from the state_dict's shapes; checks
    that the keys are exactly a VideoPose3D TemporalModel's (num_batches_tracked optional)."""
    def shape(key):
        if key not in state:
            raise ConvertError(src, prefix + key, "missing (not a VideoPose3D TemporalModel state_dict)")
        return tuple(state[key].shape)

    w = shape("expand_conv.weight")
    if len(w) != 3:
        raise ConvertError(src, prefix + "expand_conv.weight", f"expected (C, C_in, K), got {w}")
    channels, c_in, k0 = w
    widths = [k0]
    convs = 0
    while f"layers_conv.{convs}.weight" in state:
        convs += 1
    if convs % 2:
        raise ConvertError(src, prefix + f"layers_conv.{convs}.weight",
                           "missing (the block convs come in pairs)")
    for i in range(0, convs, 2):
        s = shape(f"layers_conv.{i}.weight")
        if len(s) != 3 or s[0] != channels or s[1] != channels:
            raise ConvertError(src, prefix + f"layers_conv.{i}.weight",
                               f"expected ({channels}, {channels}, K), got {s}")
        widths.append(s[2])
    s = shape("shrink.weight")
    if len(s) != 3 or s[1] != channels or s[2] != 1 or s[0] % 3:
        raise ConvertError(src, prefix + "shrink.weight", f"expected (3 * J_out, {channels}, 1), got {s}")
    joints_out = s[0] // 3
    for k in widths:
        if k % 2 == 0:
            raise ConvertError(src, prefix + "layers_conv", f"even filter width {k} in {widths}")

    expected = {"expand_conv.weight": (channels, c_in, k0), "shrink.weight": (3 * joints_out,
                                                                              channels, 1),
                "shrink.bias": (3 * joints_out,)}
    bns = ["expand_bn"]
    for b in range(convs // 2):
        expected[f"layers_conv.{2 * b}.weight"] = (channels, channels, widths[b + 1])
        expected[f"layers_conv.{2 * b + 1}.weight"] = (channels, channels, 1)
        bns += [f"layers_bn.{2 * b}", f"layers_bn.{2 * b + 1}"]
    for bn in bns:
        for p in ("weight", "bias", "running_mean", "running_var"):
            expected[f"{bn}.{p}"] = (channels,)
    optional = {f"{bn}.num_batches_tracked": () for bn in bns}
    for key in state:
        want = expected.get(key, optional.get(key))
        if want is None:
            raise ConvertError(src, prefix + key, "unexpected key (not a VideoPose3D TemporalModel's)")
        got = tuple(state[key].shape)
        if got != want and not (key in optional and int(np.prod(got)) == 1):
            raise ConvertError(src, prefix + key, f"expected shape {want}, got {got}")
    for key in expected:
        if key not in state:
            raise ConvertError(src, prefix + key, "missing")
    return {"filter_widths": widths, "channels": channels, "in_channels": c_in,
            "joints_out": joints_out}


def config_yaml(arch, causal, dropout, keypoints):
    """The experiment config `v3d eval` / `v3d infer` read (docs/config.md); keys left out keep
    their defaults."""
    widths = ", ".join(str(w) for w in arch["filter_widths"])
    return (f"# converted from a VideoPose3D checkpoint by scripts/{PROG}\n"
            f"model:\n  filter_widths: [{widths}]\n  channels: {arch['channels']}\n"
            f"  dropout: {dropout!r}\n  causal: {'true' if causal else 'false'}\n"
            f"data:\n  keypoints: {keypoints}\n")


# ---------------------------------------------------------------------------------------------
# to-h5

def to_h5(args):
    torch = import_torch()
    import h5py

    src = args.input
    if not os.path.isfile(src):
        raise ConvertError(src, "/", "no such file")
    try:
        ckpt = torch.load(src, map_location="cpu")
    except Exception as e:  # torch raises many kinds for a foreign or truncated file
        raise ConvertError(src, "/", f"not a torch checkpoint ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(ckpt, dict):
        raise ConvertError(src, "/", f"expected a dict, got {type(ckpt).__name__}")
    key = args.model_key
    if key not in ckpt:
        raise ConvertError(src, key, f"missing (keys: {', '.join(map(str, ckpt))})")
    state = ckpt[key]
    if not hasattr(state, "items"):
        raise ConvertError(src, key, f"expected a state_dict, got {type(state).__name__}")
    state = dict(state.items())  # keeps the order
    for k, v in state.items():
        if not torch.is_tensor(v):
            raise ConvertError(src, f"{key}.{k}", f"expected a tensor, got {type(v).__name__}")
    arch = infer_architecture(state, src, f"{key}.")
    widths = ",".join(str(w) for w in arch["filter_widths"])
    if args.architecture is not None and args.architecture.replace(" ", "") != widths:
        raise ConvertError(src, f"{key}.layers_conv",
                           f"the weights have filter widths {widths}, not --architecture "
                           f"{args.architecture}")
    if arch["in_channels"] % args.features_in:
        raise ConvertError(src, f"{key}.expand_conv.weight",
                           f"{arch['in_channels']} input channels are not a multiple of "
                           f"--features-in {args.features_in}")
    joints_in = arch["in_channels"] // args.features_in
    if not 0 <= args.dropout < 1:
        raise ConvertError(src, "--dropout", f"expected a value in [0, 1), got {args.dropout}")

    arrays = []
    for k, v in state.items():
        v = v.detach().cpu()
        if k.endswith(".num_batches_tracked"):
            if v.dtype.is_floating_point or v.dtype == torch.bool:
                raise ConvertError(src, f"{key}.{k}", f"expected an integer, got {v.dtype}")
            arrays.append((k, np.array(int(v.reshape(-1)[0]), dtype=np.int64)))
        elif v.dtype == torch.float32:
            arrays.append((k, np.ascontiguousarray(v.numpy())))
        elif v.dtype in (torch.float16, torch.bfloat16):  # widening is exact
            arrays.append((k, np.ascontiguousarray(v.float().numpy())))
        else:
            raise ConvertError(src, f"{key}.{k}",
                               f"unsupported dtype {v.dtype} (v3d checkpoints hold float32)")

    epoch = ckpt.get("epoch", 0)
    lr = ckpt.get("lr", 0.0)
    try:
        epoch = int(epoch)
        lr = float(lr)
    except (TypeError, ValueError):
        raise ConvertError(src, "epoch/lr", f"expected numbers, got {epoch!r}, {lr!r}") from None
    notes = []
    if joints_in != 17 or arch["joints_out"] != 17:
        notes.append(f"{joints_in} input and {arch['joints_out']} output joints: v3d eval/infer "
                     "run H36M-17 models only; the weights load with load_checkpoint")

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = np.int32(VERSION)
            f.attrs["architecture"] = widths
            f.attrs["config_yaml"] = config_yaml(arch, args.causal, args.dropout, args.keypoints)
            f.attrs["epoch"] = np.int64(epoch)
            f.attrs["lr"] = np.float32(lr)
            f.attrs["generator_state"] = ""
            f.attrs["dropout_seed"] = np.uint64(0)
            f.attrs["dropout_offset"] = np.uint64(0)
            model = f.create_group("model", track_order=True)
            for k, a in arrays:
                model.create_dataset(k, data=a)
            meta = f.create_group("metadata")
            meta.attrs["converted_by"] = f"scripts/{PROG} to-h5"
            meta.attrs["source"] = os.path.basename(src)
            meta.attrs["source_key"] = key
            meta.attrs["joints_in"] = str(joints_in)
            meta.attrs["joints_out"] = str(arch["joints_out"])

    write_atomically(args.output, write)
    print(f"{PROG}: {src} ['{key}'] -> {args.output}: architecture {widths}, "
          f"{arch['channels']} channels, {joints_in} x {args.features_in} -> "
          f"{arch['joints_out']} joints, {len(arrays)} tensors, epoch {epoch}, lr {lr:g}"
          f"{', causal' if args.causal else ''}")
    for n in notes:
        print(f"{PROG}: note: {n}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------
# to-bin

def to_bin(args):
    torch = import_torch()
    import h5py
    from collections import OrderedDict

    src = args.input
    if not os.path.isfile(src):
        raise ConvertError(src, "/", "no such file")
    try:
        f = h5py.File(src, "r")
    except OSError as e:
        raise ConvertError(src, "/", f"not an HDF5 file ({e})") from None
    with f:
        def attr(name):
            if name not in f.attrs:
                raise ConvertError(src, "/", f"missing attribute '{name}'")
            v = f.attrs[name]
            return v.decode() if isinstance(v, bytes) else v

        if "format" not in f.attrs:
            raise ConvertError(src, "/", "missing attribute 'format' (not a v3d-checkpoint file)")
        if attr("format") != FORMAT:
            raise ConvertError(src, "/ attribute format",
                               f"expected \"{FORMAT}\", got \"{attr('format')}\"")
        if int(attr("version")) != VERSION:
            raise ConvertError(src, "/ attribute version",
                               f"unsupported format version {int(attr('version'))}")
        if "model" not in f or not isinstance(f["model"], h5py.Group):
            raise ConvertError(src, "/model", "missing group")
        state = OrderedDict()
        for k, ds in f["model"].items():  # creation order when tracked, as written
            if not isinstance(ds, h5py.Dataset):
                raise ConvertError(src, f"/model/{k}", "expected a dataset, found a group")
            a = ds[()]
            if ds.dtype == np.float32:
                state[k] = torch.from_numpy(np.array(a, dtype=np.float32, copy=True))
            elif np.issubdtype(ds.dtype, np.integer):
                state[k] = torch.from_numpy(np.array(a, dtype=np.int64, copy=True))
            else:
                raise ConvertError(src, f"/model/{k}",
                                   f"expected float32 or integer values, got {ds.dtype}")
        epoch = int(attr("epoch"))
        lr = float(attr("lr"))
    infer_architecture(state, src, "/model/")  # a VideoPose3D model's keys and shapes, or a clear error

    def write(tmp):
        torch.save({"epoch": epoch, "lr": lr, "model_pos": state}, tmp)

    write_atomically(args.output, write)
    print(f"{PROG}: {src} -> {args.output}: {len(state)} tensors under 'model_pos', "
          f"epoch {epoch}, lr {lr:g} (weights only: loads with run.py --evaluate, not --resume)")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(
        prog=PROG, description="Convert VideoPose3D checkpoints (.bin) to v3d HDF5 checkpoints "
        "(.h5) and back (docs/checkpoints.md).")
    sub = p.add_subparsers(dest="command", required=True, metavar="{to-h5,to-bin}")
    h5 = sub.add_parser("to-h5", help="VideoPose3D .bin -> weights-only v3d .h5",
                        description="Copy a VideoPose3D checkpoint's state_dict into a "
                        "weights-only v3d checkpoint; the architecture is read off the weights.")
    h5.add_argument("input", metavar="IN.bin")
    h5.add_argument("output", metavar="OUT.h5")
    h5.add_argument("--architecture", help="expected filter widths, e.g. 3,3,3 (checked against "
                    "the weights, which determine them)")
    h5.add_argument("--causal", action="store_true",
                    help="the model was trained with --causal (not visible in the weights)")
    h5.add_argument("--dropout", type=float, default=0.25,
                    help="dropout recorded in the config (default 0.25)")
    h5.add_argument("--keypoints", choices=sorted(KEYPOINT_LAYOUTS), default="h36m17",
                    help="2D layout the model reads: h36m17 (default) or pseudo_coco")
    h5.add_argument("--features-in", type=int, default=2,
                    help="features per input joint (2 = x, y; 3 with a confidence)")
    h5.add_argument("--model-key", default="model_pos",
                    help="the checkpoint's state_dict to convert (model_pos or model_traj)")
    b = sub.add_parser("to-bin", help="v3d .h5 -> VideoPose3D .bin (weights only)",
                       description="Write a v3d checkpoint's weights as a VideoPose3D checkpoint "
                       "{'epoch', 'lr', 'model_pos'}.")
    b.add_argument("input", metavar="IN.h5")
    b.add_argument("output", metavar="OUT.bin")
    args = p.parse_args(argv)
    try:
        return to_h5(args) if args.command == "to-h5" else to_bin(args)
    except ConvertError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{PROG}: error: {e.filename or args.output}: /: {e.strerror or e}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
