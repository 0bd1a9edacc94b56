#!/usr/bin/python3
"""VideoPose3D npz files <-> the v3d HDF5 pose store (docs/data-format.md).

  convert_npz.py to-h5  --npz-3d data_3d_h36m.npz [--npz-2d data_2d_h36m_<k>.npz] --out FILE.h5
  convert_npz.py to-npz --h5 FILE.h5 [--out-3d data_3d.npz] [--out-2d data_2d.npz]
  convert_npz.py custom-2d --npz data_2d_custom_<name>.npz --out FILE.json

to-h5 writes positions only (skeleton h36m17, no cameras); `v3d convert npz` runs it and then
attaches the Human3.6M cameras shipped with v3d, so the camera table has a single source. The
output is nevertheless a valid v3d file (cameras are optional in the format).

VideoPose3D's files hold dicts pickled as 0-d object arrays:
  positions_3d[S][action]  (N, 32, 3) float32, metres, world frame (data_3d_h36m.npz)
  positions_2d[S][action]  [cam0, cam1, cam2, cam3], each (N, J, 2) float32 pixels
  metadata                 {num_joints, keypoints_symmetry, [layout_name]}
32-joint 3D input is VideoPose3D's H36M export: it is reduced to the 17 kept joints and its action
names are canonicalised as prepare_data_h36m.py does (TakingPhoto -> Photo, WalkingDog -> WalkDog,
S11 "Directions" dropped). 17-joint input (e.g. written by to-npz) is taken as is. 2D longer than
the 3D of the same take is truncated to the mocap length (VideoPose3D does the same); a 2D-only
take (e.g. S2-S4 of the CPN file) is cut to its shortest camera. A 2D array (N, J, 3) carries a
confidence channel, stored as confidence_2d. to-npz writes 17 joints and says so in metadata.
The 2D's layout is told by its metadata (num_joints and the sets of keypoints_symmetry): H36M-17
(CPN, ground truth), COCO-17 (detectron_pt_coco) or MPII-16 (the stacked hourglass files); COCO
and MPII keypoints are stored as they are, with the root attribute keypoints_2d naming the layout
(data.keypoints: coco17 or mpii16 reads them), and to-npz writes that layout's metadata back.

custom-2d reads VideoPose3D's custom-dataset 2D file (prepare_data_2d_custom.py writes it):
  positions_2d[video]      {"custom": [(N, J, 2) float32 pixels]}, or the list itself
  metadata                 {layout_name "coco" or "h36m", num_joints 17, keypoints_symmetry,
                            video_metadata {video: {"w": width, "h": height}}}
and writes the JSON `v3d infer --format vp3d-npz` reads (data/infer_input.h):
  {"layout": "coco17" | "h36m17", "videos": [{"name", "res_w", "res_h", "keypoints": [[x, y, ...
  J pairs] per frame]}]}, one video entry per array (named "<video>/<k>" when a video has several).

All commands write to a temporary file next to the output and rename it on success. Errors are
one line on stderr, "convert_npz.py: error: <file>: <object>: <what>", with exit status 1 (3 when
numpy or h5py is missing).
"""
import argparse
import json
import os
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:
    sys.stderr.write(f"convert_npz.py: error: {sys.executable} lacks numpy or h5py ({e}); install "
                     "them with: sudo apt-get install python3-numpy python3-h5py\n")
    sys.exit(3)

FORMAT = "v3d-pose"
VERSION = 1
CHUNK_FRAMES = 4096

# VideoPose3D's 32 -> 17 reduction and the resulting skeleton (reference 3.3).
KEPT_JOINTS = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]
H36M17_NAMES = ["Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
                "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow",
                "RWrist"]
H36M17_PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]
H36M17_LEFT = [4, 5, 6, 11, 12, 13]
H36M17_RIGHT = [1, 2, 3, 14, 15, 16]
# v3d skeleton name <-> VideoPose3D layout_name (used by its visualisation)
LAYOUT_NAMES = {"h36m17": "h36m", "coco17": "coco", "mpii16": "mpii"}
# 2D layouts of VideoPose3D's Human3.6M detection files, told apart by num_joints and
# keypoints_symmetry (the files have no layout_name): v3d layout -> (joints, left set, right set).
# H36M-17: cpn_ft_h36m_dbb and the ground truth; COCO-17: detectron_pt_coco; MPII-16: the stacked
# hourglass files (sh_pt_mpii, sh_ft_h36m).
LAYOUTS_2D = {"h36m17": (17, set(H36M17_LEFT), set(H36M17_RIGHT)),
              "coco17": (17, {1, 3, 5, 7, 9, 11, 13, 15}, {2, 4, 6, 8, 10, 12, 14, 16}),
              "mpii16": (16, {3, 4, 5, 13, 14, 15}, {0, 1, 2, 10, 11, 12})}


