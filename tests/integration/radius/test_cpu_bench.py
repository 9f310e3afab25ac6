"""`python -m bench.radius.cpu` answers every request it drives and prints one line per request kind."""

from __future__ import annotations

import json

from bench.radius import cpu


def test_cpu_bench_prints_cpu_per_access_and_accounting_request(capsys):
    cpu.main(["--batches", "2", "--batch", "30"])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"batch"')]
    assert [x["request"] for x in lines] == ["access_request", "accounting_request"]
    for line in lines:
        assert line["bench"] == "radius_cpu" and 0 < line["cpu_us_best"] <= line["cpu_us_median"]
