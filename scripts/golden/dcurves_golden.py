"""Golden net-benefit values from MSKCC's dcurves, for tests/stats/test_decision.py.

dcurves pulls lifelines, which needs pandas < 3, so it cannot live in the project's environment: run this
with a throwaway one, never with .venv:

    python3 -m venv /tmp/dca-venv && /tmp/dca-venv/bin/pip install dcurves==1.1.7
    /tmp/dca-venv/bin/python scripts/golden/dcurves_golden.py tests/stats/golden/dca_data.csv \
        tests/stats/golden/dca_results.csv
"""

import sys

import numpy as np
import pandas as pd
from dcurves import dca

data = pd.read_csv(sys.argv[1])
thresholds = np.round(np.arange(0.01, 1.0, 0.01), 2)
curves = dca(data=data, outcome="y", modelnames=["model_a", "model_b"], thresholds=thresholds)
out = curves[["model", "threshold", "net_benefit"]].copy()
out["threshold"] = out["threshold"].round(2)
out["model"] = out["model"].replace({"all": "Treat all", "none": "Treat none"})
out.to_csv(sys.argv[2], index=False, float_format="%.17g")
