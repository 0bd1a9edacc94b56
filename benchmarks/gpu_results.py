#!/usr/bin/python3
"""The GPU sections of benchmarks/RESULTS.md, written from one scripts/gpu-check run.

  gpu_results.py WORK_DIR [--date YYYY-MM-DD]  > section.md

WORK_DIR holds what gpu-check collects (its results.tar.gz, unpacked): machine.txt, steps.tsv,
ctest_gpu.xml, bench_tcn_gpu.json, bench_tcn_gpu_tf32.json, bench_tcn_gpu_bf16.json and the
e2e_*.json files. Missing
files leave their table out (a step that did not run) and say so. Prints Markdown: the machine,
the device check's steps and test counts, our convolutions against cuBLASLt and cuDNN per layer
and pass (fp32 and tf32, with the sums), and end-to-end training and inference against PyTorch.
Ratios are speeds: above 1, ours is faster. gpu-check writes it as results.md next to
summary.txt.
"""
import argparse
import json
import pathlib
import re
import sys

# (label, ours file, PyTorch file, PyTorch's mode and arithmetic in words)
E2E_PAIRS = [
    ("27 frames", "fp32", "e2e_v3d", "e2e_torch", "eager"),
    ("27 frames", "fp32", "e2e_v3d_auto", "e2e_torch", "eager"),
    ("27 frames", "fp32", "e2e_v3d_auto", "e2e_torch_compile", "compile"),
    ("27 frames", "tf32", "e2e_v3d_tf32", "e2e_torch_tf32", "eager"),
    ("27 frames", "bf16", "e2e_v3d_bf16", "e2e_torch_bf16", "eager (autocast)"),
    ("27 frames", "tf32", "e2e_v3d_tf32_hopper", "e2e_torch_tf32", "eager"),
    ("27 frames", "bf16", "e2e_v3d_bf16_hopper", "e2e_torch_bf16", "eager (autocast)"),
    ("243 frames", "fp32", "e2e_v3d_243", "e2e_torch_243", "eager"),
    ("27 frames", "tf32 inference", "e2e_v3d_infer_tf32", "e2e_torch_infer_tf32", "eager"),
    ("27 frames", "bf16 inference", "e2e_v3d_infer_bf16", "e2e_torch_infer_bf16",
     "eager (autocast)"),
]


def load(work, name):
    try:
        return json.loads((work / name).read_text())
    except (OSError, ValueError):
        return None


def pick(d, *keys):
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def fmt_int(v):
    return f"{v:,.0f}" if isinstance(v, (int, float)) else ""


def ratio(a, b):
    return f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else ""


def machine_section(work, date):
    lines = (work / "machine.txt").read_text().splitlines() if (work / "machine.txt").exists() else []
    out = [f"### {date}: {lines[2].split(',')[0] if len(lines) > 2 else 'GPU'} (scripts/gpu-check)", ""]
    if lines:
        out.append("Machine, as gpu-check read it: " + "; ".join(line.strip() for line in lines) + ".")
    else:
        out.append("Machine: machine.txt is missing.")
    out.append("")
    return out


def steps_section(work):
    out = ["| step | status | seconds | last line |", "|---|---|---|---|"]
    path = work / "steps.tsv"
    if not path.exists():
        return ["The device check's steps: steps.tsv is missing.", ""]
    for line in path.read_text().splitlines():
        name, status, seconds, last = (line.split("\t") + ["", "", "", ""])[:4]
        out.append(f"| `{name}` | {status} | {seconds} | {last.strip().replace('|', '/')[:90]} |")
    xml = work / "ctest_gpu.xml"
    if xml.exists():
        head = xml.read_text(errors="replace")[:2000]
        counts = {k: int(v) for k, v in re.findall(r'(tests|failures|skipped|disabled)="(\d+)"', head)}
        if "tests" in counts:
            out += ["", f"gpu-labelled tests: {counts['tests']}, failed {counts.get('failures', 0)}, "
                        f"skipped {counts.get('skipped', 0)}."]
    return out + [""]


