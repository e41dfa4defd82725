"""``python -m benchmark`` runs the ``busbench`` command."""

import sys

from benchmark.cli import main

sys.exit(main())
