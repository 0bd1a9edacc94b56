#!/usr/bin/python3
"""PyTorch reference of VideoPose3D's temporal model, and its end-to-end CPU benchmark.

Written from the published description of VideoPose3D's model (common/model.py; not copied from
VideoPose3D): the same module names, registration order, shapes and forward passes, so that its
state_dict is key-for-key what VideoPose3D's run.py saves under 'model_pos'.

  TemporalModel                 dilated convolutions, whole sequences: (B, T, J_in, F) ->
                                (B, T - RF + 1, J_out, 3); used for evaluation and inference.
  TemporalModelOptimized1f      strided convolutions, training on RF-frame windows: (B, RF, J_in,
                                F) -> (B, 1, J_out, 3); same weights.

Used as a module by the checkpoint converter's tests (tests/trainer/) and as a program by
benchmarks/run_e2e; it runs under Debian's torch 1.13 and under the newest torch from PyPI
(benchmarks/reference/make-venv):

  videopose3d_ref.py [--mode eager|compile|onnxruntime] [--arch 3,3,3] [--channels 1024]
                     [--batch 1024] [--train-iters 5] [--infer-lengths 1000,2500,5000]
                     [--infer-iters 2] [--threads N] [--device cpu|cuda] [--math fp32|tf32|bf16]
                     [--skip-train] [--skip-infer] [--json FILE]

It measures training samples/s (forward + MPJPE + backward + Adam(amsgrad) step, train mode,
dropout 0.25) and whole-sequence inference frames/s (eval mode, no_grad, edge-padded so the output
has one pose per input frame), with torch.set_num_threads(--threads, default os.cpu_count()), and
prints JSON. Every figure is the median of the timed steps (passes), which follow warm-up steps
(passes) that are not timed. --mode picks what runs the model:

  eager        plain PyTorch (training and inference); one warm-up step (pass).
  compile      torch.compile (torch >= 2.0, default settings; training and inference). Training
               compiles the model (forward and backward graphs; Adam runs eagerly); inference
               compiles it with dynamic=False, so every sequence length gets its own static graph.
               Two warm-up steps (passes, each over every length) compile everything before
               timing: compilation is excluded from the figures and reported as compile_s (the
               first warm-up step or pass less the median timed one).
  onnxruntime  inference only: TemporalModel exported to ONNX (torch.onnx.export, dynamic time
               axis; the dynamo exporter when onnxscript is installed, else the TorchScript one)
               and run by an onnxruntime InferenceSession on the CPU provider with
               intra_op_num_threads = --threads; one warm-up pass. Export and session creation are
               excluded from the figures (export_s, session_s).

--math (CUDA) picks the arithmetic as PyTorch users pick it: fp32 (TF32 off: FMA, as ours in fp32),
tf32 (torch.backends.{cudnn,cuda.matmul}.allow_tf32), or bf16 (torch.autocast with bfloat16
around the model's forward, fp32 weights and optimizer: PyTorch's mixed precision).

compile and onnxruntime check the warm-up outputs of every length against the eager model's (max
error relative to the largest output below 1e-3). A mode this interpreter cannot run (compile on
torch 1.x, onnxruntime without the package, onnxruntime for training) ends with one line on
stderr and exit status 2.
"""

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import sys
import tempfile
import time
import warnings

import torch
import torch.nn as nn


