#!/usr/bin/env python3
"""Writes the fixture benchmark of `onevision eval`'s tests (Python's standard library only):

  bench.tsv        VLMEvalKit's layout: index, image (base64 PNG), question, A-D, answer, level, subject
  bench.jsonl      the same items as JSON lines
  replies.json     for each index, the reply a recorded server sends (every shape the rules read),
                   the judge's word for the replies the rules cannot read, and trouble to cause
  expected.json    the summaries a correct run must give, counted here from the hand-set verdicts

The pictures are drawn here: a triangle, bars, a circuit-like loop, parallel lines, a circle.
Rerun after changing an item:  python3 tests/eval/make_fixture.py
"""

import base64
import json
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent / "fixtures"
W, H = 64, 56


def png(pixels):
    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in pixels)

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    head = struct.pack(">IIBBBBB", len(pixels[0]), len(pixels), 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def canvas():
    return [[(255, 255, 255) for _ in range(W)] for _ in range(H)]


def line(p, x0, y0, x1, y1, color=(20, 20, 20)):
    n = max(abs(x1 - x0), abs(y1 - y0), 1)
    for i in range(n + 1):
        x = round(x0 + (x1 - x0) * i / n)
        y = round(y0 + (y1 - y0) * i / n)
        if 0 <= x < W and 0 <= y < H:
            p[y][x] = color


def rect(p, x0, y0, x1, y1, color):
    for y in range(y0, y1):
        for x in range(x0, x1):
            p[y][x] = color


def triangle():
    p = canvas()
    line(p, 8, 48, 56, 48)
    line(p, 8, 48, 8, 10)
    line(p, 8, 10, 56, 48)
    return p


def bars():
    p = canvas()
    for i, h in enumerate([20, 34, 12, 42]):
        rect(p, 6 + i * 14, 50 - h, 16 + i * 14, 50, (37, 99, 235))
    line(p, 2, 50, 62, 50)
    return p


def loop():
    p = canvas()
    for a, b in [((10, 10), (54, 10)), ((54, 10), (54, 46)), ((54, 46), (10, 46)), ((10, 46), (10, 10))]:
        line(p, *a, *b)
    rect(p, 28, 6, 36, 14, (220, 38, 38))
    return p


def parallels():
    p = canvas()
    line(p, 4, 16, 60, 16)
    line(p, 4, 40, 60, 40)
    line(p, 14, 52, 50, 4, (22, 163, 74))
    return p


def circle():
    p = canvas()
    for t in range(360):
        import math

        x = 32 + 20 * math.cos(math.radians(t))
        y = 28 + 20 * math.sin(math.radians(t))
        p[round(y)][round(x)] = (20, 20, 20)
    line(p, 32, 28, 52, 28, (220, 38, 38))
    return p


PICTURES = {"triangle": triangle, "bars": bars, "loop": loop, "parallels": parallels, "circle": circle}
B64 = {k: base64.b64encode(png(f())).decode() for k, f in PICTURES.items()}

J, S, C, T = "junior high school", "high school", "college", "social test"

# index, level, subject, picture, question, options, answer, reply, verdict by the rules
# ("correct" | "wrong" | "undecided"), and for undecided ones what the judge says.
ITEMS = [
    (1, J, "math", "triangle", "The legs are 3 and 4. How long is the hypotenuse?", None, "5",
     "<think>\n3^2+4^2=25.\n</think>\n\n<answer>\\boxed{5}</answer>", "correct", None),
    (2, J, "math", "parallels", "Angle 1 is 50°. What is angle 2?", ["40°", "50°", "130°", "140°"], "C",
     "<think>\nCo-interior angles: 180-50=130, option C.\n</think>\n\n<answer>C</answer>", "correct", None),
    (3, J, "physics", "loop", "How many bulbs are in the loop?", None, "1",
     "<think>\nI count one bulb, or maybe B.\n</think>\n\n<answer>There are two bulbs.</answer>", "undecided", "INCORRECT"),
    (4, J, "biology", "circle", "The cell's radius is 2 µm. What is its diameter in µm?", None, "4",
     "<think>\nd = 2r = 4\n</think>\n\n<answer>4 µm</answer>", "correct", None),
    (5, J, "deduction", "bars", "Which bar is tallest?", ["first", "second", "third", "fourth"], "D",
     "<think>\nThe answer is A? No: the fourth bar is tallest.\n</think>\n\n<answer>The fourth bar is tallest, so the answer is (d).</answer>", "correct", None),
    (6, J, "chemistry", "bars", "How many bars are drawn?", None, "4",
     "<think>\nFour bars.\n</think>", "wrong", None),
    (7, J, "math", "triangle", "What is the area of the right triangle with legs 3 and 4?", None, "6",
     "<think>\nHalf of 3 times 4.\n</think>\n\n<answer>\\boxed{6 \\text{ cm}^2}</answer>", "correct", None),
    (8, S, "math", "circle", "What is the area of a circle of radius 1?", ["1", "2", "\\pi", "2\\pi"], "C",
     "<think>\nA = pi r^2 = pi.\n</think>\n\nThe area is $\\pi$, so the answer is $\\boxed{C}$.", "correct", None),
    (9, S, "math", "triangle", "What is sin 30°?", None, "0.5",
     "<think>\nsin 30 = 1/2\n</think>\n\n<answer>$\\boxed{\\dfrac{1}{2}}$</answer>", "correct", None),
    (10, S, "physics", "loop", "A 6 V source drives 2 A. What is the resistance in ohms?", None, "3",
     "Using Ohm's law, R = V / I = 6 / 2 = 3.\n\n**Answer:** 3 Ω", "correct", None),
    (11, S, "physics", "bars", "Which bar shows the largest force?", ["first", "second", "third", "fourth"], "D",
     "Comparing the heights, the second bar looks largest.\nTherefore, the correct option is (B).", "wrong", None),
    (12, S, "chemistry", "circle", "How many electrons does a neutral carbon atom have?", None, "6",
     "<think>\nCarbon is element 6.\n</think>\n\n<answer>6</answer>", "correct", None),
    (13, S, "biology", "parallels", "What is the probability of a recessive phenotype from Aa x Aa?", None, "0.25",
     "<think>\n1/4 of offspring are aa.\n</think>\n\n<answer>\\boxed{\\frac{1}{4}}</answer>", "correct", None),
    (14, S, "deduction", "bars", "What comes next: 2, 4, 8, 16?", None, "32",
     "<think>\nDoubling.\n</think>\n\n<answer>\\boxed{31}</answer>", "wrong", None),
    (15, S, "math", "triangle", "Simplify sqrt(12).", None, "2\\sqrt{3}",
     "<think>\n12 = 4*3\n</think>\n\n<answer>\\boxed{2\\sqrt{3}}</answer>", "correct", None),
    (16, C, "math", "circle", "What is the derivative of x^2 at x = 3?", None, "6",
     "<think>\nf'(x) = 2x, so 6.\n</think>\nThe derivative is 2x; at x = 3 it equals $\\boxed{6}$.", "correct", None),
    (17, C, "math", "triangle", "Evaluate the integral of 2x from 0 to 1.", ["0", "1", "2", "1/2"], "B",
     "<think>\n[x^2] from 0 to 1 = 1.\n</think>\n\n<answer>Answer: B</answer>", "correct", None),
    (18, C, "physics", "loop", "What is the period of a 50 Hz signal in seconds?", None, "0.02",
     "<think>\nT = 1/f\n</think>\n\n<answer>\\boxed{0.020 s}</answer>", "correct", None),
    (19, C, "physics", "bars", "Which graph shape shows constant acceleration?", ["line", "parabola", "circle", "step"], "A",
     "<think>\nVelocity grows linearly.\n</think>\n\n<answer>\\boxed{\\text{parabola}}</answer>", "wrong", None),
    (20, C, "chemistry", "circle", "What is the pH of 0.01 M HCl?", None, "2",
     "<think>\n-log(0.01) = 2\n</think>\n\n<answer>The pH is about two, since the acid is strong.</answer>", "undecided", "CORRECT"),
    (21, C, "biology", "parallels", "How many chromosomes does a human gamete carry?", None, "23",
     "<think>\nHaploid: 23.\n</think>\n\n<answer>\\boxed{23}</answer>", "correct", None),
    (22, C, "deduction", "loop", "Which shape has no corners?", ["square", "triangle", "circle", "hexagon"], "C",
     "The shape without corners is a circle.\nThe answer is circle.", "correct", None),
    (23, T, "math", "bars", "A shirt costs 20 and is 25% off. What is the new price?", None, "15",
     "<think>\n20*0.75\n</think>\n\n<answer>\\boxed{15}</answer>", "correct", None),
    (24, T, "deduction", "parallels", "If all A are B and x is A, is x B?", ["yes", "no", "unknown", "both"], "A",
     "<think>\nSyllogism.\n</think>\n\n<answer>Yes, x must be B because every A is B and x is an A.</answer>", "undecided", "CORRECT"),
    (25, T, "math", "circle", "A pizza of radius 10 is cut into 4 equal slices. What fraction is one slice?", None, "0.25",
     "<think>\nOne of four.\n</think>\n\n<answer>0.2</answer>", "wrong", None),
    (26, T, "physics", "loop", "A car travels 100 km in 2 h. What is its speed in km/h?", None, "50",
     "<think>\n100/2\n</think>\n\n<answer>50 km/h</answer>", "correct", None),
    (27, T, "biology", "bars", "Which bar is the shortest?", ["first", "second", "third", "fourth"], "C",
     "<think>\nThe third is shortest: C.", "wrong", None),
    (28, T, "chemistry", "triangle", "How many atoms are in one molecule of water?", None, "3",
     "<think>\nH2O.\n</think>\n\n<answer>\\boxed{3}</answer>", "correct", None),
    (29, J, "math", "bars", "Two pictures: which is taller, the first bar or the line?", ["bar", "line"], "A",
     "<think>\nCompare.\n</think>\n\n<answer>(a)</answer>", "correct", None),
    (30, S, "math", "triangle", "Same triangle: what is its perimeter?", None, "12",
     "<think>\n3+4+5\n</think>\n\n<answer>\\boxed{12}</answer>", "correct", None),
]

# Items that share item 1's picture by index (VLMEvalKit's way), carry two pictures, or whose
# picture is broken; the row that cannot be read at all.
SHARED_PICTURE = 30
TWO_PICTURES = 29
BROKEN_PICTURE = 31
BROKEN_ROW_INDEX = 32

# Trouble a recorded server causes once before answering: a 503, a stream cut mid-answer.
TROUBLE = {"7": "503", "16": "drop"}


def tsv_field(s):
    s = str(s)
    if any(c in s for c in '\t\n"'):
        return '"' + s.replace('"', '""') + '"'
    return s


def main():
    HERE.mkdir(parents=True, exist_ok=True)
    header = ["index", "image", "question", "A", "B", "C", "D", "answer", "level", "subject"]
    rows, jsonl, replies = [], [], {}
    for (i, level, subject, pic, q, options, answer, reply, verdict, judge) in ITEMS:
        opts = (options or []) + [""] * (4 - len(options or []))
        image = B64[pic]
        if i == SHARED_PICTURE:
            image = "1"
        if i == TWO_PICTURES:
            image = "['%s', '%s']" % (B64["bars"], B64["parallels"])
        rows.append([i, image, q, *opts, answer, level, subject])
        obj = {"index": i, "question": q, "answer": answer, "level": level, "subject": subject}
        obj["image"] = [B64["bars"], B64["parallels"]] if i == TWO_PICTURES else (image if i != SHARED_PICTURE else "1")
        for letter, text in zip("ABCD", opts):
            if text:
                obj[letter] = text
        jsonl.append(obj)
        replies[str(i)] = {"question": q, "reply": reply, "verdict": verdict, "judge": judge}
    # A picture that is not one: the item fails, nothing is sent.
    q = "What does this broken picture show?"
    rows.append([BROKEN_PICTURE, base64.b64encode(b"this is not a picture " * 4).decode(), q, "", "", "", "", "1", C, "math"])
    jsonl.append({"index": BROKEN_PICTURE, "image": base64.b64encode(b"this is not a picture " * 4).decode(),
                  "question": q, "answer": "1", "level": C, "subject": "math"})
    lines = ["\t".join(header)] + ["\t".join(tsv_field(v) for v in r) for r in rows]
    # A row with fields missing, between two good ones.
    lines.insert(8, "\t".join([str(BROKEN_ROW_INDEX), "", "A row cut short"]))
    (HERE / "bench.tsv").write_text("\n".join(lines) + "\n")
    jl = [json.dumps(o, ensure_ascii=False) for o in jsonl]
    jl.insert(7, '{"index": %d, "question": "A line cut sh' % BROKEN_ROW_INDEX)
    (HERE / "bench.jsonl").write_text("\n".join(jl) + "\n")
    (HERE / "replies.json").write_text(json.dumps({"items": replies, "trouble": TROUBLE}, indent=1, ensure_ascii=False) + "\n")

    def summary(with_judge):
        def tally():
            return {"correct": 0, "total": 0}

        overall, by = tally(), {"level": {}, "subject": {}}
        for (i, level, subject, _, _, _, _, _, verdict, judge) in ITEMS:
            ok = verdict == "correct" or (with_judge and verdict == "undecided" and judge == "CORRECT")
            for t in [overall, by["level"].setdefault(level, tally()), by["subject"].setdefault(subject, tally())]:
                t["correct"] += ok
                t["total"] += 1
        # The broken picture counts in its groups and the totals; the broken row only in the totals.
        for t in [overall, by["level"].setdefault(C, tally()), by["subject"].setdefault("math", tally())]:
            t["total"] += 1
        overall["total"] += 1
        return {"overall": overall, "by": by, "failed": sorted([str(BROKEN_PICTURE), str(BROKEN_ROW_INDEX)])}

    methods = {"rules": sum(1 for it in ITEMS if it[8] != "undecided"),
               "undecided": sum(1 for it in ITEMS if it[8] == "undecided")}
    (HERE / "expected.json").write_text(json.dumps(
        {"without_judge": summary(False), "with_judge": summary(True), "methods": methods}, indent=1) + "\n")


if __name__ == "__main__":
    main()
