// Turns the math nodes remark-math leaves in the tree (`code.language-math`) into KaTeX output.
// It runs after sanitising, so only KaTeX's own markup is added, and a formula that does not
// render becomes its TeX source in a plain span: never KaTeX's red error text.
import { fromHtmlIsomorphic } from "hast-util-from-html-isomorphic";
import type { Element, ElementContent, Root, Text } from "hast";
import { visit, SKIP } from "unist-util-visit";
import { renderTex } from "./tex";

const parsed = new Map<string, ElementContent[]>();
const DISPLAY_STYLE = "\\displaystyle ";

function texHast(html: string): ElementContent[] {
  let nodes = parsed.get(html);
  if (!nodes) {
    nodes = fromHtmlIsomorphic(html, { fragment: true }).children as ElementContent[];
    if (parsed.size > 2000) parsed.clear();
    parsed.set(html, nodes);
  }
  // The tree is handed on to React conversion, which must not share nodes between renders.
  return structuredClone(nodes);
}

function classList(node: Element): string[] {
  const value: unknown = node.properties.className;
  if (Array.isArray(value)) return value.map(String);
  return typeof value === "string" ? value.split(" ") : [];
}

function textOf(node: Element): string {
  return node.children.map((child) => (child.type === "text" ? (child as Text).value : "")).join("");
}

function fallback(tex: string, display: boolean): Element {
  // Display math inside a sentence is set inline with \displaystyle (math.ts); shown as source,
  // it is the display formula the model wrote.
  const shown = tex.startsWith(DISPLAY_STYLE) ? tex.slice(DISPLAY_STYLE.length) : null;
  const source = display || shown !== null ? `$$${shown ?? tex}$$` : `$${tex}$`;
  return {
    type: "element",
    tagName: display ? "div" : "span",
    properties: { className: ["math-source"], title: "This formula could not be typeset" },
    children: [{ type: "text", value: source }],
  };
}

export default function rehypeTex() {
  return (tree: Root) => {
    visit(tree, "element", (node, index, parent) => {
      if (node.tagName !== "code" || !parent || index === undefined) return;
      const classes = classList(node);
      if (!classes.includes("language-math")) return;
      const display = classes.includes("math-display");
      const tex = textOf(node);
      const html = renderTex(tex, display);
      const replacement: Element = html
        ? {
            type: "element",
            tagName: display ? "div" : "span",
            properties: { className: [display ? "math-display" : "math-inline"] },
            children: texHast(html),
          }
        : fallback(tex, display);
      // Display math arrives as <pre><code>: the <pre> goes too, or it would style the formula
      // as a code block.
      if (display && parent.type === "element" && parent.tagName === "pre") {
        parent.tagName = "div";
        parent.properties = { className: ["math-block"] };
      }
      parent.children[index] = replacement;
      return SKIP;
    });
  };
}
