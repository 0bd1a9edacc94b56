#!/usr/bin/python3
"""PyTorch side of the checkpoint converter's tests (scripts/convert_checkpoint.py).

  torch_interop.py roundtrip
      Python-only: VideoPose3D-shaped checkpoints (27 and 243 frames, with and without
      num_batches_tracked, a trajectory model) -> to-h5 -> to-bin -> torch.load: every tensor
      torch.equal, same key order; the h5 file is what docs/checkpoints.md specifies; bad inputs
      fail with one line naming the file and the key, leave no file behind.
  torch_interop.py make-bin OUT.bin X.f32 Y.f32 --arch 3,3,3 --channels 64 --frames 40 [--causal]
      A torch-saved checkpoint of a randomly initialised reference TemporalModel (BN statistics
      and affine parameters randomised too), a random input x (2, frames, 17, 2) and the model's
      eval-mode output y (2, frames - RF + 1, 17, 3), both raw float32 for the C++ test.
  torch_interop.py check-bin IN.bin X.f32 Y.f32 --frames 40 [--causal]
      Loads IN.bin['model_pos'] into the reference model with load_state_dict(strict=True) (the
      architecture from the weights) and checks that its output on x equals y (1e-4 relative).

The reference model is benchmarks/reference/videopose3d_ref.py.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from collections import OrderedDict

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "reference"))
import videopose3d_ref as ref  # noqa: E402

CONVERTER = os.path.join(ROOT, "scripts", "convert_checkpoint.py")
JOINTS = 17


def convert(*args, expect_ok=True):
    r = subprocess.run([sys.executable, CONVERTER, *args], capture_output=True, text=True)
    if expect_ok and r.returncode != 0:
        raise AssertionError(f"convert_checkpoint.py {' '.join(args)} failed: {r.stderr}")
    return r


def randomize(model, seed):
    """Weights and BN state far from the defaults, so a misplaced tensor changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(int(torch.randint(1, 1000, (1,), generator=g)))
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
            elif "_bn." in name and name.endswith("weight"):
                t.copy_(1 + 0.2 * torch.randn(t.shape, generator=g))
            elif "_bn." in name:
                t.copy_(0.2 * torch.randn(t.shape, generator=g))
            else:
                t.copy_(torch.randn(t.shape, generator=g) / np.sqrt(t[0].numel()))


def model_for(state, causal=False):
    w = state["expand_conv.weight"]
    widths = [w.shape[2]] + [state[f"layers_conv.{i}.weight"].shape[2]
                             for i in range(0, 64, 2) if f"layers_conv.{i}.weight" in state]
    return ref.TemporalModel(w.shape[1] // 2, 2, state["shrink.weight"].shape[0] // 3, widths,
                             causal=causal, channels=w.shape[0])


# ---------------------------------------------------------------------------------------------
# roundtrip

def check(cond, what):
    if not cond:
        raise AssertionError(what)