class TemporalModelBase(nn.Module):
    """Registration order decides the state_dict order: expand_bn, shrink, then the subclass's
    expand_conv, layers_conv, layers_bn (videopose3d.md 1.3)."""

    def __init__(self, num_joints_in, in_features, num_joints_out, filter_widths, causal, dropout,
                 channels):
        super().__init__()
        for w in filter_widths:
            if w % 2 == 0:
                raise ValueError(f"filter widths must be odd, got {filter_widths}")
        self.num_joints_in = num_joints_in
        self.in_features = in_features
        self.num_joints_out = num_joints_out
        self.filter_widths = list(filter_widths)
        self.causal = causal
        self.drop = nn.Dropout(dropout)
        self.relu = nn.ReLU(inplace=True)
        self.pad = [filter_widths[0] // 2]  # a plain list, not a buffer
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        self.shrink = nn.Conv1d(channels, num_joints_out * 3, 1)

    def set_bn_momentum(self, momentum):
        self.expand_bn.momentum = momentum
        for bn in self.layers_bn:
            bn.momentum = momentum

    def receptive_field(self):
        return 1 + 2 * sum(self.pad)

    def forward(self, x):
        # x: (B, T, J_in, F) -> channels j*F + f -> (B, C_in, T)
        assert x.dim() == 4 and x.shape[-2] == self.num_joints_in and x.shape[-1] == self.in_features
        b, t = x.shape[0], x.shape[1]
        x = x.reshape(b, t, -1).permute(0, 2, 1)
        x = self._forward_blocks(x)
        # (B, J_out*3, T') -> (B, T', J_out, 3), channel j*3 + c
        return x.permute(0, 2, 1).reshape(b, -1, self.num_joints_out, 3)


class TemporalModel(TemporalModelBase):
    """Dilated form: block i's conv has dilation prod(filter_widths[:i]); valid convolutions."""

    def __init__(self, num_joints_in, in_features, num_joints_out, filter_widths, causal=False,
                 dropout=0.25, channels=1024):
        super().__init__(num_joints_in, in_features, num_joints_out, filter_widths, causal, dropout,
                         channels)
        self.expand_conv = nn.Conv1d(num_joints_in * in_features, channels, filter_widths[0],
                                     bias=False)
        convs, bns = [], []
        self.causal_shift = [filter_widths[0] // 2 if causal else 0]
        dilation = filter_widths[0]
        for w in filter_widths[1:]:
            self.pad.append((w - 1) * dilation // 2)
            self.causal_shift.append(w // 2 * dilation if causal else 0)
            convs += [nn.Conv1d(channels, channels, w, dilation=dilation, bias=False),
                      nn.Conv1d(channels, channels, 1, bias=False)]
            bns += [nn.BatchNorm1d(channels, momentum=0.1), nn.BatchNorm1d(channels, momentum=0.1)]
            dilation *= w
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(bns)

    def _forward_blocks(self, x):
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i in range(len(self.pad) - 1):
            p, s = self.pad[i + 1], self.causal_shift[i + 1]
            res = x[:, :, p + s: x.shape[2] - p + s]
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = res + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x))))
        return self.shrink(x)


class TemporalModelOptimized1f(TemporalModelBase):
    """Strided form for training on RF-frame windows: every conv of width W has stride W, the
    residual is the centre (causal: last) element of each group of W frames."""

    def __init__(self, num_joints_in, in_features, num_joints_out, filter_widths, causal=False,
                 dropout=0.25, channels=1024):
        super().__init__(num_joints_in, in_features, num_joints_out, filter_widths, causal, dropout,
                         channels)
        self.expand_conv = nn.Conv1d(num_joints_in * in_features, channels, filter_widths[0],
                                     stride=filter_widths[0], bias=False)
        convs, bns = [], []
        self.causal_shift = [filter_widths[0] // 2 if causal else 0]
        dilation = filter_widths[0]
        for w in filter_widths[1:]:
            self.pad.append((w - 1) * dilation // 2)
            self.causal_shift.append(w // 2 if causal else 0)
            convs += [nn.Conv1d(channels, channels, w, stride=w, bias=False),
                      nn.Conv1d(channels, channels, 1, bias=False)]
            bns += [nn.BatchNorm1d(channels, momentum=0.1), nn.BatchNorm1d(channels, momentum=0.1)]
            dilation *= w
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(bns)

    def _forward_blocks(self, x):
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i in range(len(self.pad) - 1):
            w = self.filter_widths[i + 1]
            res = x[:, :, self.causal_shift[i + 1] + w // 2::w]
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = res + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x))))
        return self.shrink(x)


def mpjpe(predicted, target):
    """Mean per-joint position error: mean over every (batch, frame, joint) of the L2 norm."""
    assert predicted.shape == target.shape
    return torch.mean(torch.norm(predicted - target, dim=-1))


