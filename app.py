"""hccp53 MONAI Deploy application (MAP entry point): DICOM study in, DICOM SR + SEG out.

This file will only wire operators (STYLE.md rule 1). The operators and the models they
need are built by the app issue; until then running it says so and exits non-zero, so
that nobody mistakes it for a working app.

Usage (once built): ``python app.py -i STUDY_DIR -o OUT_DIR -m models``
"""

import sys

NOT_BUILT = (
    "hccp53 app: the inference operators are not built yet (tracked by the app issue); "
    "`hccp53 synth` generates studies and `hccp53 describe` lists their series.\n"
)


def main() -> int:
    sys.stderr.write(NOT_BUILT)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
