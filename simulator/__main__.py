"""``python -m simulator``: the simulator's command line (see ``simulator.cli``)."""

import logging

from simulator.cli import main

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
raise SystemExit(main())
