// "Copy text": what a reader sees, as plain text. Typeset math is copied as its TeX source
// between dollars (KaTeX keeps it in an annotation), since its glyphs alone copy as noise.
const BLOCKS = new Set([
  "P", "DIV", "LI", "UL", "OL", "PRE", "BLOCKQUOTE", "TABLE", "TR", "H1", "H2", "H3", "H4", "H5", "H6", "HR",
]);

function walk(node: Node, out: string[]) {
  if (node.nodeType === Node.TEXT_NODE) {
    out.push(node.textContent ?? "");
    return;
  }
  if (!(node instanceof Element)) return;
  if (node.tagName === "BUTTON") return;
  if (node.classList.contains("katex")) {
    // Without the \displaystyle the renderer itself put in front (math.ts): the model's TeX.
    const tex = (node.querySelector('annotation[encoding="application/x-tex"]')?.textContent ?? "").replace(
      /^\\displaystyle /,
      "",
    );
    const display = node.parentElement?.classList.contains("katex-display") ?? false;
    out.push(display ? `$$${tex}$$` : `$${tex}$`);
    return;
  }
  const block = BLOCKS.has(node.tagName);
  if (block) out.push("\n");
  if (node.tagName === "LI") out.push("- ");
  if (node.tagName === "TD" || node.tagName === "TH") out.push("\t");
  for (const child of Array.from(node.childNodes)) walk(child, out);
  if (block) out.push("\n");
}

export function plainTextOf(element: Element): string {
  const out: string[] = [];
  walk(element, out);
  return out
    .join("")
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}
