"""`python -m icaht_cli ...`: the same as `icaht-cds ...` (the demo starts the service so)."""

import sys

from icaht_cli.main import main

sys.exit(main())
