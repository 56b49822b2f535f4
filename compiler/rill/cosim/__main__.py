"""`python -m rill.cosim RUN_DIR`: the accelerator bench on a saved run image, without pytest."""

import sys

from .cli import replay_main

sys.exit(replay_main())
