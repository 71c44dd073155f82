#!/usr/bin/env bash
# Installs llama-cpp-python into .venv for the llama.cpp export checks
# (tests/test_export_llamacpp.py, benchmarks/export_agreement.py). It compiles llama.cpp from
# source (minutes: 31 here on 2 busy cores), so it is not part of `make setup`: the wheel is built once into
# $ONCOGPT_WHEEL_CACHE (default ~/.cache/oncogpt/wheels) and reused; CI caches that folder.
#   scripts/setup-llamacpp.sh                 build if needed, install
#   scripts/setup-llamacpp.sh --cached-only   install only a cached wheel, never compile
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.3.36
CACHE=${ONCOGPT_WHEEL_CACHE:-$HOME/.cache/oncogpt/wheels}
# Portable x86-64 flags (AVX2/FMA/F16C, as every CI runner has) so a cached wheel runs on the
# next machine too; no llava: OncoGPT is text only.
FLAGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
if .venv/bin/python -c "import importlib.metadata as m; assert m.version('llama_cpp_python') == '$VERSION'" 2>/dev/null; then
  exit 0
fi
wheel=$(ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  if [ "${1:-}" = "--cached-only" ]; then
    echo "setup-llamacpp: no cached wheel in $CACHE; the llama.cpp tests will skip (make llamacpp builds it)"
    exit 0
  fi
  mkdir -p "$CACHE"
  echo "setup-llamacpp: compiling llama-cpp-python $VERSION (minutes; once)"
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} CMAKE_ARGS="$FLAGS" \
    .venv/bin/python -m pip wheel --quiet --no-deps --no-binary llama-cpp-python \
    -w "$CACHE" "llama-cpp-python==$VERSION"
  wheel=$(ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl | head -1)
fi
# diskcache: llama_cpp imports it; the rest: llama_cpp.server, a --backend in the tests
.venv/bin/python -m pip install --quiet "diskcache==5.6.3" "sse-starlette==3.0.3" \
  "starlette-context==0.3.6" "pydantic-settings==2.11.0" "$wheel"
echo "setup-llamacpp: installed $(basename "$wheel")"
