#!/usr/bin/env python3
"""Static roofline of v3d's CUDA kernels, from their SASS and resource usage (no GPU needed).

For each kernel of the given object files, for one architecture (sm_90a by default: H100/H200):
registers, shared memory, the occupancy they allow, and the kernel's hot loop (the smallest loop
holding nearly all of its math instructions), whose instruction mix bounds how much of the
device's peak the kernel can reach:

  per warp and loop iteration, with all four schedulers of an SM running the loop,
    issue   = instructions (one warp instruction per scheduler and clock)
    math    = FFMA count (FP32: one warp FFMA per scheduler and clock at peak), or
              4 clocks per HMMA (TF32 m16n8k8 and BF16 m16n8k16 both reach the tensor cores'
              peak at one per 4 clocks per scheduler on sm_90: 2048 TF32 / 4096 BF16 flops
              per clock per SM); an HGMMA (wgmma, a warp's quarter of a 64 x N x K
              warpgroup product) takes its flops / 512 (TF32) or / 1024 (BF16) clocks
    shared  = shared-memory bytes the warp loads and stores / 32 (128 bytes per clock per SM,
              shared by four schedulers), wgmma's operand reads from shared memory included
  predicted fraction of peak = math / max(issue, math, shared).

Instructions in the loop's bookkeeping regions (a range a conditional forward branch skips that
holds no math, memory access or barrier: index arithmetic only some iterations redo, such as a
new tap's row addresses, or a division only strides above 1 need) are reported apart ("217
(+320)") and left out of the per-iteration count: the estimate is of the common path.

It is an upper bound from the instruction stream alone: latency, occupancy too low to hide it,
bank conflicts, global memory and the tail are not modelled, and mma.sync is known to reach less
than the tensor cores' peak on sm_90 (wgmma is the instruction that does). The SASS comes from
`cuobjdump -sass` (nvdisasm behind it) and `--dump-resource-usage`; block sizes from the PTX's
`.maxntid` (kernels without __launch_bounds__ report no occupancy).

  python3 benchmarks/roofline.py [--arch sm_90a] [--markdown] OBJECT...
The tools come from PATH or CUOBJDUMP; benchmarks/run_roofline installs them (PyPI) and runs this.
"""

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

# sm_90 per-SM limits (CUDA occupancy rules).
REGS_PER_SM = 65536
REG_ALLOC_UNIT = 256  # registers, per warp
MAX_WARPS_PER_SM = 64
MAX_BLOCKS_PER_SM = 32
SMEM_PER_SM = 228 * 1024
SMEM_RESERVED_PER_BLOCK = 1024
SMEM_BYTES_PER_CLOCK = 128

# Flops of one warp instruction.
FFMA_FLOPS = 2 * 32
HMMA_FLOPS = {"1688.F32.TF32": 2 * 16 * 8 * 8, "16816.F32.BF16": 2 * 16 * 8 * 16,
              "16816.F32": 2 * 16 * 8 * 16}

# HGMMA.64x128x8.F32.TF32: one warp's quarter of a wgmma.
HGMMA_SHAPE = re.compile(r"^HGMMA\.(\d+)x(\d+)x(\d+)\.")

INSTR = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Za-z0-9_.]*)\s*([^;]*);")
FUNCTION = re.compile(r"^\s*Function : (\S+)")
RESOURCE_FUNCTION = re.compile(r"^\s*Function (\S+):")
RESOURCE = re.compile(r"REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)")


@dataclass
class Instruction:
    address: int
    opcode: str  # with modifiers, e.g. LDS.128
    operands: str
    predicated: bool = False  # under a guard predicate (@P0, @!UP1, ...)


@dataclass
class Kernel:
    name: str
    instructions: list = field(default_factory=list)
    registers: int = 0
    shared_bytes: int = 0
    local_bytes: int = 0
    threads: int = 0  # from .maxntid; 0 when unknown


def parse_sass(text):
    """Kernels of a `cuobjdump -sass` listing, in order, with their instructions."""
    kernels = []
    for line in text.splitlines():
        m = FUNCTION.match(line)
        if m:
            kernels.append(Kernel(m.group(1)))
            continue
        m = INSTR.search(line)
        if m and kernels:
            kernels[-1].instructions.append(
                Instruction(int(m.group(1), 16), m.group(3), m.group(4).strip(),
                            m.group(2) is not None))
    return kernels