def roundtrip_one(tmp, name, widths, channels, joints_out=JOINTS, drop_counters=False,
                  model_key="model_pos"):
    model = ref.TemporalModelOptimized1f(JOINTS, 2, joints_out, widths, channels=channels)
    randomize(model, seed=len(name))
    state = model.state_dict()
    if drop_counters:  # PyTorch < 0.4.1 checkpoints have no num_batches_tracked
        state = OrderedDict((k, v) for k, v in state.items()
                            if not k.endswith("num_batches_tracked"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    ckpt = {"epoch": 42, "lr": 0.00123, "random_state": np.random.RandomState(1234),
            "optimizer": opt.state_dict(), model_key: state}
    if model_key == "model_pos":
        ckpt["model_traj"] = None  # what VideoPose3D's supervised training saves
    src = os.path.join(tmp, f"{name}.bin")
    h5 = os.path.join(tmp, f"{name}.h5")
    back = os.path.join(tmp, f"{name}_back.bin")
    torch.save(ckpt, src)
    convert("to-h5", src, h5, "--architecture", ",".join(map(str, widths)),
            "--model-key", model_key)
    convert("to-bin", h5, back)
    loaded = torch.load(back)
    check(set(loaded) == {"epoch", "lr", "model_pos"}, f"{name}: keys {set(loaded)}")
    check(loaded["epoch"] == 42 and abs(loaded["lr"] - 0.00123) < 1e-9,
          f"{name}: epoch/lr {loaded['epoch']} {loaded['lr']}")
    got = loaded["model_pos"]
    check(list(got) == list(state), f"{name}: key order {list(got)} != {list(state)}")
    for k, v in state.items():
        check(got[k].dtype == v.dtype and got[k].shape == v.shape and torch.equal(got[k], v),
              f"{name}: {k} differs ({got[k].dtype} {tuple(got[k].shape)} vs {v.dtype} "
              f"{tuple(v.shape)})")
    # The file is what docs/checkpoints.md specifies.
    import h5py
    with h5py.File(h5, "r") as f:
        check(set(f) == {"model", "metadata"}, f"{name}: root objects {set(f)}")
        a = f.attrs
        check(a["format"] == "v3d-checkpoint" and a["version"] == 1, f"{name}: format/version")
        check(a["architecture"] == ",".join(map(str, widths)), f"{name}: architecture")
        check(a["epoch"].dtype == np.int64 and a["lr"].dtype == np.float32, f"{name}: attr types")
        check(a["dropout_seed"].dtype == np.uint64 and a["generator_state"] == "",
              f"{name}: dropout/generator attributes")
        check("filter_widths: [" + ", ".join(map(str, widths)) + "]" in a["config_yaml"],
              f"{name}: config_yaml {a['config_yaml']!r}")
        check(list(f["model"]) == list(state), f"{name}: /model order")
        for k, ds in f["model"].items():
            want = np.int64 if k.endswith("num_batches_tracked") else np.float32
            check(ds.dtype == want, f"{name}: /model/{k} dtype {ds.dtype}")
    # Strict loading into both reference classes.
    model_for(got).load_state_dict(got, strict=not drop_counters)
    print(f"roundtrip {name}: {len(state)} tensors identical, order kept")


def expect_error(out, args, *needles):
    r = convert(*args, expect_ok=False)
    err = r.stderr.strip()
    check(r.returncode != 0, f"{args}: expected failure, got success")
    check(len(err.splitlines()) == 1, f"{args}: expected one line, got {err!r}")
    for n in needles:
        check(n in err, f"{args}: {n!r} not in {err!r}")
    check(not os.path.exists(out), f"{args}: {out} was written")
    leftovers = [f for f in os.listdir(os.path.dirname(out)) if ".tmp-" in f]
    check(not leftovers, f"{args}: temporary files left: {leftovers}")
    print(f"error as expected: {err}")


def roundtrip(_args):
    with tempfile.TemporaryDirectory() as tmp:
        roundtrip_one(tmp, "arch27", [3, 3, 3], 1024)
        roundtrip_one(tmp, "arch243_c64", [3, 3, 3, 3, 3], 64)
        roundtrip_one(tmp, "arch_3_5_c32_old_torch", [3, 5], 32, drop_counters=True)
        roundtrip_one(tmp, "traj_c32", [3, 3, 3], 32, joints_out=1, model_key="model_traj")

        # Bad inputs: one line naming the file and the key, nothing written.
        good = os.path.join(tmp, "arch27.bin")
        bad_dir = os.path.join(tmp, "bad")
        os.mkdir(bad_dir)
        out = os.path.join(bad_dir, "out.h5")
        out_bin = os.path.join(bad_dir, "out.bin")
        expect_error(out, ["to-h5", os.path.join(tmp, "missing.bin"), out], "missing.bin",
                     "no such file")
        expect_error(out, ["to-h5", good, out, "--architecture", "3,3,3,3,3"], good,
                     "filter widths 3,3,3")
        expect_error(out, ["to-h5", good, out, "--model-key", "model_traj"], good, "model_traj",
                     "NoneType")
        junk = os.path.join(tmp, "junk.bin")
        with open(junk, "wb") as f:
            f.write(b"not a checkpoint")
        expect_error(out, ["to-h5", junk, out], junk, "not a torch checkpoint")
        state = torch.load(good)["model_pos"]
        broken = OrderedDict(state)
        del broken["layers_bn.2.running_var"]
        torch.save({"epoch": 1, "lr": 1e-3, "model_pos": broken}, junk)
        expect_error(out, ["to-h5", junk, out], junk, "layers_bn.2.running_var", "missing")
        broken = OrderedDict(state)
        broken["shrink.bias"] = broken["shrink.bias"].double()
        torch.save({"epoch": 1, "lr": 1e-3, "model_pos": broken}, junk)
        expect_error(out, ["to-h5", junk, out], junk, "model_pos.shrink.bias", "float64")
        expect_error(out_bin, ["to-bin", junk, out_bin], junk,
                     "not an HDF5 file")
        import h5py
        foreign = os.path.join(tmp, "foreign.h5")
        with h5py.File(foreign, "w") as f:
            f.create_dataset("x", data=np.zeros(3))
        expect_error(out_bin, ["to-bin", foreign, out_bin], foreign,
                     "format")
        # An existing output is left untouched by a failed conversion.
        with open(out, "w") as f:
            f.write("keep")
        r = convert("to-h5", junk, out, expect_ok=False)
        check(r.returncode != 0 and open(out).read() == "keep", "existing output overwritten")
        check(convert("--help").stdout.startswith("usage:"), "--help")
    print("roundtrip: all checks passed")
    return 0


# ---------------------------------------------------------------------------------------------
# make-bin / check-bin (the C++ test drives these)

def input_for(frames, seed=5):
    g = torch.Generator().manual_seed(seed)
    return 0.5 * torch.randn(2, frames, JOINTS, 2, generator=g)


def make_bin(a):
    widths = [int(w) for w in a.arch.split(",")]
    model = ref.TemporalModel(JOINTS, 2, JOINTS, widths, causal=a.causal, channels=a.channels)
    randomize(model, seed=11)
    model.eval()
    x = input_for(a.frames)
    with torch.no_grad():
        y = model(x)
    torch.save({"epoch": 7, "lr": 5e-4, "random_state": np.random.RandomState(1234),
                "optimizer": None, "model_pos": model.state_dict(), "model_traj": None}, a.bin)
    x.numpy().astype(np.float32).tofile(a.x)
    y.numpy().astype(np.float32).tofile(a.y)
    print(f"make-bin: {a.bin}, x {tuple(x.shape)}, y {tuple(y.shape)}")
    return 0


def check_bin(a):
    state = torch.load(a.bin)["model_pos"]
    model = model_for(state, causal=a.causal)
    model.load_state_dict(state, strict=True)
    model.eval()
    x = torch.from_numpy(np.fromfile(a.x, dtype=np.float32)).reshape(2, a.frames, JOINTS, 2)
    with torch.no_grad():
        y = model(x).numpy()
    want = np.fromfile(a.y, dtype=np.float32)
    if want.size != y.size:
        print(f"check-bin: {a.y} has {want.size} values, the model gives {y.shape}")
        return 1
    want = want.reshape(y.shape)
    err = np.abs(y - want).max() / max(np.abs(want).max(), 1e-12)
    print(f"check-bin: {a.bin} loads strictly; output {y.shape}, max error {err:.3g} of max |y|")
    return 0 if err <= 1e-4 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("roundtrip")
    for name in ("make-bin", "check-bin"):
        s = sub.add_parser(name)
        s.add_argument("bin")
        s.add_argument("x")
        s.add_argument("y")
        s.add_argument("--arch", default="3,3,3")
        s.add_argument("--channels", type=int, default=64)
        s.add_argument("--frames", type=int, default=40)
        s.add_argument("--causal", action="store_true")
    a = p.parse_args()
    return {"roundtrip": roundtrip, "make-bin": make_bin, "check-bin": check_bin}[a.command](a)


if __name__ == "__main__":
    sys.exit(main())
