"""Draws docs/modulation.png: the rate each degradation algorithm gives against traffic used.

Usage: python -m infra.plot_modulation [output.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

from core.modulation import Algorithm, modulate_rate

COLORS = {
    Algorithm.VERY_LOW: (0, 170, 0),
    Algorithm.LOW: (30, 90, 230),
    Algorithm.LINEAR: (220, 180, 0),
    Algorithm.MEDIUM: (200, 0, 200),
    Algorithm.HIGH: (220, 30, 30),
    Algorithm.MIN_AT_MAX: (0, 90, 40),
}
W, H, M = 900, 560, 70
BASE, MINIMUM = 10_000_000, 2_000_000


def draw(path: Path) -> None:
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = M, M // 2, W - 230, H - M

    def px(ratio: float, rate: float) -> tuple[float, float]:
        return x0 + (x1 - x0) * ratio / 1.2, y1 - (y1 - y0) * rate / BASE

    for i in range(0, 7):
        r = i * 0.2
        x, _ = px(r, 0)
        d.line([(x, y0), (x, y1)], fill=(225, 225, 225))
        d.text((x - 12, y1 + 8), f"{int(r * 100)}%", fill="black")
    for mbit in range(0, 11, 2):
        _, y = px(0, mbit * 1_000_000)
        d.line([(x0, y), (x1, y)], fill=(225, 225, 225))
        d.text((x0 - 50, y - 6), f"{mbit} Mbit/s", fill="black")
    d.rectangle([x0, y0, x1, y1], outline="black")
    for alg, color in COLORS.items():
        points = [px(i / 240, modulate_rate(BASE, MINIMUM, alg, i / 240)) for i in range(0, 289)]
        d.line(points, fill=color, width=3)
    d.text((x0, H - 28), "traffic used / maximum traffic in the period", fill="black")
    d.text((x0, 8), "Rate modulation by traffic: policy rate 10 Mbit/s, minimum 2 Mbit/s", fill="black")
    for i, (alg, color) in enumerate(COLORS.items()):
        y = y0 + 20 + i * 26
        d.line([(x1 + 20, y + 6), (x1 + 60, y + 6)], fill=color, width=4)
        d.text((x1 + 68, y), alg.value.replace("_", " "), fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


if __name__ == "__main__":
    out = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parent.parent / "docs" / "modulation.png"
    )
    draw(out)
    print(f"wrote {out}")