def parse_resource_usage(text):
    """{kernel: (registers, shared bytes, local bytes)} from `cuobjdump --dump-resource-usage`.
    Local bytes are the stack frame (where ptxas spills registers) plus local variables."""
    out, name = {}, None
    for line in text.splitlines():
        m = RESOURCE_FUNCTION.match(line)
        if m:
            name = m.group(1)
            continue
        m = RESOURCE.search(line)
        if m and name:
            out[name] = (int(m.group(1)), int(m.group(3)), int(m.group(2)) + int(m.group(4)))
            name = None
    return out


def parse_maxntid(ptx):
    """{kernel: threads per block} for the PTX entries that declare .maxntid."""
    out, name = {}, None
    for line in ptx.splitlines():
        m = re.match(r"\s*(?:\.visible\s+)?\.entry\s+([^\s(]+)\(", line)
        if m:
            name = m.group(1)
            continue
        m = re.match(r"\s*\.maxntid\s+(\d+),\s*(\d+),\s*(\d+)", line)
        if m and name:
            out[name] = int(m.group(1)) * int(m.group(2)) * int(m.group(3))
            name = None
    return out


def branch_target(ins):
    if not ins.opcode.startswith("BRA"):
        return None
    m = re.search(r"0x([0-9a-f]+)", ins.operands)
    return int(m.group(1), 16) if m else None


def loops(kernel):
    """(start, end) address ranges of the backward branches' loops."""
    out = []
    for ins in kernel.instructions:
        target = branch_target(ins)
        if target is not None and target <= ins.address:
            out.append((target, ins.address))
    return out


def shared_bytes_per_thread(ins):
    """Bytes one thread moves through shared memory with this instruction (0 for others)."""
    op = ins.opcode.split(".")
    m = HGMMA_SHAPE.match(ins.opcode)
    if m:
        # wgmma with both operands in shared memory: a warp's quarter reads its 16 rows of A and a
        # quarter of B (N rows), 32 bytes of each (k8 TF32, k16 BF16): (16 + N / 4) * 32 bytes,
        # assuming the warpgroup reads B once.
        return 16 + int(m.group(2)) // 4
    if op[0] not in ("LDS", "STS", "LDSM"):
        return 0
    if op[0] == "LDSM":  # ldmatrix .x1/.x2/.x4: one 4-byte register per thread per matrix
        return 4 * next((int(m) for m in reversed(op[1:]) if m in ("1", "2", "4")), 1)
    width = 32
    for m in op[1:]:
        if m in ("U8", "S8"):
            width = 8
        elif m in ("U16", "S16"):
            width = 16
        elif m.isdigit():
            width = int(m)
    return width // 8


def hgmma_flops(ins):
    m = HGMMA_SHAPE.match(ins.opcode)
    if not m:
        return 0
    return 2 * int(m.group(1)) * int(m.group(2)) * int(m.group(3)) // 4


def tensor_clocks(ins):
    """Clocks of one scheduler's share of the tensor cores an MMA instruction takes at peak."""
    if ins.opcode.startswith("HMMA"):
        return 4
    if ins.opcode.startswith("HGMMA"):
        return hgmma_flops(ins) // (512 if "TF32" in ins.opcode else 1024)
    return 0


def hmma_flops(ins):
    if ins.opcode.startswith("HGMMA"):
        return hgmma_flops(ins)
    if not ins.opcode.startswith("HMMA"):
        return 0
    mods = ins.opcode[len("HMMA."):]
    for key, flops in HMMA_FLOPS.items():
        if mods.startswith(key):
            return flops
    return 0


# Opcodes that do a loop's work or order it: math, memory accesses, barriers.
WORK = {"FFMA", "HMMA", "HGMMA", "LDS", "STS", "LDSM", "LDG", "STG", "LD", "ST", "LDGSTS", "ATOM", "ATOMS",
        "RED", "BAR", "DEPBAR", "LDGDEPBAR", "UBLKCP", "UTMALDG"}


