// The accuracy tables of a benchmark summary, as plain data the view renders: the stage-by-subject
// grid, and the same cells for two runs side by side.
import type { EvalSummary, Tally } from "../ipc/types";

export interface Cell {
  text: string;
  /** 0..1, or null for an empty cell. */
  accuracy: number | null;
  title: string;
}

export interface Grid {
  rowHeader: string;
  columns: string[];
  rows: { name: string; cells: Cell[] }[];
}

export function percent(t: Tally): string {
  return `${(t.accuracy * 100).toFixed(1)} %`;
}

function cell(t: Tally | undefined): Cell {
  if (!t || t.total === 0) return { text: "–", accuracy: null, title: "no items" };
  return { text: percent(t), accuracy: t.accuracy, title: `${t.correct} of ${t.total} correct` };
}

/** The values of a grouping column in the order the summary lists them. */
function values(summary: EvalSummary, column: string): string[] {
  return summary.order[column] ?? Object.keys(summary.by[column] ?? {});
}

/**
 * Rows by stage, columns by subject when the file has both (cells from the per-item rows, since
 * summary.json keeps only the margins), else one row per value of the first grouping column.
 */
export function stageGrid(
  summary: EvalSummary,
  items: readonly { groups: Record<string, string>; correct: boolean }[],
): Grid {
  const stage = summary.stage_column;
  const subject = summary.subject_column;
  if (stage && subject) {
    const stages = values(summary, stage);
    const subjects = values(summary, subject);
    const key = (a: string, b: string) => `${a}\u0000${b}`;
    const tallies = new Map<string, Tally>();
    for (const item of items) {
      const a = item.groups[stage];
      const b = item.groups[subject];
      if (a === undefined || b === undefined) continue;
      const t = tallies.get(key(a, b)) ?? { correct: 0, total: 0, accuracy: 0 };
      t.total += 1;
      t.correct += item.correct ? 1 : 0;
      t.accuracy = t.correct / t.total;
      tallies.set(key(a, b), t);
    }
    return {
      rowHeader: `${stage} \\ ${subject}`,
      columns: [...subjects, "all"],
      rows: [
        ...stages.map((a) => ({
          name: a,
          cells: [...subjects.map((b) => cell(tallies.get(key(a, b)))), cell(summary.by[stage]?.[a])],
        })),
        { name: "all", cells: [...subjects.map((b) => cell(summary.by[subject]?.[b])), cell(summary.overall)] },
      ],
    };
  }
  const first = stage ?? Object.keys(summary.by)[0];
  if (!first) return { rowHeader: "", columns: ["all"], rows: [{ name: "all", cells: [cell(summary.overall)] }] };
  return {
    rowHeader: first,
    columns: ["accuracy"],
    rows: [
      ...values(summary, first).map((v) => ({ name: v, cells: [cell(summary.by[first]?.[v])] })),
      { name: "all", cells: [cell(summary.overall)] },
    ],
  };
}

export interface Comparison {
  column: string;
  rows: { name: string; a: Cell; b: Cell; delta: string }[];
}

/** Two runs' accuracy by the same grouping column (the stage when both have it), and overall. */
export function compare(a: EvalSummary, b: EvalSummary): Comparison {
  const column =
    (a.stage_column && a.stage_column === b.stage_column ? a.stage_column : undefined) ??
    Object.keys(a.by).find((c) => c in b.by) ??
    "";
  const names = column ? [...new Set([...values(a, column), ...values(b, column)])] : [];
  const row = (name: string, ta: Tally | undefined, tb: Tally | undefined) => {
    const ca = cell(ta);
    const cb = cell(tb);
    const delta =
      ca.accuracy === null || cb.accuracy === null
        ? ""
        : `${cb.accuracy >= ca.accuracy ? "+" : "−"}${(Math.abs(cb.accuracy - ca.accuracy) * 100).toFixed(1)}`;
    return { name, a: ca, b: cb, delta };
  };
  return {
    column,
    rows: [
      ...names.map((n) => row(n, a.by[column]?.[n], b.by[column]?.[n])),
      row("all", a.overall, b.overall),
    ],
  };
}
