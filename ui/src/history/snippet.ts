// Search snippets as a reader wants them: the words of the reply, without the markup the model
// wrote around them (`<think>` tags, Markdown emphasis, math delimiters, `\boxed{}`), which the
// store's snippet keeps as stored.
import type { SearchHit } from "../ipc/types";

type Run = SearchHit["snippet"][number];

const TAGS = /<\/?(?:think|answer)\s*>/gi;
const WRAPPER = /\\(?:boxed|fbox|text|textbf|mathrm)\s*\{([^{}]*)\}/;
const WRAPPERS = new RegExp(WRAPPER.source, "g");

// TeX commands a snippet shows as the symbols they stand for.
const SYMBOLS: Record<string, string> = {
  cdot: "·",
  times: "×",
  div: "÷",
  pm: "±",
  le: "≤",
  leq: "≤",
  ge: "≥",
  geq: "≥",
  neq: "≠",
  ne: "≠",
  approx: "≈",
  infty: "∞",
  pi: "π",
  theta: "θ",
  alpha: "α",
  beta: "β",
  angle: "∠",
  triangle: "△",
  circ: "°",
  degree: "°",
  perp: "⊥",
  parallel: "∥",
  rightarrow: "→",
  to: "→",
};
const FRACTION = /\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g;
const ROOT = /\\sqrt\s*\{([^{}]*)\}/g;

function readable(text: string): string {
  let t = text.replace(TAGS, " ");
  // Unwrap innermost first, so \boxed{\text{B}} becomes B and \frac{\sqrt{3}}{2} becomes √(3)/2.
  for (let i = 0; i < 3; i += 1) {
    const before = t;
    t = t.replace(WRAPPERS, "$1").replace(ROOT, "√($1)").replace(FRACTION, "$1/$2");
    if (t === before) break;
  }
  return t
    .replace(/\\(?:left|right)\b/g, "")
    .replace(/\\([A-Za-z]+)\s?/g, (whole: string, name: string) => {
      const symbol = SYMBOLS[name];
      return symbol === undefined ? whole : `${symbol}${whole.endsWith(" ") ? " " : ""}`;
    })
    .replace(/\\(?:boxed|fbox)\s*\{/g, "")
    .replace(/\*\*|__|`+/g, "")
    .replace(/\\[()[\]]/g, "")
    .replace(/\$+/g, "")
    .replace(/^#{1,6}\s+/gm, "")
    .replace(/\s+/g, " ");
}

/** The runs with their markup removed; runs left empty are dropped, spacing kept single. */
export function readableSnippet(runs: readonly Run[]): Run[] {
  const out: Run[] = [];
  for (const run of runs) {
    const text = readable(run.text);
    if (text.trim() === "") {
      if (text !== "" && out.length > 0 && !out[out.length - 1]!.text.endsWith(" ")) {
        out.push({ text: " ", highlighted: false });
      }
      continue;
    }
    out.push({ text, highlighted: run.highlighted });
  }
  if (out.length > 0) {
    out[0] = { ...out[0]!, text: out[0]!.text.trimStart() };
    const last = out.length - 1;
    out[last] = { ...out[last]!, text: out[last]!.text.trimEnd() };
  }
  return out.filter((r) => r.text !== "");
}