def bookkeeping_regions(kernel, start, end):
    """Address ranges of loop [start, end] that a conditional forward branch skips and that hold
    no work (WORK): index arithmetic some iterations redo (a new tap's row addresses, a division
    only strides above 1 need). Nested ranges are merged."""
    body = [i for i in kernel.instructions if start <= i.address <= end]
    regions = []
    for ins in body:
        target = branch_target(ins)
        if not ins.predicated or target is None or not ins.address < target <= end:
            continue
        skipped = [i for i in body if ins.address < i.address < target]
        if skipped and not any(i.opcode.split(".")[0] in WORK for i in skipped):
            regions.append((skipped[0].address, skipped[-1].address))
    merged = []
    for lo, hi in sorted(regions):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


@dataclass
class LoopMix:
    start: int
    end: int
    instructions: int  # per iteration: the body less its bookkeeping regions
    ffma: int
    hmma: int  # tensor-core instructions: HMMA (mma.sync) and HGMMA (wgmma)
    shared_bytes_per_warp: int
    global_loads: int
    async_copies: int
    barriers: int
    flops_per_warp: int
    bookkeeping: int = 0  # instructions in bookkeeping_regions, not counted per iteration
    tensor_clocks: int = 0  # the tensor-core instructions' clocks at peak


def mix(kernel, start, end):
    regions = bookkeeping_regions(kernel, start, end)
    body = [i for i in kernel.instructions if start <= i.address <= end]
    cold = sum(1 for i in body if any(lo <= i.address <= hi for lo, hi in regions))
    op0 = [i.opcode.split(".")[0] for i in body]
    return LoopMix(
        start, end, len(body) - cold,
        ffma=sum(1 for o in op0 if o == "FFMA"),
        hmma=sum(1 for o in op0 if o in ("HMMA", "HGMMA")),
        shared_bytes_per_warp=32 * sum(shared_bytes_per_thread(i) for i in body),
        global_loads=sum(1 for o in op0 if o in ("LDG", "LD")),
        async_copies=sum(1 for o in op0 if o in ("LDGSTS", "UBLKCP", "UTMALDG")),
        barriers=sum(1 for o in op0 if o == "BAR"),
        flops_per_warp=sum(FFMA_FLOPS if o == "FFMA" else hmma_flops(i)
                           for o, i in zip(op0, body)),
        bookkeeping=cold,
        tensor_clocks=sum(tensor_clocks(i) for i in body))


def hot_loop(kernel):
    """The smallest loop holding at least 90% of the most math any loop holds, or None."""
    mixes = [mix(kernel, s, e) for s, e in loops(kernel)]
    math = [m.ffma + m.hmma for m in mixes]
    if not mixes or max(math) == 0:
        return None
    best = max(math)
    candidates = [m for m, x in zip(mixes, math) if x >= 0.9 * best]
    return min(candidates, key=lambda m: m.instructions)


def predicted_fraction(m):
    """(fraction of the math pipe's peak, what bounds it) for a loop's mix."""
    if m.hmma > 0:
        math_clocks, pipe = m.tensor_clocks, "tensor"
    else:
        math_clocks, pipe = m.ffma, "fp32"
    shared_clocks = m.shared_bytes_per_warp * 4 / SMEM_BYTES_PER_CLOCK
    bound = max((m.instructions, "issue"), (math_clocks, "math"), (shared_clocks, "shared"),
                key=lambda x: x[0])
    return (math_clocks / bound[0] if bound[0] else 0.0), pipe, bound[1]