def edge_pad(x, before, after):
    """(T, J, F) -> (before + T + after, J, F), replicating the first and last frames."""
    parts = [x[:1].expand(before, *x.shape[1:]), x, x[-1:].expand(after, *x.shape[1:])]
    return torch.cat(parts, dim=0)


# ---------------------------------------------------------------------------------------------
# Benchmark

def conv_layers(widths, channels, joints_in, features, joints_out):
    """(C_in, C_out, K) of every convolution, expand first, shrink last."""
    layers = [(joints_in * features, channels, widths[0])]
    for w in widths[1:]:
        layers += [(channels, channels, w), (channels, channels, 1)]
    layers.append((channels, joints_out * 3, 1))
    return layers


def flops_per_frame(widths, channels, joints_in, features, joints_out):
    """Dilated whole-sequence form, amortised: 2 * MACs of one output position of every conv."""
    return sum(2 * ci * co * k for ci, co, k in conv_layers(widths, channels, joints_in, features,
                                                            joints_out))


def flops_per_training_sample(widths, channels, joints_in, features, joints_out):
    """Strided form on one RF window: forward, backward-weight and backward-data (not for the
    first layer, whose input needs no gradient) of every conv."""
    rows, total = 1, 0
    for w in widths:
        rows *= w
    for idx, (ci, co, k) in enumerate(conv_layers(widths, channels, joints_in, features,
                                                  joints_out)):
        rows //= k
        total += 2 * rows * ci * co * k * (2 if idx == 0 else 3)
    return total


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


MODES = ("eager", "compile", "onnxruntime")


class Unavailable(Exception):
    """The requested mode cannot run with this interpreter (main exits with status 2)."""


def onnxruntime_version():
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


def check_mode(mode, training, device="cpu"):
    if mode == "compile" and not hasattr(torch, "compile"):
        raise Unavailable(f"mode compile needs torch.compile (torch >= 2.0); {sys.executable} has "
                          f"torch {torch.__version__}")
    if mode == "onnxruntime":
        if training:
            raise Unavailable("mode onnxruntime measures inference only (add --skip-train)")
        if device != "cpu":
            raise Unavailable("mode onnxruntime runs on the CPU provider only (--device cpu)")
        if onnxruntime_version() is None:
            raise Unavailable(f"mode onnxruntime needs the onnxruntime package, which "
                              f"{sys.executable} cannot import (benchmarks/reference/make-venv)")


def allow_recompiles(count):
    """Dynamo's limit of graphs per code object (8 by default; renamed across versions) must admit
    one static graph per sequence length."""
    import torch._dynamo.config as config
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), count))


