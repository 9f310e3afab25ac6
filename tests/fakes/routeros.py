"""The RouterOS API simulator now lives in :mod:`infra.local.routeros_sim` (the local stack runs it as
the demo gateway's router); this name stays importable, as the very same module object."""

import sys

from infra.local import routeros_sim
from infra.local.routeros_sim import *  # noqa: F403 - the names, for type checkers

sys.modules[__name__] = routeros_sim
