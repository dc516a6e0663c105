#!/usr/bin/env bash
# Reproduce the demo weights in models/: a 400-case synthetic cohort (8:2 split), the tumor segmentation
# network and the P53 classifier trained with the bundle configs, their evaluation on the test split,
# and the figures of the model card (bench/bench_models.py). `make weights` runs this.
# Takes about an hour on 2 CPU cores; a GPU is used when torch sees one. Rerunning resumes where it stopped.
# Environment: RUNS (work folder, default runs), CASES (default 400), SEED (default 2026), PY (python).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
CASES=${CASES:-400}
SEED=${SEED:-2026}
PY=${PY:-.venv/bin/python}
HCCP53=(${PY} -m hccp53)

if [[ ! -f "$RUNS/cohort/datalist.json" ]]; then
  "${HCCP53[@]}" synth --cases "$CASES" --seed "$SEED" --profile small --no-preview --out "$RUNS/cohort" --overwrite
fi
"${HCCP53[@]}" train segmentation --datalist "$RUNS/cohort/datalist.json" --out "$RUNS/segmentation" --no-progress
# the classifier: the config's default recipe (docs/training.md), fold 0 held out for early stopping and calibration
"${HCCP53[@]}" train classifier --datalist "$RUNS/cohort/datalist.json" --out "$RUNS/classifier" --no-progress

cp "$RUNS/segmentation/tumor_segmentation.pt" "$RUNS/classifier/p53_classifier.pt" "$RUNS/classifier/network.json" models/
"$PY" -c "from hccp53.nets.weights import record_checksums; print(record_checksums('models'))"
"$PY" -m monai.bundle run --config_file configs/evaluate.yaml --datalist "$RUNS/cohort/datalist.json" \
  --models_dir models --output_dir "$RUNS/evaluation"
"$PY" bench/bench_models.py --cohort "$RUNS/cohort" --evaluation "$RUNS/evaluation" --out models/metrics.json
echo "make weights: models/ updated; update the figures in models/README.md from models/metrics.json."
