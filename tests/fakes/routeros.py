"""The RouterOS API simulator now lives in :mod:`infra.local.routeros_sim` (the local stack runs it as
the demo gateway's router); this name stays importable, as the very same module object."""

import sys

from infra.local import routeros_sim

sys.modules[__name__] = routeros_sim
