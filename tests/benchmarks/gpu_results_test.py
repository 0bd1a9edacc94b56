#!/usr/bin/python3
"""benchmarks/gpu_results.py on the files of the first H200 run of scripts/gpu-check (2026-12-04,
tests/benchmarks/gpu-check-h200/, ctest_gpu.xml cut to its header): every table and figure it
writes, and a folder of a run whose steps did not run."""
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_results.py"
FIXTURE = ROOT / "tests" / "benchmarks" / "gpu-check-h200"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def run(folder):
    r = subprocess.run([sys.executable, str(SCRIPT), str(folder)], capture_output=True, text=True)
    check(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")
    return r.stdout


out = run(FIXTURE)
lines = out.splitlines()
check(lines[0] == "### 2026-12-04: NVIDIA H200 (scripts/gpu-check)", f"title: {lines[0]}")
check("gpu-labelled tests: 215, failed 0, skipped 3." in out, "ctest counts")
check(sum(1 for l in lines if l.startswith("| `")) == 20, "one row per step")
layer_rows = [l for l in lines if l.startswith("| train ") or l.startswith("| infer ")]
check(len(layer_rows) == 48, f"24 layer rows in fp32 and tf32, got {len(layer_rows)}")
check("| infer conv d3 | fwd | 9992 x 1024 x 3072 | 4.634 | 1.581 | 1.703 | 0.34 | 0.37 | 20.3% |"
      in out, "an fp32 row")
check("**tf32 (tensor cores everywhere)**, peak 535.3 TFLOP/s:" in out, "the TF32 peak")
check("Summed over the 24 rows: ours 33.7 ms, cuBLASLt 12.2 ms, cuDNN 45.2 ms (ours 0.36x cuBLASLt, "
      "1.34x cuDNN)." in out, "the fp32 sums")
check("| 27 frames | fp32 | auto | 272,915 | eager | 50,460 | 5.41 | 1,366,572 | 1,268,950 | 1.08 |"
      in out, "the auto row")
check("| 243 frames | fp32 | v3d | 13,128 | eager | 17,244 | 0.76 | 327,946 | 651,936 | 0.50 |" in out,
      "the 243-frame row")
check("| 27 frames | bf16 | v3d | 387,578 | eager (autocast) | 131,559 | 2.95 |  |  |  |" in out,
      "a training-only row")
check("ours `v3d` 3.1 / 5.2 / 0.1, ours `auto` 1.3 / 2.3 / 0.1, PyTorch eager 2.8 / 16.6 / 0.9." in out,
      "the phases")

# A TF32 run that timed the tiles of our kernels (bench_tcn_gpu's "tiles"): the fixture's first
# two TF32 rows given made-up tile timings, the first with a Hopper tile (the fastest there).
with tempfile.TemporaryDirectory() as tiled:
    for f in FIXTURE.iterdir():
        shutil.copy(f, tiled)
    bench = json.loads((FIXTURE / "bench_tcn_gpu_tf32.json").read_text())
    r0, r1 = bench["results"][0], bench["results"][1]
    r0["tiles"] = {"narrow": {"ms": 0.2, "default": True}, "wide": {"ms": 0.1, "default": False},
                   "hopper": {"ms": 0.05, "valid": True, "default": False}}
    r1["tiles"] = {"narrow": {"ms": 0.3, "default": False}, "wide": {"ms": 0.4, "default": True}}
    (pathlib.Path(tiled) / "bench_tcn_gpu_tf32.json").write_text(json.dumps(bench))
    out = run(tiled)
    want0 = (f"| {r0['layer']} | {r0['pass']} | 0.200* | 0.100 | 0.050 | 2.00 | "
             f"{r0['cublaslt_ms'] / 0.05:.2f} | {r0['cudnn_ms'] / 0.05:.2f} |")
    check(want0 in out, f"a tile row: {want0}")
    check(f"| {r1['layer']} | {r1['pass']} | 0.300 | 0.400* |  | 0.75 |" in out,
          "the wide default, no Hopper tile")
    best = 0.05 + 0.3
    cudnn = r0["cudnn_ms"] + r1["cudnn_ms"]
    slower = (0.05 > r0["cudnn_ms"]) + (0.3 > r1["cudnn_ms"])
    want = (f"Summed: narrow 0.50 ms, wide 0.50 ms, the fastest tile per row {best:.2f} ms "
            f"({cudnn / best:.2f}x cuDNN's {cudnn:.2f} ms); rows where even the fastest tile is "
            f"slower than cuDNN: {slower} of 2.")
    check(want in out, f"the tile sums: {want}")
    want = ("The Hopper tile ran 1 of these rows: valid (within the benchmark's tolerance of "
            "cuDNN) in 1, faster than the faster mma.sync tile in 1; summed 0.05 ms against "
            "0.10 ms (2.00x).")
    check(want in out, f"the Hopper verdict: {want}")
check("narrow ms" not in run(FIXTURE), "no tile table without tile timings")

with tempfile.TemporaryDirectory() as empty:
    out = run(empty)
    check("### undated: GPU (scripts/gpu-check)" in out, "an empty run's title")
    check("steps.tsv is missing" in out, "missing steps")
    check("bench_tcn_gpu.json is missing" in out, "missing benchmark")
    check("no pair of e2e_*.json files" in out, "missing e2e")

for f in failures:
    print("FAIL:", f)
print("gpu_results_test:", "ok" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
