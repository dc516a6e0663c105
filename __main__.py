"""``python -m <app folder>`` and ``python <app folder>`` run the MONAI Deploy app in ``app.py``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app import main  # noqa: E402

raise SystemExit(main())
