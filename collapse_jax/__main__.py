"""``python -m collapse_jax`` runs the command line."""

import sys

from collapse_jax.cli import main

sys.exit(main())
