#!/usr/bin/env bash
# Create the benchmark environment: our package plus the peer libraries (Darts, NeuralForecast),
# kept apart from the project's own venv so the peers' many dependencies never leak into it.
#
#   bash benchmarks/setup_bench.sh            # creates .venv-bench/ in the repository root
#   BENCH_VENV=/tmp/vb bash benchmarks/setup_bench.sh
#
# torch stays at the CPU build pinned in constraints.txt (2.13.0): the install is first resolved
# with --dry-run and refused if it would pull any CUDA wheel (nvidia-*) or another torch.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BENCH_VENV:-$root/.venv-bench}"
python="${PYTHON:-python3}"
constraints=(-c "$root/constraints.txt" -c "$root/benchmarks/constraints-bench.txt")

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip)

# 1. torch first, exactly the pinned CPU build.
torch_pin="$(grep -i '^torch==' "$root/constraints.txt")"
"${pip[@]}" install --quiet "$torch_pin"

# 2. Resolve everything without installing; refuse CUDA wheels or a different torch.
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
"${pip[@]}" install --quiet --dry-run --ignore-installed --report "$report" "${constraints[@]}" \
    -e "$root[bench]"
"$venv/bin/python" - "$report" "$torch_pin" <<'PY'
import json, sys
report, pin = json.load(open(sys.argv[1])), sys.argv[2].split("==")[1]
names = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in report["install"]}
cuda = sorted(n for n in names if n.startswith(("nvidia-", "triton", "cuda-")))
if cuda:
    sys.exit(f"refusing to install: the resolution pulls CUDA packages {', '.join(cuda)}")
if "torch" in names and names["torch"].split("+")[0] != pin:
    sys.exit(f"refusing to install: the resolution wants torch {names['torch']}, the pin is {pin}")
print(f"resolved {len(names)} packages, no CUDA wheels, torch {names.get('torch', pin)}")
PY

# 3. Install for real: our package (editable) with its [bench] extra (the peers), under the same constraints.
"${pip[@]}" install --quiet "${constraints[@]}" -e "$root[bench]"
"$venv/bin/python" -c "import torch, darts, neuralforecast, lstm_forecaster; \
print('torch', torch.__version__, '| darts', darts.__version__, '| neuralforecast', neuralforecast.__version__, \
'| lstm_forecaster', lstm_forecaster.__version__)"
