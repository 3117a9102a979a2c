// Models write math in every dialect TeX users know, but remark-math only understands dollars.
// This rewrites Markdown so that every math span the user should see as math is in dollar form,
// and every dollar that is not math is escaped, so the Markdown parser has nothing to guess:
//   \( … \)            -> $ … $
//   \[ … \], $$ … $$   -> a $$ block when alone on its line(s), else inline $\displaystyle …$
//   \begin{align} …    -> a $$ block (bare environments outside any delimiter)
// An opener without its closer (a half-streamed formula) is escaped, and so is the rest of its
// paragraph, so the formula so far shows as its exact source text.
// Code fences and code spans are copied untouched.

/** Environments a model writes bare, outside any math delimiter, that KaTeX renders. */
const BARE_ENVIRONMENTS = new Set([
  "equation",
  "equation*",
  "align",
  "align*",
  "aligned",
  "alignat",
  "alignat*",
  "gather",
  "gather*",
  "gathered",
  "multline",
  "multline*",
  "split",
  "eqnarray",
  "eqnarray*",
  "cases",
  "array",
  "matrix",
  "pmatrix",
  "bmatrix",
  "Bmatrix",
  "vmatrix",
  "Vmatrix",
  "smallmatrix",
  "CD",
]);

const FENCE = /^([ \t]*(?:>[ \t]*)*)(`{3,}|~{3,})(.*)$/;
/** What may precede display math on its line and still leave it "alone on its line":
 * indentation, blockquote markers and list markers. */
const LINE_PREFIX = /^[ \t]*(?:(?:>[ \t]*)|(?:[-*+][ \t]+)|(?:\d{1,9}[.)][ \t]+))*$/;
const BLANK_LINE = /\n[ \t]*(?:>[ \t]*)*\n/g;

type Segment = { code: boolean; text: string };

/** Splits Markdown into runs of fenced code (kept verbatim) and everything else. */
function splitFences(src: string): Segment[] {
  const lines = src.split("\n");
  const segments: Segment[] = [];
  let current: string[] = [];
  let inCode = false;
  let fenceChar = "";
  let fenceLen = 0;
  const flush = (code: boolean) => {
    if (current.length > 0) segments.push({ code, text: current.join("\n") });
    current = [];
  };
  for (const line of lines) {
    const m = FENCE.exec(line);
    if (!inCode) {
      // A backtick fence's info string may not contain a backtick (CommonMark).
      if (m && !(m[2]![0] === "`" && m[3]!.includes("`"))) {
        flush(false);
        inCode = true;
        fenceChar = m[2]![0]!;
        fenceLen = m[2]!.length;
      }
      current.push(line);
    } else {
      current.push(line);
      if (m && m[2]![0] === fenceChar && m[2]!.length >= fenceLen && m[3]!.trim() === "") {
        flush(true);
        inCode = false;
      }
    }
  }
  flush(inCode);
  return segments;
}

/** Index of `closer` in `s` at or after `from`, stepping over TeX's `\x` pairs so that `\\]`
 * or `\$` never counts; -1 if a blank line (end of paragraph) or the end comes first. */
function findCloser(s: string, from: number, closer: string): number {
  const end = paragraphEnd(s, from);
  let k = from;
  while (k < end) {
    if (s.startsWith(closer, k)) return k;
    k += s[k] === "\\" ? 2 : 1;
  }
  return -1;
}

/** Where the paragraph holding `from` ends: math never spans a blank line. */
function paragraphEnd(s: string, from: number): number {
  BLANK_LINE.lastIndex = from;
  const m = BLANK_LINE.exec(s);
  return m ? m.index : s.length;
}

/** A single `$` closes inline math when it follows a non-space and no digit follows it
 * (Pandoc's rule), so "$5 and $10" stays text. The first unescaped `$` decides: TeX has no
 * bare dollar inside math, so in "$5 buys $x$ pens" the first dollar is a price. */
function findDollarCloser(s: string, from: number): number {
  const end = paragraphEnd(s, from);
  let k = from;
  while (k < end) {
    if (s[k] === "\\") {
      k += 2;
      continue;
    }
    if (s[k] === "$") return !/\s/.test(s[k - 1] ?? "") && !/[0-9]/.test(s[k + 1] ?? "") ? k : -1;
    k += 1;
  }
  return -1;
}

/** Index of the `}` that closes a group opened just before `from` (TeX escapes stepped over),
 * or -1 if the paragraph ends first. */
function findBraceEnd(s: string, from: number): number {
  const end = paragraphEnd(s, from);
  let depth = 1;
  let k = from;
  while (k < end) {
    const c = s[k];
    if (c === "\\") {
      k += 2;
      continue;
    }
    if (c === "{") depth += 1;
    if (c === "}") {
      depth -= 1;
      if (depth === 0) return k;
    }
    k += 1;
  }
  return -1;
}

function findEnvironmentEnd(s: string, from: number, env: string): number {
  const begin = `\\begin{${env}}`;
  const end = `\\end{${env}}`;
  let depth = 1;
  let k = from;
  while (k < s.length) {
    if (s.startsWith(end, k)) {
      depth -= 1;
      if (depth === 0) return k;
      k += end.length;
    } else if (s.startsWith(begin, k)) {
      depth += 1;
      k += begin.length;
    } else {
      k += s[k] === "\\" ? 2 : 1;
    }
  }
  return -1;
}

function inlineMath(tex: string, display: boolean, inTable: boolean): string {
  let body = display ? `\\displaystyle ${tex.trim()}` : tex;
  // GFM splits table cells on every pipe, even inside math; KaTeX's names for the bars survive.
  if (inTable) body = body.replace(/\\\||(?<!\\)\|/g, (bar) => (bar === "|" ? "\\vert " : "\\Vert "));
  // A `$` inside (from `\$`) would close a one-dollar span early; two dollars and padding
  // spaces keep the span whole, the way longer backtick runs do for code.
  return body.includes("$") ? `$$ ${body} $$` : `$${body}$`;
}

/** The indentation that keeps following lines inside the same list item or blockquote. */
function continuationOf(prefix: string): string {
  return prefix.replace(/[-*+]|\d{1,9}[.)]/g, (m) => " ".repeat(m.length));
}

function displayBlock(tex: string, prefix: string): string {
  const cont = continuationOf(prefix);
  const marker = prefix.includes(">") ? /^[ \t]*(?:>[ \t]?)*[ \t]*/ : /^[ \t]+/;
  const body = tex
    .replace(/^[ \t]*\n/, "")
    .replace(/\n[ \t>]*$/, "")
    .split("\n")
    .map((line) => cont + line.replace(marker, ""))
    .join("\n");
  return `$$\n${body}\n${cont}$$`;
}

function lineStartBefore(s: string, index: number): number {
  return s.lastIndexOf("\n", index - 1) + 1;
}

function inTableRow(s: string, index: number): boolean {
  return /^[ \t]*\|/.test(s.slice(lineStartBefore(s, index), index));
}

function restOfLineIsBlank(s: string, index: number): boolean {
  const end = s.indexOf("\n", index);
  return s.slice(index, end === -1 ? s.length : end).trim() === "";
}

/** Markdown that shows `text` exactly as written: every ASCII punctuation mark but `|` is
 * escaped, so TeX's `\,`, `\\`, `_` or `*` are not read as Markdown. `[` becomes an entity,
 * since the streaming completer drops an unclosed `[` even when it is escaped. Table cell bars
 * and blockquote markers at the start of later lines stay markup. */
function literalText(text: string): string {
  return text
    .split("\n")
    .map((line, n) => {
      const prefix = n === 0 ? "" : /^[ \t]*(?:>[ \t]*)*/.exec(line)![0];
      const rest = line.slice(prefix.length).replace(/[!-/:-@[-`{}~]/g, (c) => (c === "[" ? "&#91;" : `\\${c}`));
      return prefix + rest;
    })
    .join("\n");
}

