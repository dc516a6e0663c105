"""Golden decision-curve values from MSKCC's dcurves 1.1.7, for tests/stats/test_decision.py.

Run it with a Python that has dcurves==1.1.7 installed, e.g. a throwaway virtual environment, never with
the project's .venv: dcurves pulls lifelines, which needs pandas < 3 and would downgrade the project's.

    python3 -m venv /tmp/dca-venv && /tmp/dca-venv/bin/pip install dcurves==1.1.7
    /tmp/dca-venv/bin/python scripts/golden/dcurves_golden.py tests/stats/golden/dca_data.csv \
        tests/stats/golden/dca_results.csv

Input: y (0/1), model_a, model_b (probabilities). Output: model ("Treat all" / "Treat none" for dcurves'
"all" / "none"), threshold (0.01 .. 0.99), net_benefit and net_intervention_avoided, 17 significant digits.
"""

import sys

import numpy as np
import pandas as pd
from dcurves import dca

data = pd.read_csv(sys.argv[1])
thresholds = np.round(np.arange(0.01, 1.0, 0.01), 2)
curves = dca(data=data, outcome="y", modelnames=["model_a", "model_b"], thresholds=thresholds)
out = curves[["model", "threshold", "net_benefit", "net_intervention_avoided"]].copy()
out["threshold"] = out["threshold"].round(2)
out["model"] = out["model"].replace({"all": "Treat all", "none": "Treat none"})
out.to_csv(sys.argv[2], index=False, float_format="%.17g")
