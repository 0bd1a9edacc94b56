#!/usr/bin/python3
"""Runs an ONNX model of `v3d export` with onnxruntime (tests/report/onnx_export_test.cpp).

  onnx_run.py MODEL.onnx IN.f32 FRAMES JOINTS OUT.f32

IN.f32: (FRAMES, JOINTS, 2) little-endian float32, the "keypoints" input; OUT.f32 receives
"poses_3d" the same way.
"""
import sys

import numpy as np
import onnxruntime as ort

model, inp, frames, joints, out = sys.argv[1:6]
x = np.fromfile(inp, dtype="<f4").reshape(int(frames), int(joints), 2)
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
y = session.run(["poses_3d"], {"keypoints": x})[0]
y.astype("<f4").tofile(out)