function rewriteText(s: string, inlineDisplay: boolean): string {
  const out: string[] = [];
  let i = 0;

  const emitDisplay = (start: number, tex: string, afterClose: number) => {
    const prefix = s.slice(lineStartBefore(s, start), start);
    if (LINE_PREFIX.test(prefix) && restOfLineIsBlank(s, afterClose)) {
      out.push(displayBlock(tex, prefix));
    } else {
      out.push(inlineMath(tex, true, inTableRow(s, start)));
    }
    i = afterClose;
  };

  /** An opener whose closer has not come (yet): it and the rest of its paragraph (of its row,
   * in a table) as text. */
  const emitUnclosed = (opener: string, from: number) => {
    const lineEnd = s.indexOf("\n", from);
    const end = inTableRow(s, i) && lineEnd !== -1 ? lineEnd : paragraphEnd(s, from);
    out.push(literalText(opener + s.slice(from, end)));
    i = end;
  };

  while (i < s.length) {
    const ch = s[i]!;

    if (ch === "`") {
      let n = 1;
      while (s[i + n] === "`") n += 1;
      const run = "`".repeat(n);
      let k = i + n;
      let close = -1;
      while ((k = s.indexOf(run, k)) !== -1) {
        if (s[k + n] !== "`" && s[k - 1] !== "`") {
          close = k;
          break;
        }
        while (s[k] === "`") k += 1;
      }
      const end = close === -1 ? i + n : close + n;
      out.push(s.slice(i, end));
      i = end;
      continue;
    }

    if (ch === "\\") {
      const next = s[i + 1];
      if (next === "(") {
        const close = findCloser(s, i + 2, "\\)");
        if (close === -1) {
          emitUnclosed("\\(", i + 2);
        } else {
          out.push(inlineMath(s.slice(i + 2, close), inlineDisplay, inTableRow(s, i)));
          i = close + 2;
        }
        continue;
      }
      if (next === "[") {
        const close = findCloser(s, i + 2, "\\]");
        if (close === -1) {
          emitUnclosed("\\[", i + 2);
        } else {
          emitDisplay(i, s.slice(i + 2, close), close + 2);
        }
        continue;
      }
      const env = /^\\begin\{([A-Za-z]+\*?)\}/.exec(s.slice(i, i + 40));
      if (env && BARE_ENVIRONMENTS.has(env[1]!)) {
        const bodyStart = i + env[0].length;
        const end = findEnvironmentEnd(s, bodyStart, env[1]!);
        if (end === -1) {
          emitUnclosed(env[0], bodyStart);
        } else {
          const afterClose = end + `\\end{${env[1]}}`.length;
          emitDisplay(i, s.slice(i, afterClose), afterClose);
        }
        continue;
      }
      // A bare \boxed{…} (R1-Onevision and OVR write the final answer so, outside any math
      // delimiter) is math too, once its braces close within the paragraph.
      const boxed = /^\\(?:boxed|fbox)[ \t]*\{/.exec(s.slice(i, i + 12));
      if (boxed) {
        const close = findBraceEnd(s, i + boxed[0].length);
        if (close !== -1) {
          out.push(inlineMath(s.slice(i, close + 1), inlineDisplay, inTableRow(s, i)));
          i = close + 1;
          continue;
        }
      }
      // Any other escape (`\$`, `\\`, `\*`) is a pair: copying both keeps its meaning.
      out.push(s.slice(i, i + 2));
      i += 2;
      continue;
    }

    if (ch === "$") {
      if (s[i + 1] === "$") {
        const close = findCloser(s, i + 2, "$$");
        if (close === -1) {
          emitUnclosed("$$", i + 2);
        } else {
          emitDisplay(i, s.slice(i + 2, close), close + 2);
        }
        continue;
      }
      const next = s[i + 1] ?? "";
      const close = next && !/\s/.test(next) ? findDollarCloser(s, i + 1) : -1;
      if (close === -1) {
        out.push("\\$");
        i += 1;
      } else {
        out.push(inlineMath(s.slice(i + 1, close), inlineDisplay, inTableRow(s, i)));
        i = close + 1;
      }
      continue;
    }

    out.push(ch);
    i += 1;
  }
  return out.join("");
}

/** Rewrites `\(..\)`, `\[..\]`, `$$..$$` and bare environments into the dollar forms remark-math
 * parses, escapes every other dollar, and leaves code fences and code spans untouched. With
 * `inlineDisplay`, inline math too is set in display style (full-size fractions), for the final
 * answer's box. */
export function normalizeMath(markdown: string, { inlineDisplay = false }: { inlineDisplay?: boolean } = {}): string {
  return splitFences(markdown)
    .map((segment) => (segment.code ? segment.text : rewriteText(segment.text, inlineDisplay)))
    .join("\n");
}

/** Question text as Markdown that shows exactly what was typed: every ASCII punctuation mark is
 * escaped (so `2*3*4` never turns italic and `# 1` never becomes a heading), leading spaces stay
 * spaces rather than a code block, and each line break is kept. */
function literalQuestion(text: string, atLineStart: boolean): string {
  return text
    .split("\n")
    .map((line, n) => {
      const indent = n > 0 || atLineStart ? /^[ \t]*/.exec(line)![0] : "";
      const rest = line.slice(indent.length).replace(/[!-/:-@[-`{-~]/g, (c) => (c === "[" ? "&#91;" : `\\${c}`));
      return "&nbsp;".repeat(indent.replace(/\t/g, "    ").length) + rest;
    })
    .join("  \n");
}

/** A student's question as Markdown: the math they wrote (`$…$`, `$$…$$`, `\(…\)`, `\[…\]`) is
 * typeset; everything else is shown as typed, never read as Markdown. */
export function questionMarkdown(text: string): string {
  const out: string[] = [];
  let plain = "";
  const math = (tex: string, display: boolean) => {
    if (plain) out.push(literalQuestion(plain, out.length === 0));
    plain = "";
    out.push(inlineMath(tex, display, false));
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const next = text[i + 1] ?? "";
    if (ch === "\\" && (next === "(" || next === "[")) {
      const close = findCloser(text, i + 2, next === "(" ? "\\)" : "\\]");
      if (close !== -1) {
        math(text.slice(i + 2, close), next === "[");
        i = close + 2;
        continue;
      }
    } else if (ch === "$" && next === "$") {
      const close = findCloser(text, i + 2, "$$");
      if (close !== -1) {
        math(text.slice(i + 2, close), true);
        i = close + 2;
        continue;
      }
    } else if (ch === "$" && next !== "" && !/\s/.test(next)) {
      const close = findDollarCloser(text, i + 1);
      if (close !== -1) {
        math(text.slice(i + 1, close), false);
        i = close + 1;
        continue;
      }
    }
    plain += ch;
    i += 1;
  }
  if (plain) out.push(literalQuestion(plain, out.length === 0));
  return out.join("");
}
