#!/usr/bin/env bash
# Reproduce the demo weights in models/: the tumor segmentation network (tumor and liver outputs) trained on
# a 400-case synthetic cohort of varied appearance (`--style varied`, 8:2 split), the P53 classifier trained on
# a separate 1,250-case cohort (1,000 training cases; the learning curve of docs/training.md), both with the
# bundle configs, their evaluation on the 80 test cases of a 400-case cohort of the default look (the same
# patients as the segmentation cohort), the figures of the model card (bench/bench_models.py) and tumor
# detection on a look neither network has seen (bench/bench_generalisation.py). `make weights` runs this.
# Takes about 2.5 hours on 2 CPU cores; a GPU is used when torch sees one. Rerunning resumes where it stopped.
# Environment: RUNS (work folder, default runs), CASES / SEED (segmentation cohort, default 400 / 2026),
# SEG_STYLE (its appearance, default varied), CLS_CASES / CLS_SEED (classifier cohort, default 1250 / 2027),
# PY (python).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
CASES=${CASES:-400}
SEED=${SEED:-2026}
SEG_STYLE=${SEG_STYLE:-varied}
CLS_CASES=${CLS_CASES:-1250}
CLS_SEED=${CLS_SEED:-2027}
PY=${PY:-.venv/bin/python}
HCCP53=(${PY} -m hccp53)

if [[ ! -f "$RUNS/cohort/datalist.json" ]]; then
  "${HCCP53[@]}" synth --cases "$CASES" --seed "$SEED" --profile small --no-preview --out "$RUNS/cohort" --overwrite
fi
if [[ ! -f "$RUNS/cohort_$SEG_STYLE/datalist.json" ]]; then
  "${HCCP53[@]}" synth --cases "$CASES" --seed "$SEED" --profile small --style "$SEG_STYLE" --no-preview \
    --out "$RUNS/cohort_$SEG_STYLE" --overwrite
fi
if [[ ! -f "$RUNS/cohort$CLS_CASES/datalist.json" ]]; then
  "${HCCP53[@]}" synth --cases "$CLS_CASES" --seed "$CLS_SEED" --profile small --no-preview \
    --out "$RUNS/cohort$CLS_CASES" --overwrite
fi
"${HCCP53[@]}" train segmentation --datalist "$RUNS/cohort_$SEG_STYLE/datalist.json" --out "$RUNS/segmentation" \
  --no-progress
# the classifier: the config's default recipe (docs/training.md), fold 0 held out for early stopping and calibration
"${HCCP53[@]}" train classifier --datalist "$RUNS/cohort$CLS_CASES/datalist.json" --out "$RUNS/classifier" \
  --no-progress

cp "$RUNS/segmentation/tumor_segmentation.pt" "$RUNS/segmentation/segmentation.json" "$RUNS/classifier/p53_classifier.pt" \
  "$RUNS/classifier/network.json" models/   # each network with its record: the trained-model folder
"$PY" -c "from hccp53.checksums import record_checksums; print(record_checksums('models'))"
# the segmentation network's lesion-confidence floor, set on two cohorts of its training look (never the held-out
# one) with the floor switched off; docs/segmentation.md
"$PY" bench/bench_generalisation.py --models models --styles "$SEG_STYLE" --cases 20 --without-floor \
  --lesions "$RUNS/floor_lesions_a.json"
"$PY" bench/bench_generalisation.py --models models --styles "$SEG_STYLE" --cases 20 --seed 7212 --without-floor \
  --lesions "$RUNS/floor_lesions_b.json"
"$PY" -m hccp53.model lesion-floor models --lesions "$RUNS/floor_lesions_a.json" "$RUNS/floor_lesions_b.json"
"$PY" -m monai.bundle run --config_file configs/evaluate.yaml --datalist "$RUNS/cohort/datalist.json" \
  --models_dir models --output_dir "$RUNS/evaluation"
"$PY" bench/bench_generalisation.py --models models --cases 20   # detection per look, into bench/results.json
"$PY" bench/bench_models.py --cohort "$RUNS/cohort" --evaluation "$RUNS/evaluation" --out models/metrics.json
echo "make weights: models/ updated; update the figures in models/README.md from models/metrics.json."