class ConvertError(Exception):
    pass


def canonical_action(name):
    return name.replace("TakingPhoto", "Photo").replace("WalkingDog", "WalkDog")


def dropped(subject, action):
    return subject == "S11" and action == "Directions"


def write_atomically(out, write):
    """Calls write(tmp_path), then renames tmp_path to out; removes tmp_path on any failure."""
    tmp = f"{out}.tmp-{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ------------------------------------------------------------------------------------------------
# npz -> h5

def load_npz_dict(path, key):
    try:
        npz = np.load(path, allow_pickle=True)
    except Exception as e:  # numpy raises OSError, ValueError or UnpicklingError on junk
        raise ConvertError(f"{path}: cannot read as npz ({type(e).__name__}: {e})")
    with npz:
        if key not in npz.files:
            raise ConvertError(f"{path}: missing '{key}' (has {', '.join(npz.files)})")
        value = npz[key]
        value = value.item() if value.dtype == object and value.shape == () else value
        if not isinstance(value, dict):
            raise ConvertError(f"{path}: {key}: expected a pickled dict")
        metadata = {}
        if "metadata" in npz.files:
            m = npz["metadata"]
            metadata = m.item() if m.dtype == object and m.shape == () else {}
    return value, metadata


def as_float_array(path, where, value, joints, features):
    a = np.asarray(value)
    if not np.issubdtype(a.dtype, np.floating):
        raise ConvertError(f"{path}: {where}: expected float values, got {a.dtype}")
    if a.ndim != 3 or a.shape[1] not in joints or a.shape[2] not in features:
        want = " or ".join(f"(N, {j}, {'|'.join(map(str, features))})" for j in joints)
        raise ConvertError(f"{path}: {where}: expected {want}, got {a.shape}")
    if a.shape[0] == 0:
        raise ConvertError(f"{path}: {where}: 0 frames")
    if not np.all(np.isfinite(a)):
        first = np.argwhere(~np.isfinite(a))[0]
        raise ConvertError(f"{path}: {where}: NaN or Inf at frame {first[0]}, joint {first[1]}")
    return a


def read_3d(path):
    positions, metadata = load_npz_dict(path, "positions_3d")
    out, joint_counts = {}, set()
    for subject, actions in positions.items():
        for action, value in actions.items():
            where = f"positions_3d[{subject!r}][{action!r}]"
            a = as_float_array(path, where, value, (32, 17), (3,))
            joint_counts.add(a.shape[1])
            out.setdefault(subject, {})[action] = a
    if len(joint_counts) > 1:
        raise ConvertError(f"{path}: positions_3d: mixes 32- and 17-joint arrays")
    h36m_source = joint_counts == {32}
    if h36m_source:
        reduced = {}
        for subject, actions in out.items():
            for action, a in actions.items():
                name = canonical_action(action)
                if dropped(subject, name):
                    continue
                # numpy stores VideoPose3D's values as float32 already; astype keeps them as is.
                reduced.setdefault(subject, {})[name] = a[:, KEPT_JOINTS].astype(np.float32)
        out = reduced
    else:
        out = {s: {a: v.astype(np.float32) for a, v in acts.items()} for s, acts in out.items()}
    fps = float(metadata.get("fps", 50.0)) if isinstance(metadata, dict) else 50.0
    return out, h36m_source, fps


