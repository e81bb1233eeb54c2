#!/bin/bash
# Regenerates docs/hardware_cost/: the hardware cost of one training epoch of every paper model,
# with `hqnn-pl-diagnose --only hardware_cost` (1,000 shots per execution, 5,000 shots/s).
# Training-set sizes: counted from Fashion-MNIST where it is on disk; otherwise the papers'
# datasets after this project's splits (MNIST and CIFAR-10: 90% of the training set;
# Medical MNIST: 58,954 x 0.8 x 0.9; Stanford Cars: 16,185 x 0.7, and about 413 images x 0.7
# for the 5-class subset of the random quanvolution). The car configs need a folder of class
# subfolders to know the classes: an empty stand-in is made (no image is read), and the
# ResNet-50's ImageNet weights are not downloaded (they do not change the circuit).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=docs/hardware_cost
stand_in=$(mktemp -d)
trap 'rm -rf "$stand_in"' EXIT
python - "$stand_in" <<'PY'
import sys
from pathlib import Path
from PIL import Image
for n, name in ((196, "cars196"), (5, "cars5")):
    for c in range(n):
        folder = Path(sys.argv[1], name, f"class_{c:03d}")
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(folder / "a.jpg")
PY
printf 'data:\n  init_args:\n    data_dir: %s/cars5\n' "$stand_in" > "$stand_in/cars5.yaml"
printf 'model:\n  init_args:\n    weights: null\ndata:\n  init_args:\n    data_dir: %s/cars196\n' \
  "$stand_in" > "$stand_in/cars196.yaml"
run() {  # name, then hqnn-pl-diagnose arguments
  local name=$1; shift
  hqnn-pl-diagnose --only hardware_cost --out "$out/$name" "$@"
}
run mnist_hqnn_parallel --config configs/mnist/hqnn_parallel.yaml --train_samples 54000
run fashion_mnist_hqnn_parallel --config configs/fashion_mnist/hqnn_parallel.yaml
run medical_mnist_hqnn_parallel --config configs/medical_mnist/hqnn_parallel.yaml --train_samples 42447
run cifar10_hqnn_parallel --config configs/cifar10/hqnn_parallel.yaml --train_samples 45000
run mnist_hqnn_quanv --config configs/mnist/hqnn_quanv.yaml --train_samples 500
run fashion_mnist_qpcnn --config configs/fashion_mnist/qpcnn.yaml
run cifar10_qpcnn --config configs/cifar10/qpcnn.yaml --train_samples 45000
run cars_random_quanv --config configs/cars/random_quanv.yaml --config "$stand_in/cars5.yaml" \
  --train_samples 289
run cars_resnet50_hqnn --config configs/cars/resnet50_hqnn.yaml --config "$stand_in/cars196.yaml" \
  --train_samples 11330
