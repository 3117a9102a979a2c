#!/usr/bin/env python3
"""Draws the sample problems the app offers on its first screen ("Try an example").

Each sample is an SVG drawn here (assets/samples/<id>.svg), rendered to the PNG the app attaches
(ui/public/samples/<id>.png, with ImageMagick's `convert`), and listed with its title and
suggested question in ui/src/examples/samples.json. Python's standard library only.

Rerun after changing a drawing:  python3 scripts/draw-samples.py
"""

import json
import math
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SVG_DIR = ROOT / "assets/samples"
PNG_DIR = ROOT / "ui/public/samples"
LIST = ROOT / "ui/src/examples/samples.json"
W, H = 560, 400
SANS = 'font-family="DejaVu Sans"'
SERIF = 'font-family="DejaVu Serif"'


def svg(body):
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">\n'
        f'<rect width="{W}" height="{H}" fill="white"/>\n{body}\n</svg>\n'
    )


def text(x, y, s, size=22, font=SANS, anchor="middle", style=""):
    return f'<text x="{x}" y="{y}" {font} font-size="{size}" text-anchor="{anchor}" {style}>{s}</text>'


def line(x1, y1, x2, y2, width=3, colour="black"):
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="{width}"/>'


def path(points, colour="black", width=3):
    """An open line through `points` (a polyline may be drawn closed by some renderers)."""
    d = " ".join(("M" if i == 0 else "L") + f"{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
    return f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-linejoin="round"/>'


def geometry():
    a, b, c = (110, 80), (110, 330), (470, 330)
    return svg(
        "\n".join(
            [
                f'<polygon points="{a[0]},{a[1]} {b[0]},{b[1]} {c[0]},{c[1]}" fill="none" stroke="black" stroke-width="3"/>',
                f'<polyline points="{b[0]},{b[1] - 24} {b[0] + 24},{b[1] - 24} {b[0] + 24},{b[1]}" fill="none" stroke="black" stroke-width="2"/>',
                text(a[0] - 22, a[1] + 4, "A", 26, SERIF, style='font-style="italic"'),
                text(b[0] - 22, b[1] + 22, "B", 26, SERIF, style='font-style="italic"'),
                text(c[0] + 20, c[1] + 22, "C", 26, SERIF, style='font-style="italic"'),
                text(b[0] - 28, (a[1] + b[1]) / 2 + 8, "5"),
                text((b[0] + c[0]) / 2, b[1] + 34, "12"),
                text((a[0] + c[0]) / 2 + 24, (a[1] + c[1]) / 2 - 14, "?"),
            ]
        )
    )


def graph():
    # y = x^2 - 4x + 3 for x in [-1, 5], y in [-2, 8].
    x0, x1, y0, y1 = -1, 5, -2, 8
    left, right, top, bottom = 60, 520, 30, 370

    def px(x):
        return left + (x - x0) / (x1 - x0) * (right - left)

    def py(y):
        return bottom - (y - y0) / (y1 - y0) * (bottom - top)

    parts = []
    for x in range(x0, x1 + 1):
        parts.append(line(px(x), top, px(x), bottom, 1, "#d8d8d8"))
        if x != 0:
            parts.append(text(px(x), py(0) + 24, str(x), 16))
    for y in range(y0, y1 + 1):
        parts.append(line(left, py(y), right, py(y), 1, "#d8d8d8"))
        if y != 0 and y % 2 == 0:
            parts.append(text(px(0) - 10, py(y) + 6, str(y), 16, anchor="end"))
    parts.append(line(left, py(0), right, py(0), 2))
    parts.append(line(px(0), top, px(0), bottom, 2))
    parts.append(text(right - 6, py(0) - 10, "x", 20, SERIF, style='font-style="italic"'))
    parts.append(text(px(0) + 16, top + 16, "y", 20, SERIF, style='font-style="italic"'))
    points = []
    steps = 120
    for i in range(steps + 1):
        x = -0.8 + i * (4.8 - -0.8) / steps
        y = x * x - 4 * x + 3
        points.append((px(x), py(y)))
    parts.append(path(points, "#1f5fbf"))
    parts.append(text(px(3.9), py(6.2), "y = x² − 4x + 3", 22, SERIF, anchor="end", style='fill="#1f5fbf"'))
    return svg("\n".join(parts))


def circuit():
    l, r, t, b = 150, 470, 90, 320
    parts = [
        # The loop, broken where the battery and the resistors sit.
        line(l, t, 230, t),
        line(330, t, 470, t),
        line(r, t, r, 160),
        line(r, 250, r, b),
        line(l, b, r, b),
        line(l, t, l, 170),
        line(l, 230, l, b),
        # Battery: long and short plates.
        line(l - 30, 170, l + 30, 170, 3),
        line(l - 16, 186, l + 16, 186, 6),
        line(l - 30, 206, l + 30, 206, 3),
        line(l - 16, 222, l + 16, 222, 6),
        line(l, 222, l, 230),
        text(l - 48, 205, "12 V", 22, anchor="end"),
        text(l + 24, 166, "+", 20),
    ]
    # Resistor R1 on the top wire, R2 on the right wire: zigzags.
    zig = [(230 + i * (100 / 6), t + (0 if i in (0, 6) else (-12 if i % 2 else 12))) for i in range(7)]
    parts.append(path(zig))
    parts.append(text(280, t - 26, "R₁ = 4 Ω"))
    zig = [(r + (0 if i in (0, 6) else (-12 if i % 2 else 12)), 160 + i * (90 / 6)) for i in range(7)]
    parts.append(path(zig))
    parts.append(text(r - 30, 212, "R₂ = 2 Ω", anchor="end"))
    return svg("\n".join(parts))


def bars():
    months = [("March", 42), ("April", 67), ("May", 55), ("June", 28)]
    left, bottom, top = 90, 340, 50
    scale = (bottom - top) / 80
    parts = [text(W / 2, 32, "Rainfall (mm)", 22)]
    for v in range(0, 81, 20):
        y = bottom - v * scale
        parts.append(line(left, y, W - 40, y, 1, "#d8d8d8"))
        parts.append(text(left - 10, y + 6, str(v), 16, anchor="end"))
    parts.append(line(left, bottom, W - 40, bottom, 2))
    parts.append(line(left, top - 10, left, bottom, 2))
    width = 70
    for i, (name, v) in enumerate(months):
        x = left + 30 + i * 105
        parts.append(f'<rect x="{x}" y="{bottom - v * scale}" width="{width}" height="{v * scale}" fill="#3a7bd5"/>')
        parts.append(text(x + width / 2, bottom - v * scale - 10, str(v), 20))
        parts.append(text(x + width / 2, bottom + 28, name, 18))
    return svg("\n".join(parts))


def molecule():
    # Ethanol, skeletal: the two carbons are the line's start and its bend; OH ends it.
    c1, c2, o = (170, 250), (270, 190), (352, 239)
    parts = [
        path([c1, c2, o], width=4),
        text(o[0] + 30, o[1] + 20, "OH", 30),
        text(W / 2, 340, "skeletal formula", 18, style='fill="#555"'),
    ]
    return svg("\n".join(parts))


def equation():
    return svg(
        "\n".join(
            [
                text(W / 2, 190, "3(x − 2) + 5 = 2x + 9", 40, SERIF),
                text(W / 2, 260, "Solve for x.", 24, SERIF, style='fill="#444"'),
            ]
        )
    )


SAMPLES = [
    ("right-triangle", "Right triangle", geometry,
     "In triangle ABC the angle at B is a right angle, AB = 5 and BC = 12. How long is AC, and what is the triangle's area?"),
    ("parabola", "Graph of a parabola", graph,
     "Where does this parabola cross the x-axis, and where is its vertex?"),
    ("series-circuit", "Series circuit", circuit,
     "What current flows in this circuit, and what is the voltage across R2?"),
    ("rainfall-bars", "Bar chart", bars,
     "Which month had the most rain, and what is the mean rainfall over the four months?"),
    ("ethanol", "Chemistry structure", molecule,
     "Name this molecule and give its molecular formula."),
    ("linear-equation", "Printed equation", equation,
     "Solve the equation for x and check your answer."),
]


def main():
    SVG_DIR.mkdir(parents=True, exist_ok=True)
    PNG_DIR.mkdir(parents=True, exist_ok=True)
    LIST.parent.mkdir(parents=True, exist_ok=True)
    listed = []
    for sample_id, title, draw, question in SAMPLES:
        source = SVG_DIR / f"{sample_id}.svg"
        source.write_text(draw(), encoding="utf-8")
        target = PNG_DIR / f"{sample_id}.png"
        subprocess.run(
            ["convert", "-density", "96", "-background", "white", str(source), "-flatten",
             "-define", "png:exclude-chunk=date,time", f"PNG24:{target}"],
            check=True,
        )
        listed.append({"id": sample_id, "title": title, "file": f"samples/{sample_id}.png", "question": question})
    LIST.write_text(json.dumps(listed, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"drew {len(listed)} samples into {SVG_DIR.relative_to(ROOT)} and {PNG_DIR.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