def layer_section(work):
    out = []
    for name, label in (("bench_tcn_gpu.json", "fp32 (FMA only everywhere)"),
                        ("bench_tcn_gpu_tf32.json", "tf32 (tensor cores everywhere)"),
                        ("bench_tcn_gpu_bf16.json",
                         "bf16 (ours and cuBLASLt in BF16, cuDNN in TF32 on the same float tensors)")):
        d = load(work, name)
        if d is None:
            out += [f"**{label}**: {name} is missing (the step did not run or failed).", ""]
            continue
        peak = d.get("peak_gflops", d.get("peak_fp32_gflops", 0))
        out += [f"**{label}**, peak {peak / 1e3:.1f} TFLOP/s:", "",
                "| layer | pass | M x N x K | ours ms | cuBLASLt ms | cuDNN ms | ours / cuBLASLt | "
                "ours / cuDNN | ours, % of peak |", "|---|---|---|---|---|---|---|---|---|"]
        sums = [0.0, 0.0, 0.0]
        for r in d["results"]:
            out.append(f"| {r['layer']} | {r['pass']} | {r['m']} x {r['n']} x {r['k']} | "
                       f"{r['ours_ms']:.3f} | {r['cublaslt_ms']:.3f} | {r['cudnn_ms']:.3f} | "
                       f"{r['speedup_vs_cublaslt']:.2f} | {r['speedup_vs_cudnn']:.2f} | "
                       f"{100 * r['fraction_of_peak']:.1f}% |")
            sums[0] += r["ours_ms"]
            sums[1] += r["cublaslt_ms"]
            sums[2] += r["cudnn_ms"]
        out += ["", f"Summed over the {len(d['results'])} rows: ours {sums[0]:.1f} ms, cuBLASLt "
                    f"{sums[1]:.1f} ms, cuDNN {sums[2]:.1f} ms (ours {ratio(sums[1], sums[0])}x "
                    f"cuBLASLt, {ratio(sums[2], sums[0])}x cuDNN).", ""]
        out += tile_table(d["results"])
    return out


def tile_table(results):
    """Our tensor-core kernels in each tile (bench_tcn_gpu's "tiles", TF32 runs since the wide
    tile exists): both timings, which one the launcher picks by default, and the faster one
    against the libraries."""
    rows = [r for r in results if "tiles" in r]
    if not rows:
        return []
    out = ["Our kernels in each tile (narrow 128 x 64, wide 128 x 128 outputs per block, hopper "
           "on wgmma where the device and the shape have it; * the launcher's default for the "
           "shape):", "",
           "| layer | pass | narrow ms | wide ms | hopper ms | wide / narrow | fastest / cuBLASLt | "
           "fastest / cuDNN |", "|---|---|---|---|---|---|---|---|"]
    sums = [0.0, 0.0, 0.0, 0.0]
    for r in rows:
        tiles = r["tiles"]
        narrow, wide = tiles["narrow"], tiles["wide"]
        best = min(t["ms"] for t in tiles.values())
        mark = {k: "*" if t.get("default") else "" for k, t in tiles.items()}
        hopper = f"{tiles['hopper']['ms']:.3f}" if "hopper" in tiles else ""
        out.append(f"| {r['layer']} | {r['pass']} | {narrow['ms']:.3f}{mark['narrow']} | "
                   f"{wide['ms']:.3f}{mark['wide']} | {hopper} | "
                   f"{ratio(narrow['ms'], wide['ms'])} | "
                   f"{ratio(r['cublaslt_ms'], best)} | {ratio(r['cudnn_ms'], best)} |")
        sums[0] += narrow["ms"]
        sums[1] += wide["ms"]
        sums[2] += best
        sums[3] += r["cudnn_ms"]
    slower = sum(1 for r in rows if min(t["ms"] for t in r["tiles"].values()) > r["cudnn_ms"])
    return out + ["", f"Summed: narrow {sums[0]:.2f} ms, wide {sums[1]:.2f} ms, the fastest tile "
                      f"per row {sums[2]:.2f} ms ({ratio(sums[3], sums[2])}x cuDNN's "
                      f"{sums[3]:.2f} ms); rows where even the fastest tile is slower than cuDNN: "
                      f"{slower} of {len(rows)}.", ""] + hopper_verdict(rows)


