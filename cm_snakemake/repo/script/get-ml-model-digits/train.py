"""Train a digits classifier and export it to ONNX as dense layers (Gemm, Relu, Softmax)."""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def layers(kind: str, seed: int, x: np.ndarray, y: np.ndarray) -> tuple[list, float]:
    """(weights and biases of each dense layer, training accuracy)."""
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier

        mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=400, random_state=seed).fit(x, y)
        dense = list(zip(mlp.coefs_, mlp.intercepts_, strict=True))
        return dense, float(mlp.score(x, y))
    from sklearn.linear_model import LogisticRegression

    logreg = LogisticRegression(max_iter=2000, random_state=seed).fit(x, y)
    return [(logreg.coef_.T, logreg.intercept_)], float(logreg.score(x, y))


def to_onnx(dense: list) -> onnx.ModelProto:
    nodes, weights, current = [], [], "input"
    for i, (w, b) in enumerate(dense):
        weights += [
            numpy_helper.from_array(np.asarray(w, np.float32), f"w{i}"),
            numpy_helper.from_array(np.asarray(b, np.float32), f"b{i}"),
        ]
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [f"dense{i}"]))
        current = f"dense{i}"
        if i < len(dense) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"relu{i}"]))
            current = f"relu{i}"
    nodes.append(helper.make_node("Softmax", [current], ["probabilities"], axis=1))
    graph = helper.make_graph(
        nodes,
        "digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by onnxruntime releases of the last years
    onnx.checker.check_model(model)
    return model


def main() -> None:
    kind = os.environ.get("CM_ML_MODEL_KIND", "logreg")
    seed = int(os.environ.get("CM_ML_MODEL_SEED", "0"))
    data = os.environ["CM_DATASET_PATH"]
    x = np.load(os.path.join(data, "train_x.npy"))
    y = np.load(os.path.join(data, "train_y.npy"))
    dense, train_accuracy = layers(kind, seed, x, y)
    model = to_onnx(dense)
    path = os.path.join(os.getcwd(), f"digits-{kind}.onnx")
    onnx.save(model, path)
    val_x = np.load(os.path.join(data, "val_x.npy"))
    val_y = np.load(os.path.join(data, "val_y.npy"))
    logits = val_x
    for i, (w, b) in enumerate(dense):
        logits = logits @ w + b
        if i < len(dense) - 1:
            logits = np.maximum(logits, 0)
    val_accuracy = float((logits.argmax(1) == val_y).mean())
    with open("tmp-run-env.out", "a", encoding="utf-8") as fh:
        fh.write(f"CM_ML_MODEL_FILE_WITH_PATH={path}\n")
        fh.write(f"CM_ML_MODEL_NAME=digits-{kind}\n")
        fh.write("CM_ML_MODEL_INPUT_NAME=input\nCM_ML_MODEL_OUTPUT_NAME=probabilities\n")
        fh.write(f"CM_ML_MODEL_TRAIN_ACCURACY={train_accuracy:.4f}\n")
        fh.write(f"CM_ML_MODEL_VAL_ACCURACY={val_accuracy:.4f}\n")
    print(f"digits-{kind}: validation top-1 {val_accuracy:.4f}, written to {path}")


if __name__ == "__main__":
    main()
