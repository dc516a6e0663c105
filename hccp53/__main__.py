"""``python -m hccp53`` is the ``hccp53`` command."""

from hccp53.cli import main

raise SystemExit(main())
