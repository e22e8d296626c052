#!/usr/bin/env bash
# Run one chain of a ladder rung — one dataset's stages 2-4 (every seed and method of the rung) for one reading of
# the paper's text — time it, render the rung over every dataset whose chain has finished, and copy the results into
# evidence/ladder/<rung>/ (no reading named) or evidence/ladder/<rung>/reading-<values>/ (readings presets stacked:
# workflow/presets/readings/<reading>.yaml), no checkpoints, no datasets. For rungs too long for one session
# (r4-paper-width): each finished chain is collected, and can be committed, before the next one starts.
#   benchmarks/ladder/run_chain.sh r4-paper-width dsprites literal --cores 1
#   benchmarks/ladder/run_chain.sh r4-paper-width shapes3d centred --cores 1
# Stage 1 is the rung's own and is shared by every reading (it is trained by the first chain that needs it; its time
# is then part of that chain's). Two readings may run at once (two invocations, e.g. --cores 1 each): their results
# folders differ, and each only reads stage 1.
set -euo pipefail
rung="${1:?usage: run_chain.sh RUNG DATASET [READING ...] [--cores N]}"
dataset="${2:?usage: run_chain.sh RUNG DATASET [READING ...] [--cores N]}"
shift 2
readings=()
cores=2
while [[ $# -gt 0 ]]; do
    case "$1" in
        --cores) cores="${2:?--cores needs a number}"; shift 2 ;;
        *) readings+=("$1"); shift ;;
    esac
done
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
presets=(workflow/presets/quick.yaml "workflow/presets/ladder/${rung}.yaml")
for r in "${readings[@]}"; do presets+=("workflow/presets/readings/${r}.yaml"); done
for p in "${presets[@]}"; do [[ -f "$p" ]] || { echo "run_chain.sh: no preset $p" >&2; exit 2; }; done
name="${rung}"
if [[ ${#readings[@]} -gt 0 ]]; then  # the variant folder the readings presets resolve to (reading-<values>)
    name+="/$(python -c "import sys; from vaesae import workflow as wf; print(wf.Paths.of(wf.load_config(*sys.argv[1:])).results_dir.rsplit('/', 1)[1])" "${presets[@]}")"
fi
out="evidence/ladder/${name}"
# the datasets whose chains were collected before, plus this one: the rung is rendered over all of them
done_datasets=$(python - "$out/rung.yaml" "$dataset" <<'EOF'
import sys
from pathlib import Path

import yaml

meta = Path(sys.argv[1])
chains = list(((yaml.safe_load(meta.read_text()) or {}).get("chains") or {}) if meta.is_file() else [])
print(",".join(dict.fromkeys([*chains, sys.argv[2]])))
EOF
)
cmd="snakemake all --cores ${cores} --configfile ${presets[*]} --config datasets=[${dataset}]"
echo "[$(date -u +%FT%TZ)] ${cmd}"
start=$(date +%s)
${cmd}
wall=$(( $(date +%s) - start ))
echo "[$(date -u +%FT%TZ)] ${name} ${dataset}: ${wall} s"
if [[ "${done_datasets}" != "${dataset}" ]]; then  # render over every finished chain (no training reruns)
    snakemake all --cores "${cores}" --configfile "${presets[@]}" --config "datasets=[${done_datasets}]"
fi
python -m vaesae.cli.ladder collect --rung "${name}" --presets "${presets[@]}" --chain "${dataset}" \
    --command "${cmd}" --wall-s "${wall}" --out "${out}"
