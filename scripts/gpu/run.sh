#!/usr/bin/env bash
# The GPU check, in two halves:
#
#   bash scripts/gpu/run.sh build       # here (any linux/amd64 machine with Go and gcc): builds .gpu/gpucheck
#   bash scripts/gpu/run.sh run OUT     # on the GPU machine (no Go, no network): runs it, writes OUT/
#
# On the GPU machine it uses the CUDA PJRT plugin and NVIDIA libraries of the Python
# environment that has JAX's CUDA plugin and PyTorch (found from `python3`), disables any
# plugin download (GOMLX_NO_AUTO_INSTALL=1), writes the torchvision reference for the parity
# check with that environment's PyTorch (CPU, float32), then runs .gpu/gpucheck.
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in
build)
  export GOTOOLCHAIN=go1.27.3 GOEXPERIMENT=simd CGO_ENABLED=1 GOOS=linux GOARCH=amd64
  mkdir -p .gpu
  go build -ldflags="-s -w" -o .gpu/gpucheck ./scripts/gpucheck
  ls -la .gpu/gpucheck
  ;;
run)
  out=${2:?usage: run OUT}
  mkdir -p "$out"
  py=$(command -v python3)
  site=$("$py" -c 'import site; print(site.getsitepackages()[0])')
  plugin=$(ls "$site"/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
  libs=$(ls -d "$site"/nvidia/*/lib 2>/dev/null | tr '\n' ':')
  export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:-}"
  export GOMLX_NO_AUTO_INSTALL=1 PYTHONUNBUFFERED=1
  if [ -d "$site/nvidia/cuda_nvcc" ]; then export XLA_FLAGS="--xla_gpu_cuda_data_dir=$site/nvidia/cuda_nvcc ${XLA_FLAGS:-}"; fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
  "$py" -c 'import torch, jax; print("torch", torch.__version__, "cuda", torch.version.cuda, "jax", jax.__version__)' | tee -a "$out/gpu.txt"
  echo "plugin: $plugin" | tee -a "$out/gpu.txt"
  "$py" captioner/testdata/gen_resnet_parity.py "$out/parity" --arch resnet50 --sizes 224,448
  "$py" captioner/testdata/gen_resnet_parity.py "$out/parity" --arch resnet18 --sizes 224
  status=0
  XDG_CACHE_HOME="$out/cache" .gpu/gpucheck -plugin "$plugin" -parity "$out/parity" -out "$out" -python "$py" "${@:3}" 2>&1 | tee "$out/log" || status=$?
  # Keep what comes back small: results, not models or data.
  rm -rf "$out/parity" "$out/cache" "$out"/run-shapes*/last "$out"/run-shapes*/best "$out"/run-shapes*/xe-best
  exit $status
  ;;
*)
  echo "usage: bash scripts/gpu/run.sh build | run OUT" >&2
  exit 2
  ;;
esac
