import { describe, expect, it } from "vitest";
import { renderTex } from "./tex";

describe("renderTex", () => {
  it("typesets valid TeX inline and in display mode", () => {
    const inline = renderTex("\\frac{1}{2}", false);
    expect(inline).toContain('class="katex"');
    expect(inline).not.toContain("katex-display");
    expect(inline).toContain('<annotation encoding="application/x-tex">\\frac{1}{2}</annotation>');
    expect(renderTex("\\frac{1}{2}", true)).toContain("katex-display");
  });

  it("typesets environments and \\boxed", () => {
    expect(renderTex("\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}", true)).toContain("katex");
    expect(renderTex("\\boxed{42}", false)).toContain("boxed");
  });

  it("returns null for TeX that does not parse, instead of KaTeX's error markup", () => {
    for (const bad of ["\\frac{1}{", "\\notacommand", "x^", "\\begin{aligned} a", "}", "\\left( x"]) {
      expect(renderTex(bad, false), bad).toBeNull();
      expect(renderTex(bad, true), bad).toBeNull();
    }
  });

  it("refuses every command that needs trust", () => {
    for (const tex of [
      "\\href{https://example.org}{x}",
      "\\href{javascript:alert(1)}{x}",
      "\\url{https://example.org}",
      "\\includegraphics{https://example.org/a.png}",
      "\\htmlClass{c}{x}",
      "\\htmlId{i}{x}",
      "\\htmlStyle{color:red}{x}",
      "\\htmlData{a=b}{x}",
      "a + \\href{https://example.org}{b} + c",
    ]) {
      expect(renderTex(tex, false), tex).toBeNull();
    }
  });

  it("stops runaway macro expansion", () => {
    expect(renderTex("\\def\\a{\\a\\a}\\a", false)).toBeNull();
    expect(renderTex("\\def\\x{x\\x}\\x", true)).toBeNull();
  });

  it("gives the same answer from its cache", () => {
    const first = renderTex("e^{i\\pi}", false);
    expect(first).not.toBeNull();
    expect(renderTex("e^{i\\pi}", false)).toBe(first);
    expect(renderTex("\\bogus", false)).toBeNull();
    expect(renderTex("\\bogus", false)).toBeNull();
  });

  it("keeps inline and display results apart in its cache", () => {
    const inline = renderTex("\\sum_i i", false);
    const display = renderTex("\\sum_i i", true);
    expect(inline).not.toBe(display);
    expect(display).toContain("katex-display");
  });
});
