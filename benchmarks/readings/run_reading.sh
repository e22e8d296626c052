#!/usr/bin/env bash
# Run one reading of the paper's text on one rung of the scale ladder (docs/EVIDENCE.md, "The readings study"), time
# it, and copy its results into evidence/readings/<rung>/<variant>/ (no checkpoints, no datasets).
#   benchmarks/readings/run_reading.sh r3-converged centred [distribution] [--cores 2]
# The readings presets (workflow/presets/readings/<reading>.yaml) are stacked on the quick preset and the rung. Each
# sets `variant: auto`: its results land in results/ladder/<rung>/reading-<...>/, and stage 1 (the VAE) is the rung's
# own, in results/ladder/<rung>/, trained once and shared by every reading (rung.yaml records its sha256).
set -euo pipefail
rung="${1:?usage: run_reading.sh RUNG READING [READING ...] [--cores N]}"
shift
readings=()
cores=2
while [[ $# -gt 0 ]]; do
    case "$1" in
        --cores) cores="${2:?--cores needs a number}"; shift 2 ;;
        *) readings+=("$1"); shift ;;
    esac
done
[[ ${#readings[@]} -gt 0 ]] || { echo "run_reading.sh: name at least one reading (workflow/presets/readings/)" >&2; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
presets=(workflow/presets/quick.yaml "workflow/presets/ladder/${rung}.yaml")
for r in "${readings[@]}"; do presets+=("workflow/presets/readings/${r}.yaml"); done
for p in "${presets[@]}"; do [[ -f "$p" ]] || { echo "run_reading.sh: no preset $p" >&2; exit 2; }; done
variant=$(python -c "import sys; from vaesae import workflow as wf; print(wf.Paths.of(wf.load_config(*sys.argv[1:])).results_dir.rsplit('/', 1)[1])" "${presets[@]}")
cmd="snakemake all --cores ${cores} --configfile ${presets[*]}"
echo "[$(date -u +%FT%TZ)] ${cmd}"
start=$(date +%s)
${cmd}
wall=$(( $(date +%s) - start ))
echo "[$(date -u +%FT%TZ)] ${rung} ${variant}: ${wall} s"
python -m vaesae.cli.ladder collect --rung "${variant}" --presets "${presets[@]}" \
    --command "${cmd}" --wall-s "${wall}" --out "evidence/readings/${rung}/${variant}"
