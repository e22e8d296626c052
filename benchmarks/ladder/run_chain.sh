#!/usr/bin/env bash
# Run one chain of a ladder rung — one dataset's stages 2-4 (every seed and method of the rung) for one reading of
# the paper's text — time it, render the rung over every dataset whose chain has finished, and copy the results into
# evidence/ladder/<rung>/ (no reading named) or evidence/ladder/<rung>/reading-<values>/ (readings presets stacked:
# workflow/presets/readings/<reading>.yaml), no checkpoints, no datasets. For rungs too long for one session
# (r4-paper-width): each finished chain is collected, and can be committed, before the next one starts.
#   benchmarks/ladder/run_chain.sh r4-paper-width dsprites literal --cores 1
#   benchmarks/ladder/run_chain.sh r4-paper-width shapes3d centred --cores 1
# A chain cut off by a session's end resumes from its last checkpoint when run again; give the seconds the cut-off run
# had spent up to that checkpoint with --resumed-after S: the chain's wall time is then S plus this run's, and
# rung.yaml says so (chains.<dataset>.note).
#   benchmarks/ladder/run_chain.sh r4-paper-width shapes3d centred --cores 1 --resumed-after 3868
# Stage 1 is the rung's own and is shared by every reading (it is trained by the first chain that needs it; its time
# is then part of that chain's). Two readings may run at once (two invocations, e.g. --cores 1 each): their results
# folders differ, and each only reads stage 1.
set -euo pipefail
usage="usage: run_chain.sh RUNG DATASET [READING ...] [--cores N] [--resumed-after SECONDS]"
rung="${1:?$usage}"
dataset="${2:?$usage}"
shift 2
readings=()
cores=2
before=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --cores) cores="${2:?--cores needs a number}"; shift 2 ;;
        --resumed-after)
            before="${2:?--resumed-after needs the seconds of the cut-off run}"
            [[ "$before" =~ ^[0-9]+$ ]] || { echo "run_chain.sh: --resumed-after takes whole seconds, got '$before'" >&2; exit 2; }
            shift 2 ;;
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
own=$(( $(date +%s) - start ))
wall=$(( before + own ))
note=()
if (( before > 0 )); then
    note=(--note "resumed from the checkpoint of a run cut off after ${before} s; this run ${own} s; wall_s is their sum")
fi
echo "[$(date -u +%FT%TZ)] ${name} ${dataset}: ${wall} s"
if [[ "${done_datasets}" != "${dataset}" ]]; then  # render over every finished chain (no training reruns)
    snakemake all --cores "${cores}" --configfile "${presets[@]}" --config "datasets=[${done_datasets}]"
fi
python -m vaesae.cli.ladder collect --rung "${name}" --presets "${presets[@]}" --chain "${dataset}" \
    --command "${cmd}" --wall-s "${wall}" --out "${out}" ${note[@]+"${note[@]}"}
