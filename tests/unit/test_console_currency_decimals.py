"""The console enters amounts with the decimals of their currency: its table of currencies whose minor
unit is not 2 decimals (web/src/ui/format.ts) is the one the API rounds amounts with."""

from __future__ import annotations

import re
from pathlib import Path

from core import money

FORMAT_TS = Path(__file__).resolve().parents[2] / "web" / "src" / "ui" / "format.ts"


def test_the_console_knows_the_decimals_of_every_currency_the_api_rounds_otherwise() -> None:
    text = FORMAT_TS.read_text()
    table = re.search(r"const CURRENCY_DECIMALS: Record<string, number> = \{(.*?)\};", text, re.S)
    assert table, "format.ts has no CURRENCY_DECIMALS table"
    console = {code: int(n) for code, n in re.findall(r"([A-Z]{3}): (\d+)", table.group(1))}
    assert console == money._EXPONENTS
