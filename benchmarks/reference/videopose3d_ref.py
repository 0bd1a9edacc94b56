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
benchmarks/run_e2e:

  videopose3d_ref.py [--arch 3,3,3] [--channels 1024] [--batch 1024] [--train-iters 5]
                     [--infer-lengths 1000,2500,5000] [--infer-iters 2] [--json FILE]

It measures training samples/s (forward + MPJPE + backward + Adam(amsgrad) step, train mode,
dropout 0.25) and whole-sequence inference frames/s (eval mode, no_grad, edge-padded so the output
has one pose per input frame), with torch.set_num_threads(os.cpu_count()), and prints JSON.
"""

import argparse
import json
import os
import resource
import sys
import time

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


def bench_training(widths, channels, batch, iters, joints=17, dropout=0.25, seed=1):
    torch.manual_seed(seed)
    model = TemporalModelOptimized1f(joints, 2, joints, widths, dropout=dropout, channels=channels)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    rf = model.receptive_field()
    x = torch.randn(batch, rf, joints, 2) * 0.3
    y = torch.randn(batch, 1, joints, 3) * 0.2

    def step(times=None):
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = mpjpe(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        value = loss.item()
        t3 = time.perf_counter()
        if times is not None:
            times.append((t3 - t0, t1 - t0, t2 - t1, t3 - t2))
        return value

    first = step()  # warm-up (also allocates Adam's state)
    if not (first == first and abs(first) < 1e6):
        raise RuntimeError(f"training warm-up loss is not finite: {first}")
    times = []
    for _ in range(iters):
        last = step(times)

    def med(i):
        return sorted(t[i] for t in times)[len(times) // 2]

    return {"batch": batch, "iters": iters, "median_step_s": med(0),
            "median_forward_s": med(1), "median_backward_s": med(2),
            "median_optimizer_s": med(3), "samples_per_s": batch / med(0),
            "warmup_loss": first, "last_loss": last}


def bench_inference(widths, channels, lengths, iters, joints=17, seed=2):
    torch.manual_seed(seed)
    model = TemporalModel(joints, 2, joints, widths, channels=channels)
    model.eval()
    pad = (model.receptive_field() - 1) // 2
    seqs = [torch.randn(n, joints, 2) * 0.3 for n in lengths]
    frames = sum(lengths)

    def run_all():
        with torch.no_grad():
            for s in seqs:
                out = model(edge_pad(s, pad, pad).unsqueeze(0))
                assert out.shape == (1, s.shape[0], joints, 3)
                out.numpy().copy()  # the prediction leaves the framework, as ours does

    run_all()  # warm-up
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        run_all()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    return {"lengths": list(lengths), "frames": frames, "iters": iters, "median_pass_s": median,
            "frames_per_s": frames / median}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="3,3,3", help="filter widths (3,3,3 = 27 frames)")
    p.add_argument("--channels", type=int, default=1024)
    p.add_argument("--batch", type=int, default=1024, help="training windows per batch")
    p.add_argument("--train-iters", type=int, default=5, help="timed training steps")
    p.add_argument("--infer-lengths", default="1000,2500,5000", help="sequence lengths (frames)")
    p.add_argument("--infer-iters", type=int, default=2, help="timed passes over the sequences")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-infer", action="store_true")
    p.add_argument("--json", help="also write the JSON to this file")
    a = p.parse_args()
    widths = [int(w) for w in a.arch.split(",")]
    lengths = [int(n) for n in a.infer_lengths.split(",")]
    torch.set_num_threads(a.threads)

    out = {"framework": "pytorch", "torch_version": torch.__version__,
           "threads": torch.get_num_threads(), "arch": a.arch, "channels": a.channels,
           "flops_per_training_sample": flops_per_training_sample(widths, a.channels, 17, 2, 17),
           "flops_per_frame": flops_per_frame(widths, a.channels, 17, 2, 17)}
    if not a.skip_train:
        out["train"] = bench_training(widths, a.channels, a.batch, a.train_iters)
        out["train"]["peak_rss_mb"] = peak_rss_mb()
    if not a.skip_infer:
        out["infer"] = bench_inference(widths, a.channels, lengths, a.infer_iters)
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
