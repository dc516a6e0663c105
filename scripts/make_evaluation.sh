#!/usr/bin/env bash
# Reproduce the papers' evaluation on the synthetic cohort of `make weights`: train the classifiers the
# papers compare (single-sequence T2, AP, PVP, HBP; multi-channel T2+AP+PVP and T2+AP+PVP+HBP; feature
# fusion T2+AP+PVP), then `hccp53 evaluate` fits the radiomics, clinical and combined models on the
# training split and writes the report. `make evaluation` runs this (after `make weights`, whose cohort
# it reuses). Takes about an hour on 2 CPU cores; a GPU is used when torch sees one. `make evaluation SET=seed1`
# (or seed2) runs a model set instead: scripts/model_set.py, docs/evaluation.md "Model sets".
# Environment: RUNS (work folder, default runs), PY (python), CV (cross-validation folds, default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
PY=${PY:-.venv/bin/python}
CV=${CV:-5}
HCCP53=(${PY} -m hccp53)
DATALIST="$RUNS/cohort/datalist.json"

if [[ ! -f "$DATALIST" ]]; then
  echo "make evaluation: $DATALIST is missing; run \`make weights\` first (it makes the cohort)." >&2
  exit 1
fi

# name phases fusion
MODELS=(
  "T2 t2 multichannel"
  "AP ap multichannel"
  "PVP pvp multichannel"
  "HBP hbp multichannel"
  "MC t2,ap,pvp multichannel"
  "MC_HBP t2,ap,pvp,hbp multichannel"
  "FF t2,ap,pvp feature"
)
ARGS=()
for model in "${MODELS[@]}"; do
  read -r name phases fusion <<<"$model"
  out="$RUNS/zoo/$name"
  if [[ ! -f "$out/p53_classifier.pt" ]]; then
    # studies done with an extracellular agent have no hepatobiliary phase: HBP models train without them
    "${HCCP53[@]}" train classifier --datalist "$DATALIST" --out "$out" --phases "$phases" \
      --set "fusion=$fusion" --set incomplete_cases=skip --no-progress
  fi
  ARGS+=("$name=$out")
done

# The combined model takes the network with the best held-out AUC. One fold per network leaves its training
# scores in-sample (the report says the combined model's training figures are optimistic); `--fold all`
# networks give out-of-fold stacking (docs/evaluation.md), at k times the training.
"${HCCP53[@]}" evaluate --datalist "$DATALIST" --models "${ARGS[@]}" --cv "$CV" \
  --radiomics-cache "$RUNS/radiomics_features.csv" --out "$RUNS/report" --overwrite
echo "make evaluation: report in $RUNS/report/report.html"