def hopper_verdict(rows):
    """Whether the Hopper tile may join `auto`'s candidates: its rows, how many matched cuDNN
    within the benchmark's tolerance, and how it compares with the faster mma.sync tile."""
    rows = [r for r in rows if "hopper" in r["tiles"]]
    if not rows:
        return []
    valid = sum(1 for r in rows if r["tiles"]["hopper"].get("valid", False))
    hopper = sum(r["tiles"]["hopper"]["ms"] for r in rows)
    other = sum(min(r["tiles"]["narrow"]["ms"], r["tiles"]["wide"]["ms"]) for r in rows)
    faster = sum(1 for r in rows if r["tiles"]["hopper"]["ms"] <
                 min(r["tiles"]["narrow"]["ms"], r["tiles"]["wide"]["ms"]))
    return [f"The Hopper tile ran {len(rows)} of these rows: valid (within the benchmark's "
            f"tolerance of cuDNN) in {valid}, faster than the faster mma.sync tile in {faster}; "
            f"summed {hopper:.2f} ms against {other:.2f} ms ({ratio(other, hopper)}x).", ""]


def e2e_section(work):
    out = ["| model | arithmetic | ours, backend | ours: train samples/s | PyTorch | "
           "PyTorch: train samples/s | train ratio | ours: infer frames/s | "
           "PyTorch: infer frames/s | infer ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
    rows = 0
    for model, math, ours_name, torch_name, mode in E2E_PAIRS:
        ours, torch = load(work, ours_name + ".json"), load(work, torch_name + ".json")
        if ours is None or torch is None:
            continue
        rows += 1
        a_t, b_t = pick(ours, "train", "samples_per_s"), pick(torch, "train", "samples_per_s")
        a_i, b_i = pick(ours, "infer", "frames_per_s"), pick(torch, "infer", "frames_per_s")
        backend = ours.get("conv_backend", "v3d")
        if ours.get("conv_tile", "default") != "default":
            backend += f" ({ours['conv_tile']} tile)"
        out.append(f"| {model} | {math} | {backend} | {fmt_int(a_t)} | {mode} | {fmt_int(b_t)} | "
                   f"{ratio(a_t, b_t)} | {fmt_int(a_i)} | {fmt_int(b_i)} | {ratio(a_i, b_i)} |")
    if rows == 0:
        return ["End to end: no pair of e2e_*.json files (the steps did not run).", ""]
    phases = []
    for name, who in (("e2e_v3d", "ours `v3d`"), ("e2e_v3d_auto", "ours `auto`"),
                      ("e2e_torch", "PyTorch eager")):
        t = pick(load(work, name + ".json"), "train")
        if t:
            phases.append(f"{who} {1e3 * t['median_forward_s']:.1f} / "
                          f"{1e3 * t['median_backward_s']:.1f} / {1e3 * t['median_optimizer_s']:.1f}")
    if phases:
        out += ["", "Phases of the 27-frame fp32 step (ms, forward / backward / optimizer): "
                    + ", ".join(phases) + "."]
    return out + [""]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("work", type=pathlib.Path)
    p.add_argument("--date", default=None, help="the run's date (default: machine.txt's)")
    a = p.parse_args()
    if not a.work.is_dir():
        print(f"gpu_results.py: {a.work}: not a directory", file=sys.stderr)
        return 2
    date = a.date
    if date is None:
        text = (a.work / "machine.txt").read_text() if (a.work / "machine.txt").exists() else ""
        m = re.search(r"date (\d{4}-\d{2}-\d{2})", text)
        date = m.group(1) if m else "undated"
    out = machine_section(a.work, date)
    out += ["#### The device check", ""] + steps_section(a.work)
    out += ["#### Our convolutions against cuBLASLt and cuDNN (`bench_tcn_gpu`)", ""]
    out += layer_section(a.work)
    out += ["#### End to end against PyTorch (`bench_e2e`, `videopose3d_ref.py`)", ""]
    out += e2e_section(a.work)
    print("\n".join(out).rstrip() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
