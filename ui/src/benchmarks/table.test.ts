import { describe, expect, it } from "vitest";
import type { EvalSummary } from "../ipc/types";
import { compare, stageGrid } from "./table";

const t = (correct: number, total: number) => ({ correct, total, accuracy: total ? correct / total : 0 });

function summary(over: Partial<EvalSummary> = {}): EvalSummary {
  return {
    overall: t(3, 5),
    by: {
      level: { college: t(1, 2), "junior high school": t(2, 3) },
      subject: { math: t(2, 3), physics: t(1, 2) },
    },
    order: { level: ["junior high school", "college"], subject: ["physics", "math"] },
    failed: [],
    methods: { rules: 5 },
    stage_column: "level",
    subject_column: "subject",
    run: { data: "b.tsv", model: "m", preset: "plain", asked: 5, seconds: 1 },
    ...over,
  };
}

const items = [
  { groups: { level: "junior high school", subject: "math" }, correct: true },
  { groups: { level: "junior high school", subject: "math" }, correct: true },
  { groups: { level: "junior high school", subject: "physics" }, correct: false },
  { groups: { level: "college", subject: "physics" }, correct: true },
  { groups: { level: "college", subject: "math" }, correct: false },
];

describe("stageGrid", () => {
  it("lays stages against subjects in the file's order, with margins from the summary", () => {
    const g = stageGrid(summary(), items);
    expect(g.rowHeader).toBe("level \\ subject");
    expect(g.columns).toEqual(["physics", "math", "all"]);
    expect(g.rows.map((r) => r.name)).toEqual(["junior high school", "college", "all"]);
    expect(g.rows[0]?.cells.map((c) => c.text)).toEqual(["0.0 %", "100.0 %", "66.7 %"]);
    expect(g.rows[1]?.cells.map((c) => c.title)).toEqual(["1 of 1 correct", "0 of 1 correct", "1 of 2 correct"]);
    expect(g.rows[2]?.cells.map((c) => c.text)).toEqual(["50.0 %", "66.7 %", "60.0 %"]);
  });

  it("shows an empty cell as a dash, and one column when there is no subject", () => {
    const g = stageGrid(summary(), items.slice(0, 3));
    expect(g.rows[1]?.cells[0]).toEqual({ text: "–", accuracy: null, title: "no items" });
    const single = stageGrid(summary({ subject_column: undefined }), items);
    expect(single.columns).toEqual(["accuracy"]);
    expect(single.rows.map((r) => [r.name, r.cells[0]?.text])).toEqual([
      ["junior high school", "66.7 %"],
      ["college", "50.0 %"],
      ["all", "60.0 %"],
    ]);
  });
});

describe("compare", () => {
  it("sets two runs side by side by stage with the difference in points", () => {
    const b = summary({
      overall: t(4, 5),
      by: { level: { college: t(2, 2), "junior high school": t(2, 3) }, subject: {} },
    });
    const c = compare(summary(), b);
    expect(c.column).toBe("level");
    expect(c.rows.map((r) => [r.name, r.a.text, r.b.text, r.delta])).toEqual([
      ["junior high school", "66.7 %", "66.7 %", "+0.0"],
      ["college", "50.0 %", "100.0 %", "+50.0"],
      ["all", "60.0 %", "80.0 %", "+20.0"],
    ]);
  });
});