def layout_2d(path, metadata):
    """The v3d layout of a 2D file from its num_joints and keypoints_symmetry (the sets of left
    and right keypoints; their order within a set is the file's business)."""
    num_joints = int(metadata.get("num_joints", 17))
    symmetry = metadata.get("keypoints_symmetry")
    if symmetry is None:
        if num_joints == 17:
            return "h36m17"
        raise ConvertError(f"{path}: metadata: num_joints {num_joints} without "
                           "keypoints_symmetry: cannot tell the keypoint layout")
    try:
        left, right = ({int(j) for j in side} for side in symmetry)
    except (TypeError, ValueError):
        raise ConvertError(f"{path}: metadata: keypoints_symmetry {symmetry!r} is not two lists "
                           "of keypoint indices")
    for name, (joints, l, r) in LAYOUTS_2D.items():
        if num_joints == joints and left == l and right == r:
            return name
    raise ConvertError(f"{path}: metadata: num_joints {num_joints} with keypoints_symmetry "
                       f"{symmetry} is none of the known layouts (H36M-17, COCO-17, MPII-16)")


def read_2d(path, h36m_source):
    positions, metadata = load_npz_dict(path, "positions_2d")
    layout = layout_2d(path, metadata)
    num_joints = LAYOUTS_2D[layout][0]
    out = {}
    for subject, actions in positions.items():
        for action, cams in actions.items():
            name = canonical_action(action) if h36m_source else action
            if h36m_source and dropped(subject, name):
                continue
            arrays = {}
            for k, value in enumerate(cams):
                if value is None:
                    continue
                where = f"positions_2d[{subject!r}][{action!r}][{k}]"
                arrays[k] = as_float_array(path, where, value, (num_joints,), (2, 3))
            if arrays:
                out.setdefault(subject, {})[name] = arrays
    return out, layout


def to_h5(args):
    p3d, h36m_source, fps = read_3d(args.npz_3d)
    p2d, layout = read_2d(args.npz_2d, h36m_source) if args.npz_2d else ({}, "h36m17")

    # takes[S][A] = (frames, positions_3d or None, {k: xy}, {k: confidence})
    takes = {}
    for subject in sorted(set(p3d) | set(p2d)):
        for action in sorted(set(p3d.get(subject, {})) | set(p2d.get(subject, {}))):
            pos3 = p3d.get(subject, {}).get(action)
            cams = p2d.get(subject, {}).get(action, {})
            if pos3 is not None:
                frames = pos3.shape[0]
                for k, a in cams.items():
                    if a.shape[0] < frames:
                        raise ConvertError(
                            f"{args.npz_2d}: positions_2d[{subject!r}][{action!r}][{k}]: {a.shape[0]} "
                            f"frames, fewer than the {frames} of the 3D take")
            else:
                frames = min(a.shape[0] for a in cams.values())
            xy = {k: a[:frames, :, :2].astype(np.float32) for k, a in cams.items()}
            conf = {k: a[:frames, :, 2].astype(np.float32) for k, a in cams.items()
                    if a.shape[2] == 3}
            takes.setdefault(subject, {})[action] = (frames, pos3, xy, conf)
    if not takes:
        raise ConvertError(f"{args.npz_3d}: no poses")

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = np.int32(VERSION)
            f.attrs["fps"] = np.float32(fps)
            if layout != "h36m17":
                f.attrs["keypoints_2d"] = layout  # a detector's keypoints, not the skeleton's
            sk = f.create_group("skeleton")
            sk.attrs["name"] = "h36m17"
            sk.create_dataset("joint_names", data=H36M17_NAMES, dtype=h5py.string_dtype())
            sk.create_dataset("parents", data=np.array(H36M17_PARENTS, dtype=np.int32))
            sk.create_dataset("joints_left", data=np.array(H36M17_LEFT, dtype=np.int32))
            sk.create_dataset("joints_right", data=np.array(H36M17_RIGHT, dtype=np.int32))
            subjects = f.create_group("subjects")
            for subject, actions in takes.items():
                s = subjects.create_group(subject)
                s.create_group("cameras")
                acts = s.create_group("actions")
                for action, (frames, pos3, xy, conf) in actions.items():
                    a = acts.create_group(action)
                    if pos3 is not None:
                        write_poses(a, "positions_3d", pos3)
                    if xy:
                        g = a.create_group("positions_2d")
                        for k, v in xy.items():
                            write_poses(g, str(k), v)
                    if conf:
                        g = a.create_group("confidence_2d")
                        for k, v in conf.items():
                            write_poses(g, str(k), v)

    write_atomically(args.out, write)


