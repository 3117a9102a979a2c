// KaTeX with every door shut: no trusted commands (\href, \url, \htmlClass, \includegraphics…),
// bounded macro expansion, and no error output at all. A formula KaTeX cannot render, or one
// that asked for a trusted command, comes back as null so the caller shows its source as text.
import katex from "katex";

const CACHE_LIMIT = 2000;
const cache = new Map<string, string | null>();

function render(tex: string, displayMode: boolean): string | null {
  let askedForTrust = false;
  try {
    const html = katex.renderToString(tex, {
      displayMode,
      throwOnError: true,
      // A function instead of `false` so a refused command can be noticed: KaTeX would otherwise
      // print it in the error colour, and half of a formula is not what the model meant.
      trust: () => {
        askedForTrust = true;
        return false;
      },
      strict: "ignore",
      maxSize: 50,
      maxExpand: 1000,
      errorColor: "currentColor",
      output: "htmlAndMathml",
    });
    return askedForTrust ? null : html;
  } catch {
    return null;
  }
}

/** KaTeX's HTML for `tex`, or null when it is not valid (or not allowed) TeX. Results are
 * cached: while an answer streams the same formulas are rendered again on every frame. */
export function renderTex(tex: string, displayMode: boolean): string | null {
  const key = `${displayMode ? "D" : "I"}${tex}`;
  const hit = cache.get(key);
  if (hit !== undefined || cache.has(key)) return hit ?? null;
  const html = render(tex, displayMode);
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(key, html);
  return html;
}
