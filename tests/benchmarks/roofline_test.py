#!/usr/bin/env python3
"""benchmarks/roofline.py on a hand-written SASS listing: parsing, the hot loop, the instruction
mix, the predicted fraction of peak and the occupancy, each worked out by hand below."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import roofline  # noqa: E402


def line(address, text, predicate=""):
    return (f"        /*{address:04x}*/ {predicate:>15} {text} ;"
            f"                    /* 0x0000000000000000 */\n"
            f"                                              /* 0x000fe20000000000 */")


# Kernel "k": a prologue, an outer loop [0x20, 0xb0] around an inner loop [0x30, 0x80] of
# 6 instructions: 2 FFMA, 1 HMMA (TF32 m16n8k8), 1 LDS.128, 1 LDS (32-bit), the branch back.
# Kernel "plain": no loop.
SASS = "\n".join([
    "\t\tFunction : k",
    line(0x00, "S2R R0, SR_TID.X"),
    line(0x10, "MOV R1, 0x0"),
    line(0x20, "LDG.E R2, desc[UR4][R4.64]"),
    line(0x30, "FFMA R3, R2, R2, R3"),
    line(0x40, "LDS.128 R8, [R0]"),
    line(0x50, "HMMA.1688.F32.TF32 R12, R8, R10, R12"),
    line(0x60, "FFMA R3, R9, R9, R3"),
    line(0x70, "LDS R5, [R0+0x40]"),
    line(0x80, "BRA 0x30", "@P0"),
    line(0x90, "BAR.SYNC.DEFER_BLOCKING 0x0"),
    line(0xa0, "IADD3 R1, R1, 0x1, RZ"),
    line(0xb0, "BRA 0x20", "@!P1"),
    line(0xc0, "EXIT"),
    "\t\tFunction : plain",
    line(0x00, "MOV R1, 0x0"),
    line(0x10, "EXIT"),
    # Kernel "taps": a loop [0x00, 0xc0] whose conditional branch at 0x10 skips 3 instructions of
    # index arithmetic (0x20-0x40, with a nested skip at 0x20), and whose branch at 0x60 skips a
    # copy (work, so counted): 13 instructions, 3 of them bookkeeping.
    "\t\tFunction : taps",
    line(0x00, "ISETP.NE.AND P0, PT, R1, RZ, PT"),
    line(0x10, "BRA 0x50", "@P0"),
    line(0x20, "BRA 0x40", "@!P1"),
    line(0x30, "IMAD.WIDE.U32 R4, R2, R3, RZ"),
    line(0x40, "IADD3 R6, R4, 0x1, RZ"),
    line(0x50, "ISETP.GE.AND P2, PT, R6, R7, PT"),
    line(0x60, "BRA 0x80", "@P2"),
    line(0x70, "LDGSTS.E.BYPASS.128 [R8], desc[UR4][R4.64]"),
    line(0x80, "LDSM.16.M88.4 R12, [R9]"),
    line(0x90, "HMMA.16816.F32.BF16 R16, R12, R14, R16"),
    line(0xa0, "BRA 0xe0", "@P3"),
    line(0xb0, "HMMA.16816.F32.BF16 R20, R12, R14, R20"),
    line(0xc0, "BRA 0x0", "@!P4"),
    line(0xd0, "EXIT"),
    line(0xe0, "EXIT"),
])

RESOURCES = """
Resource usage:
 Common:
  GLOBAL:0
 Function k:
  REG:100 STACK:0 SHARED:9472 LOCAL:0 CONSTANT[0]:672 TEXTURE:0 SURFACE:0 SAMPLER:0
 Function plain:
  REG:8 STACK:0 SHARED:0 LOCAL:16 CONSTANT[0]:600 TEXTURE:0 SURFACE:0 SAMPLER:0
 Function spills:
  REG:255 STACK:24 SHARED:0 LOCAL:0 CONSTANT[0]:600 TEXTURE:0 SURFACE:0 SAMPLER:0
