"""Split scikit-learn's digits into training and validation arrays in the current folder."""

import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def main() -> None:
    seed = int(os.environ.get("CM_DATASET_DIGITS_SEED", "0"))
    fraction = float(os.environ.get("CM_DATASET_DIGITS_VAL_FRACTION", "0.25"))
    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).astype(np.float32)
    train_x, val_x, train_y, val_y = train_test_split(
        images, labels.astype(np.int64), test_size=fraction, random_state=seed, stratify=labels
    )
    out = os.path.join(os.getcwd(), "digits")
    os.makedirs(out, exist_ok=True)
    for name, array in (
        ("train_x", train_x),
        ("train_y", train_y),
        ("val_x", val_x),
        ("val_y", val_y),
    ):
        np.save(os.path.join(out, f"{name}.npy"), array)
    with open("tmp-run-env.out", "a", encoding="utf-8") as fh:
        fh.write(f"CM_DATASET_PATH={out}\n")
        fh.write(f"CM_DATASET_DIGITS_TRAIN_SIZE={len(train_y)}\n")
        fh.write(f"CM_DATASET_DIGITS_VAL_SIZE={len(val_y)}\n")
    print(f"digits: {len(train_y)} training and {len(val_y)} validation images in {out}")


if __name__ == "__main__":
    main()
