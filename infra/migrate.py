"""Migrate the data of an existing stage to the current models (indexes, backfilled attributes).

    .venv/bin/python -m infra.migrate          # settings from the environment, like the functions

Safe to run twice: see ``store.migrate``. Prints what it changed as one JSON object.
"""

from __future__ import annotations

import dataclasses
import json

from composition import init_runtime
from shared.settings import get_settings
from store.migrate import migrate


def main() -> None:
    rt = init_runtime(get_settings())  # the tables, and the encryption of secrets stored in clear
    print(json.dumps(dataclasses.asdict(migrate(wait=True, encrypt=rt.box.encrypt)), sort_keys=True))


if __name__ == "__main__":
    main()
