// Test helpers for the Markdown renderer: render one text, then ask what came out.
import { render } from "@testing-library/react";
import { Markdown } from "../render/Markdown";

/** The rendered Markdown's root element (`.markdown`). */
export function renderMarkdown(text: string, streaming = false): HTMLElement {
  const { container } = render(<Markdown text={text} streaming={streaming} />);
  const root = container.querySelector<HTMLElement>(".markdown");
  if (!root) throw new Error("Markdown rendered no .markdown root");
  return root;
}

/** The TeX source of every typeset formula, in document order. */
export function typesetTex(root: Element): string[] {
  return Array.from(root.querySelectorAll(".katex")).map(
    (k) => k.querySelector('annotation[encoding="application/x-tex"]')?.textContent ?? "",
  );
}

/** Text with runs of whitespace made single spaces, as a reader sees it. */
export function squash(text: string | null | undefined): string {
  return (text ?? "").replace(/\s+/g, " ").trim();
}
