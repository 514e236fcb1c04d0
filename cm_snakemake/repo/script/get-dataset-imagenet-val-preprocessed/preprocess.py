"""Preprocess ImageNet validation images for ResNet50 into val_x.npy and val_y.npy."""

import os
import sys
import tarfile

import numpy as np
from PIL import Image

MEANS = np.array([123.68, 116.78, 103.94], dtype=np.float32)  # RGB, as MLPerf's reference
SIZE = 224
SCALE = 0.875  # the crop is 87.5% of the resized image's shorter side


def setting(name: str) -> str:
    value = os.environ.get(name, "").strip()
    return "" if "<<<" in value else value


def source_folder() -> str:
    if setting("CM_DATASET_IMAGENET_SOURCE") == "url":
        archive = setting("CM_DOWNLOAD_DOWNLOADED_PATH")
        if not archive:
            raise SystemExit("get-dataset-imagenet-val-preprocessed: the download gave no file")
        target = os.path.join(os.getcwd(), "images")
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")  # no links or paths out of the folder
        found = [root for root, _, files in os.walk(target) if "val_map.txt" in files]
        if not found:
            raise SystemExit(
                f"get-dataset-imagenet-val-preprocessed: {archive} holds no val_map.txt"
            )
        return found[0]
    folder = setting("CM_DATASET_IMAGENET_PATH")
    if not folder or not os.path.isfile(os.path.join(folder, "val_map.txt")):
        raise SystemExit(
            "get-dataset-imagenet-val-preprocessed: give the folder of ImageNet validation "
            "images with val_map.txt (--env.CM_DATASET_IMAGENET_PATH=DIR), or an archive "
            "of it (_url with --env.CM_DATASET_IMAGENET_URL=URL); "
            f"CM_DATASET_IMAGENET_PATH={folder!r} has no val_map.txt"
        )
    return folder


def preprocess(path: str) -> np.ndarray:
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        scale = SIZE / SCALE / min(width, height)
        resized = rgb.resize((round(width * scale), round(height * scale)), Image.BILINEAR)
        left = (resized.width - SIZE) // 2
        top = (resized.height - SIZE) // 2
        crop = resized.crop((left, top, left + SIZE, top + SIZE))
    pixels = np.asarray(crop, dtype=np.float32) - MEANS
    return pixels.transpose(2, 0, 1)  # HWC -> CHW


def main() -> int:
    folder = source_folder()
    size = int(setting("CM_DATASET_SIZE") or 500)
    with open(os.path.join(folder, "val_map.txt"), encoding="utf-8") as fh:
        entries = [line.split() for line in fh if line.strip()][:size]
    images = np.stack([preprocess(os.path.join(folder, name)) for name, _ in entries])
    labels = np.array([int(label) for _, label in entries], dtype=np.int64)
    out = os.path.join(os.getcwd(), "imagenet")
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "val_x.npy"), images)
    np.save(os.path.join(out, "val_y.npy"), labels)
    with open("tmp-run-env.out", "a", encoding="utf-8") as fh:
        fh.write(f"CM_DATASET_PATH={out}\nCM_DATASET_IMAGENET_PREPROCESSED_SIZE={len(labels)}\n")
    print(f"imagenet: {len(labels)} validation images preprocessed into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