def occupancy(kernel):
    """(blocks per SM, warps per SM, what limits it) or None when the block size is unknown."""
    if kernel.threads <= 0:
        return None
    warps = -(-kernel.threads // 32)
    regs_per_warp = -(-max(kernel.registers, 1) * 32 // REG_ALLOC_UNIT) * REG_ALLOC_UNIT
    limits = [(MAX_BLOCKS_PER_SM, "blocks"), (MAX_WARPS_PER_SM // warps, "warps"),
              (REGS_PER_SM // (regs_per_warp * warps), "registers")]
    if kernel.shared_bytes > 0:
        limits.append((SMEM_PER_SM // (kernel.shared_bytes + SMEM_RESERVED_PER_BLOCK), "shared"))
    blocks, why = min(limits, key=lambda x: x[0])
    return blocks, blocks * warps, why


def demangled(names):
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True,
                             check=True).stdout.splitlines()
        return dict(zip(names, out)) if len(out) == len(names) else {n: n for n in names}
    except (OSError, subprocess.CalledProcessError):
        return {n: n for n in names}


def short_name(full):
    """`conv_gemm_kernel<GradOutRows, WeightByInput, StoreRowMajor>` from the demangled name."""
    s = re.sub(r"v3d::kernels::cuda::\(anonymous namespace\)::", "", full)
    if s.endswith(")"):  # drop the parameter list: the parenthesis that closes at the end
        depth = 0
        for i in range(len(s) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(s[i], 0)
            if depth == 0:
                s = s[:i]
                break
    return s.replace("void ", "")


def run(tool, args):
    return subprocess.run([tool] + args, capture_output=True, text=True, check=True).stdout


def analyse(objects, arch, cuobjdump):
    rows = []
    for obj in objects:
        sass = run(cuobjdump, ["-sass", "-arch", arch, obj])
        usage = parse_resource_usage(run(cuobjdump, ["--dump-resource-usage", "-arch", arch, obj]))
        try:
            ptx = run(cuobjdump, ["-ptx", obj])
        except subprocess.CalledProcessError:
            ptx = ""
        threads = parse_maxntid(ptx)
        for k in parse_sass(sass):
            k.registers, k.shared_bytes, k.local_bytes = usage.get(k.name, (0, 0, 0))
            k.threads = threads.get(k.name, 0)
            rows.append((os.path.basename(obj), k))
    return rows


def report(rows, arch, markdown):
    names = demangled([k.name for _, k in rows])
    lines = []
    if markdown:
        lines.append("| object | kernel | regs | smem B | local B | threads | blocks/SM (limit) "
                     "| hot loop: instr | FFMA | HMMA | smem B/warp | LDG | cp.async | flops/instr "
                     "| predicted % of peak (pipe, bound) |")
        lines.append("|" + "---|" * 15)
    for obj, k in rows:
        m = hot_loop(k)
        occ = occupancy(k)
        occ_text = f"{occ[0]} ({occ[2]}, {occ[1]} warps)" if occ else "n/a"
        if m:
            frac, pipe, bound = predicted_fraction(m)
            count = f"{m.instructions} (+{m.bookkeeping})" if m.bookkeeping else m.instructions
            loop = [count, m.ffma, m.hmma, m.shared_bytes_per_warp, m.global_loads,
                    m.async_copies, f"{m.flops_per_warp / m.instructions:.1f}",
                    f"{100 * frac:.0f}% ({pipe}, {bound})"]
        else:
            loop = ["-"] * 7 + ["no math loop"]
        cells = [obj.replace(".cu.o", ".cu"), f"`{short_name(names[k.name])}`", k.registers,
                 k.shared_bytes, k.local_bytes, k.threads or "?", occ_text] + loop
        if markdown:
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        else:
            lines.append("  ".join(str(c) for c in cells))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("objects", nargs="+", help="CUDA object files (.cu.o) or fatbinaries")
    ap.add_argument("--arch", default="sm_90a")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table")
    ap.add_argument("--kernels", default="", help="only kernels whose name matches this regex")
    ap.add_argument("--math-only", action="store_true",
                    help="only kernels with a math loop (FFMA or HMMA in a loop)")
    a = ap.parse_args()
    cuobjdump = os.environ.get("CUOBJDUMP", "cuobjdump")
    try:
        rows = analyse(a.objects, a.arch, cuobjdump)
    except FileNotFoundError:
        sys.exit(f"roofline: error: {cuobjdump} not found (benchmarks/run_roofline installs it)")
    except subprocess.CalledProcessError as e:
        sys.exit(f"roofline: error: {' '.join(e.cmd)}: {e.stderr.strip().splitlines()[-1:]}")
    if a.kernels:
        rows = [(o, k) for o, k in rows if re.search(a.kernels, k.name)]
    if a.math_only:
        rows = [(o, k) for o, k in rows if hot_loop(k) is not None]
    print(report(rows, a.arch, a.markdown))


if __name__ == "__main__":
    main()