"""

PTX = """
.visible .entry k(
.maxntid 256, 1, 1
.entry plain(
"""


class RooflineTest(unittest.TestCase):
    def setUp(self):
        self.kernels = roofline.parse_sass(SASS)
        self.k = self.kernels[0]
        self.k.registers, self.k.shared_bytes, self.k.local_bytes = \
            roofline.parse_resource_usage(RESOURCES)["k"]
        self.k.threads = roofline.parse_maxntid(PTX)["k"]

    def test_parsing(self):
        self.assertEqual([k.name for k in self.kernels], ["k", "plain", "taps"])
        self.assertTrue(self.k.instructions[8].predicated)
        self.assertFalse(self.k.instructions[9].predicated)
        self.assertEqual(len(self.k.instructions), 13)
        self.assertEqual(self.k.instructions[8].opcode, "BRA")
        self.assertEqual(roofline.parse_resource_usage(RESOURCES),
                         {"k": (100, 9472, 0), "plain": (8, 0, 16), "spills": (255, 0, 24)})
        self.assertEqual(roofline.parse_maxntid(PTX), {"k": 256})
        self.assertEqual(roofline.loops(self.k), [(0x30, 0x80), (0x20, 0xb0)])
        self.assertIsNone(roofline.hot_loop(self.kernels[1]))

    def test_hot_loop_is_the_inner_loop_and_its_mix(self):
        m = roofline.hot_loop(self.k)
        self.assertEqual((m.start, m.end), (0x30, 0x80))
        self.assertEqual((m.instructions, m.ffma, m.hmma), (6, 2, 1))
        self.assertEqual(m.shared_bytes_per_warp, 32 * (16 + 4))
        self.assertEqual(m.global_loads, 0)
        self.assertEqual(m.flops_per_warp, 2 * 64 + 2 * 16 * 8 * 8)
        # Tensor pipe: 4 clocks per HMMA = 4; 6 instructions to issue; shared 640 * 4 / 128 = 20 clocks.
        frac, pipe, bound = roofline.predicted_fraction(m)
        self.assertEqual((pipe, bound), ("tensor", "shared"))
        self.assertAlmostEqual(frac, 4 / 20)
        # The outer loop holds the same math but more instructions: not the hot one.
        outer = roofline.mix(self.k, 0x20, 0xb0)
        self.assertEqual((outer.instructions, outer.global_loads, outer.barriers), (10, 1, 1))

    def test_bookkeeping_regions_are_left_out_of_the_iteration(self):
        taps = self.kernels[2]
        # 0x10 skips 0x20-0x40 (nested 0x30 merged in); 0x60 skips a copy; 0xa0 leaves the loop.
        self.assertEqual(roofline.bookkeeping_regions(taps, 0x00, 0xc0), [(0x20, 0x40)])
        m = roofline.hot_loop(taps)
        self.assertEqual((m.start, m.end, m.instructions, m.bookkeeping), (0x00, 0xc0, 10, 3))
        self.assertEqual((m.hmma, m.async_copies), (2, 1))
        # The inner loop of "k" has none.
        self.assertEqual(roofline.hot_loop(self.k).bookkeeping, 0)

    def test_fp32_loop_bounds(self):
        m = roofline.LoopMix(0, 0, instructions=10, ffma=8, hmma=0, shared_bytes_per_warp=0,
                             global_loads=0, async_copies=0, barriers=0, flops_per_warp=0)
        self.assertEqual(roofline.predicted_fraction(m), (0.8, "fp32", "issue"))

    def test_occupancy(self):
        # 100 registers -> 3200 per warp, rounded up to 3328; 8 warps a block -> 26624 per block:
        # 2 blocks (65536 / 26624); shared: 228 KiB / (9472 + 1024) = 22 blocks.
        self.assertEqual(roofline.occupancy(self.k), (2, 16, "registers"))
        self.kernels[1].threads = 0
        self.assertIsNone(roofline.occupancy(self.kernels[1]))

    def test_hgmma_is_a_warpgroup_product(self):
        # A wgmma loop: 4 HGMMA.64x128x8 TF32 (a warp's quarter: 2 * 64 * 128 * 8 / 4 = 32768 flops,
        # 64 clocks at 512 TF32 flops per scheduler and clock) and 2 of BF16 64x128x16 (65536
        # flops, 64 clocks at 1024), 8 instructions in all; each reads (16 + 128 / 4) * 32 = 1536
        # bytes of shared memory per warp: 6 * 1536 * 4 / 128 = 288 clocks; bound by the tensor
        # cores, 384 clocks.
        body = [line(0x00, "WARPGROUP.ARRIVE")]
        body += [line(0x10 * (i + 1), "HGMMA.64x128x8.F32.TF32 R24, gdesc[UR4], R24, gsb0")
                 for i in range(4)]
        body += [line(0x50 + 0x10 * i, "HGMMA.64x128x16.F32.BF16 R88, gdesc[UR8], R88, gsb0")
                 for i in range(2)]
        body += [line(0x70, "BRA 0x0", "@P0"), line(0x80, "EXIT")]
        wg = roofline.parse_sass("\t\tFunction : wg\n" + "\n".join(body))[0]
        m = roofline.hot_loop(wg)
        self.assertEqual((m.start, m.end, m.instructions, m.hmma), (0x00, 0x70, 8, 6))
        self.assertEqual(m.flops_per_warp, 4 * 32768 + 2 * 65536)
        self.assertEqual(m.tensor_clocks, 4 * 64 + 2 * 64)
        self.assertEqual(m.shared_bytes_per_warp, 6 * 1536)
        self.assertEqual(roofline.predicted_fraction(m), (1.0, "tensor", "math"))

    def test_short_names_keep_parentheses_inside_template_arguments(self):
        ns = "v3d::kernels::cuda::(anonymous namespace)::"
        self.assertEqual(
            roofline.short_name(f"void {ns}k<true, ({ns}RowsA)2, S>({ns}Gemm, S)"),
            "k<true, (RowsA)2, S>")
        self.assertEqual(roofline.short_name(f"void {ns}plain(float*, int)"), "plain")

    def test_shared_widths(self):
        def width(op):
            return roofline.shared_bytes_per_thread(roofline.Instruction(0, op, ""))
        self.assertEqual([width(o) for o in ("LDS", "LDS.U.64", "STS.128", "LDS.U8", "LDSM.16.M88.4",
                                             "LDG.E.128", "FFMA")], [4, 8, 16, 1, 16, 0, 0])


if __name__ == "__main__":
    unittest.main()
