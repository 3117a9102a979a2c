import { describe, expect, it } from "vitest";
import { renderMarkdown } from "../test/markdown";
import { plainTextOf } from "./plainText";

describe("plainTextOf", () => {
  it("copies typeset math as its TeX source between dollars", () => {
    const root = renderMarkdown("So $x^2$ and\n\n$$\n\\frac{a}{b}\n$$\n\ndone.");
    expect(plainTextOf(root)).toBe("So $x^2$ and\n\n$$\\frac{a}{b}$$\n\ndone.");
  });

  it("copies math set in display style inside a sentence as the TeX the model wrote", () => {
    const root = renderMarkdown("so \\[ \\frac{1}{2} \\] here");
    expect(plainTextOf(root)).toBe("so $\\frac{1}{2}$ here");
  });

  it("keeps paragraphs and list items apart and skips buttons", () => {
    const root = renderMarkdown("First paragraph.\n\n- one\n- two\n\n```\ncode\n```");
    const text = plainTextOf(root);
    expect(text).toContain("First paragraph.\n");
    expect(text).toContain("- one");
    expect(text).toContain("- two");
    expect(text).toContain("code");
    expect(text).not.toMatch(/copy/i);
  });

  it("copies a formula that could not be typeset as its source", () => {
    const root = renderMarkdown("Then $\\nope{1}$.");
    expect(plainTextOf(root)).toBe("Then $\\nope{1}$.");
  });
});