def write_poses(group, name, values):
    chunk = (min(values.shape[0], CHUNK_FRAMES),) + values.shape[1:]
    group.create_dataset(name, data=values, dtype="<f4", chunks=chunk, shuffle=True,
                         compression="gzip", compression_opts=4)


# ------------------------------------------------------------------------------------------------
# custom-dataset 2D -> JSON

# VideoPose3D layout_name -> (v3d layout, left keypoints, right keypoints)
CUSTOM_LAYOUTS = {"coco": ("coco17", [1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]),
                  "h36m": ("h36m17", H36M17_LEFT, H36M17_RIGHT)}


def custom_2d(args):
    path = args.npz
    positions, metadata = load_npz_dict(path, "positions_2d")
    if not isinstance(metadata, dict) or not metadata:
        raise ConvertError(f"{path}: metadata: missing (a custom-dataset file has layout_name, "
                           "num_joints, keypoints_symmetry and video_metadata)")
    name = metadata.get("layout_name")
    if name not in CUSTOM_LAYOUTS:
        raise ConvertError(f"{path}: metadata: layout_name {name!r} is not one of "
                           f"{', '.join(sorted(CUSTOM_LAYOUTS))}")
    layout, left, right = CUSTOM_LAYOUTS[name]
    num_joints = metadata.get("num_joints")
    if num_joints != 17:
        raise ConvertError(f"{path}: metadata: num_joints {num_joints!r} (expected 17 for layout "
                           f"{name!r})")
    symmetry = metadata.get("keypoints_symmetry")
    if symmetry is not None and [list(map(int, k)) for k in symmetry] != [left, right]:
        raise ConvertError(f"{path}: metadata: keypoints_symmetry {symmetry} is not the {name} "
                           "layout's")
    sizes = metadata.get("video_metadata")
    if not isinstance(sizes, dict):
        raise ConvertError(f"{path}: metadata: video_metadata missing (the image size of each "
                           "video)")
    videos = []
    for video in sorted(positions, key=str):
        value = positions[video]
        if isinstance(value, dict):
            if list(value) != ["custom"]:
                raise ConvertError(f"{path}: positions_2d[{video!r}]: expected {{'custom': [...]}}, "
                                   f"got keys {sorted(map(str, value))}")
            value = value["custom"]
        if not isinstance(value, (list, tuple)) or not value:
            raise ConvertError(f"{path}: positions_2d[{video!r}]: expected a list of arrays")
        size = sizes.get(video)
        if not isinstance(size, dict) or "w" not in size or "h" not in size:
            raise ConvertError(f"{path}: metadata: video_metadata[{video!r}]: missing, or without "
                               "'w' and 'h'")
        w, h = size["w"], size["h"]
        if not all(isinstance(v, (int, np.integer)) and v > 0 for v in (w, h)):
            raise ConvertError(f"{path}: metadata: video_metadata[{video!r}]: w {w!r} and h {h!r} "
                               "must be positive integers")
        for k, array in enumerate(value):
            where = f"positions_2d[{video!r}][{k}]"
            a = as_float_array(path, where, array, (17,), (2, 3))[:, :, :2].astype(np.float32)
            videos.append({"name": str(video) if len(value) == 1 else f"{video}/{k}",
                           "res_w": int(w), "res_h": int(h),
                           "keypoints": [[float(x) for x in row] for row in a.reshape(len(a), -1)]})
    if not videos:
        raise ConvertError(f"{path}: positions_2d: no videos")

    def write(tmp):
        with open(tmp, "w") as fh:
            json.dump({"layout": layout, "videos": videos}, fh)

    write_atomically(args.out, write)


# ------------------------------------------------------------------------------------------------
# h5 -> npz