def median(values):
    return sorted(values)[len(values) // 2]


def with_math(run, math, device):
    """run under torch.autocast(bfloat16) when math is bf16 (fp32 and tf32 need no wrapper)."""
    if math != "bf16":
        return run
    device_type = "cuda" if str(device).startswith("cuda") else "cpu"

    def wrapped(x):
        with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
            return run(x).float()
    return wrapped


def bench_training(widths, channels, batch, iters, joints=17, dropout=0.25, seed=1, mode="eager",
                   device="cpu", math="fp32"):
    check_mode(mode, training=True, device=device)
    torch.manual_seed(seed)
    model = TemporalModelOptimized1f(joints, 2, joints, widths, dropout=dropout, channels=channels)
    model.to(device)
    model.train()
    run = with_math(torch.compile(model) if mode == "compile" else model, math, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    rf = model.receptive_field()
    x = (torch.randn(batch, rf, joints, 2) * 0.3).to(device)
    y = (torch.randn(batch, 1, joints, 3) * 0.2).to(device)

    # On a GPU each phase ends with a synchronisation, so that its time is its kernels' (the same
    # in bench_e2e); the step's total is the same either way up to the two waits.
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)

    def step(times):
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = mpjpe(run(x), y)
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        optimizer.step()
        value = loss.item()
        t3 = time.perf_counter()
        times.append((t3 - t0, t1 - t0, t2 - t1, t3 - t2))
        return value

    # Warm-up, not timed: allocates Adam's state; with compile, the first step compiles the
    # forward and backward graphs and the second shows that nothing recompiles.
    warmup = 2 if mode == "compile" else 1
    warm_times = []
    first = step(warm_times)
    if not (first == first and abs(first) < 1e6):
        raise RuntimeError(f"training warm-up loss is not finite: {first}")
    for _ in range(warmup - 1):
        step(warm_times)
    times = []
    for _ in range(iters):
        last = step(times)

    def med(i):
        return median([t[i] for t in times])

    out = {"mode": mode, "batch": batch, "iters": iters, "warmup_steps": warmup,
           "warmup_s": sum(t[0] for t in warm_times), "median_step_s": med(0),
           "median_forward_s": med(1), "median_backward_s": med(2),
           "median_optimizer_s": med(3), "samples_per_s": batch / med(0),
           "warmup_loss": first, "last_loss": last}
    if mode == "compile":
        out["compile_s"] = warm_times[0][0] - med(0)
        out["timing"] = "compilation happens in the warm-up steps and is excluded"
    return out


def export_onnx(model, rf, joints, path):
    """TemporalModel (eval) -> ONNX with a dynamic time axis; returns the exporter's name. The
    exporters' progress lines and tracer warnings go to stderr: stdout carries the JSON."""
    example = torch.randn(1, rf + 100, joints, 2)
    names = {"input_names": ["poses_2d"], "output_names": ["poses_3d"]}
    dynamo = importlib.util.find_spec("onnxscript") is not None  # the dynamo exporter needs it
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            frames = torch.export.Dim("frames", min=rf)
            torch.onnx.export(model, (example,), path, dynamo=True, external_data=False,
                              verbose=False, dynamic_shapes={"x": {1: frames}}, **names)
            return "dynamo"
        legacy = {}
        if "dynamo" in torch.onnx.export.__code__.co_varnames:
            legacy["dynamo"] = False  # torch >= 2.5 defaults to the dynamo exporter
        torch.onnx.export(model, (example,), path, opset_version=17,
                          dynamic_axes={"poses_2d": {1: "frames"}, "poses_3d": {1: "out_frames"}},
                          **names, **legacy)
        return "torchscript"


def bench_inference(widths, channels, lengths, iters, joints=17, seed=2, mode="eager",
                    threads=None, device="cpu", math="fp32"):
    check_mode(mode, training=False, device=device)
    torch.manual_seed(seed)
    model = TemporalModel(joints, 2, joints, widths, channels=channels)
    model.eval()
    model.to(device)
    pad = (model.receptive_field() - 1) // 2
    seqs = [(torch.randn(n, joints, 2) * 0.3).to(device) for n in lengths]
    frames = sum(lengths)
    info = {}

    if mode == "onnxruntime":
        import onnxruntime as ort
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "temporal_model.onnx")
            t0 = time.perf_counter()
            with torch.no_grad():
                info["onnx_exporter"] = export_onnx(model, model.receptive_field(), joints, path)
            t1 = time.perf_counter()
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads or torch.get_num_threads()
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            info.update(export_s=t1 - t0, session_s=time.perf_counter() - t1,
                        intra_op_num_threads=opts.intra_op_num_threads)
        input_name = session.get_inputs()[0].name

        def predict(x):
            # The prediction is already a numpy array outside the runtime.
            return session.run(None, {input_name: x.numpy()})[0]
    else:
        if mode == "compile":
            allow_recompiles(len(lengths) + 2)
            run = with_math(torch.compile(model, dynamic=False), math, device)
            info["compile"] = "dynamic=False: one static graph per sequence length"
        else:
            run = with_math(model, math, device)

        def predict(x):
            # The prediction leaves the framework (and the device), as ours does.
            return run(x).cpu().numpy().copy()

    def run_all(outputs=None):
        with torch.no_grad():
            for s in seqs:
                out = predict(edge_pad(s, pad, pad).unsqueeze(0))
                assert out.shape == (1, s.shape[0], joints, 3)
                if outputs is not None:
                    outputs.append(out)

    # Warm-up, not timed; with compile it compiles every length (the first pass) and shows that
    # nothing recompiles (the second).
    warmup = 2 if mode == "compile" else 1
    warm_times, outputs = [], []
    for i in range(warmup):
        t0 = time.perf_counter()
        run_all(outputs if i == 0 else None)
        warm_times.append(time.perf_counter() - t0)
    if mode != "eager":
        # The same inputs through the eager model: the export or compilation must not change the
        # predictions.
        worst = 0.0
        eager = with_math(model, math, device)
        with torch.no_grad():
            for s, out in zip(seqs, outputs):
                ref = eager(edge_pad(s, pad, pad).unsqueeze(0)).cpu()
                err = (torch.from_numpy(out) - ref).abs().max() / ref.abs().max().clamp_min(1e-12)
                worst = max(worst, float(err))
        bound = 1e-3 if math == "fp32" else 3e-2  # reduced precision: fused kernels round apart
        if not worst < bound:
            raise RuntimeError(f"mode {mode}: output differs from eager by {worst:.3g} (relative)")
        info["max_rel_err_vs_eager"] = worst
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        run_all()
        times.append(time.perf_counter() - t0)
    med = median(times)
    out = {"mode": mode, "lengths": list(lengths), "frames": frames, "iters": iters,
           "warmup_passes": warmup, "warmup_s": sum(warm_times), "median_pass_s": med,
           "frames_per_s": frames / med}
    out.update(info)
    if mode == "compile":
        out["compile_s"] = warm_times[0] - med
        out["timing"] = "compilation happens in the warm-up passes and is excluded"
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=MODES, default="eager",
                   help="eager PyTorch, torch.compile, or onnxruntime (inference only)")
    p.add_argument("--arch", default="3,3,3", help="filter widths (3,3,3 = 27 frames)")
    p.add_argument("--channels", type=int, default=1024)
    p.add_argument("--batch", type=int, default=1024, help="training windows per batch")
    p.add_argument("--train-iters", type=int, default=5, help="timed training steps")
    p.add_argument("--infer-lengths", default="1000,2500,5000", help="sequence lengths (frames)")
    p.add_argument("--infer-iters", type=int, default=2, help="timed passes over the sequences")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--device", default="cpu",
                   help="cpu or cuda[:N]; on CUDA, TF32 is off unless --math tf32")
    p.add_argument("--math", choices=("fp32", "tf32", "bf16"), default="fp32",
                   help="CUDA arithmetic: fp32 (TF32 off), tf32, or bf16 autocast")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-infer", action="store_true")
    p.add_argument("--json", help="also write the JSON to this file")
    a = p.parse_args()
    widths = [int(w) for w in a.arch.split(",")]
    lengths = [int(n) for n in a.infer_lengths.split(",")]
    try:
        check_mode(a.mode, training=not a.skip_train, device=a.device)
        if not a.skip_infer:
            check_mode(a.mode, training=False, device=a.device)
        if a.device != "cpu" and not torch.cuda.is_available():
            raise Unavailable(f"--device {a.device}: torch {torch.__version__} sees no CUDA device")
    except Unavailable as e:
        print(f"videopose3d_ref: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    if a.device != "cpu":
        torch.backends.cudnn.allow_tf32 = a.math == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = a.math == "tf32"

    out = {"framework": "pytorch", "mode": a.mode, "torch_version": torch.__version__,
           "onnxruntime_version": onnxruntime_version(), "python": sys.executable,
           "python_version": sys.version.split()[0], "threads": torch.get_num_threads(),
           "arch": a.arch, "channels": a.channels, "device": a.device, "math": a.math,
           "flops_per_training_sample": flops_per_training_sample(widths, a.channels, 17, 2, 17),
           "flops_per_frame": flops_per_frame(widths, a.channels, 17, 2, 17)}
    if not a.skip_train:
        out["train"] = bench_training(widths, a.channels, a.batch, a.train_iters, mode=a.mode,
                                      device=a.device, math=a.math)
        out["train"]["peak_rss_mb"] = peak_rss_mb()
    if not a.skip_infer:
        out["infer"] = bench_inference(widths, a.channels, lengths, a.infer_iters, mode=a.mode,
                                       threads=a.threads, device=a.device, math=a.math)
        out["infer"]["peak_rss_mb"] = peak_rss_mb()
    out["peak_rss_mb"] = peak_rss_mb()
    text = json.dumps(out, indent=2)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
