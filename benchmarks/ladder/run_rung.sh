#!/usr/bin/env bash
# Run one rung of the scale ladder (workflow/presets/ladder/<rung>.yaml, README "What the evidence says so far")
# on this machine, time it, and copy its results into evidence/ladder/<rung>/ (no checkpoints, no datasets).
#   benchmarks/ladder/run_rung.sh r2-width [--cores 2]
# The preset is stacked on the quick preset; the wall time, the command and the resolved config are recorded.
set -euo pipefail
rung="${1:?usage: run_rung.sh RUNG [--cores N]}"
shift
cores=2
if [[ "${1:-}" == "--cores" ]]; then cores="${2:?--cores needs a number}"; fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
preset="workflow/presets/ladder/${rung}.yaml"
[[ -f "$preset" ]] || { echo "run_rung.sh: no preset $preset" >&2; exit 2; }
cmd="snakemake all --cores ${cores} --configfile workflow/presets/quick.yaml ${preset}"
echo "[$(date -u +%FT%TZ)] ${cmd}"
start=$(date +%s)
${cmd}
wall=$(( $(date +%s) - start ))
echo "[$(date -u +%FT%TZ)] ${rung}: ${wall} s"
python -m vaesae.cli.ladder collect --rung "${rung}" --presets workflow/presets/quick.yaml "${preset}" \
    --command "${cmd}" --wall-s "${wall}" --out "evidence/ladder/${rung}"