def to_npz(args):
    if not args.out_3d and not args.out_2d:
        raise ConvertError("to-npz: give --out-3d and/or --out-2d")
    path = args.h5
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ConvertError(f"{path}: cannot open as HDF5 ({e})")
    with f:
        if f.attrs.get("format") != FORMAT:
            raise ConvertError(f"{path}: / attribute format: not a {FORMAT} file")
        version = int(f.attrs.get("version", -1))
        if version != VERSION:
            raise ConvertError(f"{path}: / attribute version: unsupported version {version}")
        fps = float(f.attrs["fps"])
        sk = f["skeleton"]
        skeleton = sk.attrs["name"]
        left = [int(j) for j in sk["joints_left"][()]]
        right = [int(j) for j in sk["joints_right"][()]]
        joints = len(sk["joint_names"])
        layout_2d_name = f.attrs.get("keypoints_2d", skeleton)
        if isinstance(layout_2d_name, bytes):
            layout_2d_name = layout_2d_name.decode()
        p3d, p2d = {}, {}
        for subject, s in f["subjects"].items():
            for action, a in s["actions"].items():
                where = f"{path}: /subjects/{subject}/actions/{action}"
                if "positions_3d" in a:
                    p3d.setdefault(subject, {})[action] = a["positions_3d"][()]
                if "positions_2d" not in a:
                    continue
                xy = {int(k): v[()] for k, v in a["positions_2d"].items()}
                conf = {int(k): v[()] for k, v in a.get("confidence_2d", {}).items()}
                if sorted(xy) != list(range(len(xy))):
                    raise ConvertError(f"{where}/positions_2d: cameras {sorted(xy)} are not "
                                       "0..K-1 (an npz list cannot hold gaps)")
                if conf and sorted(conf) != sorted(xy):
                    raise ConvertError(f"{where}/confidence_2d: present for some cameras only")
                cams = []
                for k in range(len(xy)):
                    # confidence travels as a third channel, as in VideoPose3D's detection files
                    cams.append(np.concatenate([xy[k], conf[k][:, :, None]], axis=2)
                                if conf else xy[k])
                p2d.setdefault(subject, {})[action] = cams
    layout = LAYOUT_NAMES.get(skeleton, skeleton)
    if args.out_3d:
        metadata = {"num_joints": joints, "layout_name": layout, "fps": fps,
                    "note": f"v3d export: {joints} joints ({skeleton}), not VideoPose3D's 32"}
        save_npz(args.out_3d, positions_3d=p3d, metadata=metadata)
    if args.out_2d:
        if layout_2d_name != skeleton:
            joints_2d, l2, r2 = LAYOUTS_2D[layout_2d_name]
            metadata = {"num_joints": joints_2d, "keypoints_symmetry": [sorted(l2), sorted(r2)],
                        "layout_name": LAYOUT_NAMES[layout_2d_name]}
        else:
            metadata = {"num_joints": joints, "keypoints_symmetry": [left, right],
                        "layout_name": layout}
        save_npz(args.out_2d, positions_2d=p2d, metadata=metadata)


def save_npz(out, **dicts):
    arrays = {}
    for key, value in dicts.items():
        holder = np.empty((), dtype=object)  # a 0-d object array, as VideoPose3D pickles dicts
        holder[()] = value
        arrays[key] = holder

    def write(tmp):
        # A file object stops numpy from appending ".npz" to the temporary name.
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    write_atomically(out, write)


def main():
    parser = argparse.ArgumentParser(
        description="Convert VideoPose3D npz files to and from the v3d HDF5 pose store.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("to-h5", help="npz -> v3d HDF5 (positions only, no cameras)")
    p.add_argument("--npz-3d", required=True, help="data_3d_h36m.npz (positions_3d)")
    p.add_argument("--npz-2d", help="data_2d_h36m_<k>.npz (positions_2d, metadata)")
    p.add_argument("--out", required=True, help="output .h5")
    p = sub.add_parser("to-npz", help="v3d HDF5 -> npz (17 joints)")
    p.add_argument("--h5", required=True, help="input v3d .h5")
    p.add_argument("--out-3d", help="output npz with positions_3d")
    p.add_argument("--out-2d", help="output npz with positions_2d and metadata")
    p = sub.add_parser("custom-2d", help="VideoPose3D custom-dataset 2D npz -> JSON for v3d infer")
    p.add_argument("--npz", required=True, help="data_2d_custom_<name>.npz")
    p.add_argument("--out", required=True, help="output .json")
    args = parser.parse_args()
    try:
        {"to-h5": to_h5, "to-npz": to_npz, "custom-2d": custom_2d}[args.command](args)
    except ConvertError as e:
        sys.stderr.write(f"convert_npz.py: error: {e}\n")
        return 1
    except (OSError, KeyError, ValueError) as e:
        sys.stderr.write(f"convert_npz.py: error: {type(e).__name__}: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
