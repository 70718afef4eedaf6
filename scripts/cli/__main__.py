"""``python -m stateful_rl.cli``: the ``stateful-rl`` command."""

import sys

from stateful_rl.cli.main import main

sys.exit(main())
