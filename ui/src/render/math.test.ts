import { describe, expect, it } from "vitest";
import { normalizeMath, questionMarkdown } from "./math";

describe("normalizeMath: delimiters become dollar forms", () => {
  it("turns \\(…\\) into inline dollars", () => {
    expect(normalizeMath("a \\(x+1\\) b")).toBe("a $x+1$ b");
  });

  it("turns \\[…\\] alone on its line into a $$ block", () => {
    expect(normalizeMath("\\[x+1\\]")).toBe("$$\nx+1\n$$");
    expect(normalizeMath("Then:\n\\[\n  y = 2\n\\]\nso.")).toBe("Then:\n$$\ny = 2\n$$\nso.");
  });

  it("keeps $$…$$ alone on its line as a block", () => {
    expect(normalizeMath("$$a$$")).toBe("$$\na\n$$");
  });

  it("turns \\[…\\] and $$…$$ inside a sentence into inline display style", () => {
    expect(normalizeMath("so \\[ a \\] and $$ b $$ end")).toBe("so $\\displaystyle a$ and $\\displaystyle b$ end");
  });

  it("wraps a bare environment in a $$ block", () => {
    const env = "\\begin{aligned} a &= b \\end{aligned}";
    expect(normalizeMath(env)).toBe(`$$\n${env}\n$$`);
  });

  it("matches nested environments of the same name", () => {
    const env = "\\begin{array}{c} \\begin{array}{c} 1 \\end{array} \\end{array}";
    expect(normalizeMath(env)).toBe(`$$\n${env}\n$$`);
  });

  it("leaves an unknown environment alone", () => {
    expect(normalizeMath("\\begin{itemize} x \\end{itemize}")).toBe("\\begin{itemize} x \\end{itemize}");
  });

  it("keeps a block inside a list item indented under it", () => {
    expect(normalizeMath("1. Step\n   \\[ x \\]")).toBe("1. Step\n   $$\n   x \n   $$");
  });

  it("keeps a block inside a blockquote quoted", () => {
    expect(normalizeMath("> \\[\n> x\n> \\]")).toBe("> $$\n> x\n> $$");
  });

  it("replaces bars in math inside a table row", () => {
    expect(normalizeMath("| $|x|$ | \\(\\|v\\|\\) |")).toBe("| $\\vert x\\vert $ | $\\Vert v\\Vert $ |");
  });

  it("uses double dollars for inline math that holds an escaped dollar", () => {
    expect(normalizeMath("\\(\\$5 + x\\)")).toBe("$$ \\$5 + x $$");
  });

  it("does not take an escaped closer for a closer", () => {
    expect(normalizeMath("\\( a \\\\) b \\)")).toBe("$ a \\\\) b $");
  });
});

describe("normalizeMath: dollars that are not math are escaped", () => {
  it("escapes prices (a closer may not come before a digit or after a space)", () => {
    expect(normalizeMath("$5 and $10")).toBe("\\$5 and \\$10");
    expect(normalizeMath("from $ 3 to $ 4")).toBe("from \\$ 3 to \\$ 4");
  });

  it("treats the first dollar of '$5 buys $x$ pens' as a price", () => {
    expect(normalizeMath("$5 buys $x$ pens")).toBe("\\$5 buys $x$ pens");
  });

  it("keeps an escaped dollar escaped", () => {
    expect(normalizeMath("costs \\$5")).toBe("costs \\$5");
  });

  it("does not let math span a blank line", () => {
    expect(normalizeMath("$a\n\nb$")).toBe("\\$a\n\nb\\$");
    expect(normalizeMath("\\(a\n\nb\\)")).not.toContain("$");
  });

  it("copies code spans and fences untouched", () => {
    expect(normalizeMath("`$x$` and ``\\(y\\)``")).toBe("`$x$` and ``\\(y\\)``");
    const fence = "```tex\n$$ \\[ x \\] $5\n```";
    expect(normalizeMath(`${fence}\n$y$`)).toBe(`${fence}\n$y$`);
    const tilde = "~~~\n\\(a\\)\n~~~";
    expect(normalizeMath(tilde)).toBe(tilde);
  });

  it("treats an unclosed fence as code to the end", () => {
    expect(normalizeMath("```\n$5 \\[ x")).toBe("```\n$5 \\[ x");
  });
});

describe("normalizeMath: openers without closers (a formula still streaming)", () => {
  it("escapes a lone inline dollar", () => {
    expect(normalizeMath("so $\\frac{1}{")).toBe("so \\$\\frac{1}{");
  });

  it("shows the rest of the paragraph after \\[ as literal text", () => {
    // Every punctuation mark is escaped and `[` is an entity, so no Markdown reading (and no
    // streaming completion) can change what the reader sees.
    expect(normalizeMath("so \\[ a_1 \\, b")).toBe("so \\\\&#91; a\\_1 \\\\\\, b");
  });

  it("stops the literal text at the end of the paragraph", () => {
    expect(normalizeMath("\\( x *\n\n**bold** $y$")).toBe("\\\\\\( x \\*\n\n**bold** $y$");
  });

  it("escapes an unclosed $$ and an unclosed environment the same way", () => {
    expect(normalizeMath("$$\\int_0^")).toBe("\\$\\$\\\\int\\_0\\^");
    expect(normalizeMath("\\begin{aligned} a &= b")).toBe("\\\\begin\\{aligned\\} a \\&\\= b");
  });

  it("keeps table bars as markup, and stops at the end of a table row", () => {
    expect(normalizeMath("| \\( a | b |\n|---|---|")).toBe("| \\\\\\( a | b |\n|---|---|");
  });

  it("keeps blockquote markers of later lines as markup", () => {
    expect(normalizeMath("> \\[ a +\n> b")).toBe("> \\\\&#91; a \\+\n> b");
  });

  it("is stable once the closer arrives", () => {
    expect(normalizeMath("so \\[ a_1 \\, b \\]")).toBe("so $\\displaystyle a_1 \\, b$");
  });
});

describe("normalizeMath: a bare \\boxed{} is math", () => {
  it("typesets \\boxed{} written outside any delimiter", () => {
    expect(normalizeMath("So the answer is \\boxed{42}.")).toBe("So the answer is $\\boxed{42}$.");
    expect(normalizeMath("\\boxed{\\frac{1}{2}}")).toBe("$\\boxed{\\frac{1}{2}}$");
    expect(normalizeMath("\\boxed {x^{2}}")).toBe("$\\boxed {x^{2}}$");
  });

  it("leaves a \\boxed{} already in math, in code, or not yet closed as it is", () => {
    expect(normalizeMath("$\\boxed{1}$")).toBe("$\\boxed{1}$");
    expect(normalizeMath("`\\boxed{1}`")).toBe("`\\boxed{1}`");
    expect(normalizeMath("\\boxed{\\frac{1}{2")).toBe("\\boxed{\\frac{1}{2");
  });
});

describe("questionMarkdown: a question shows as typed", () => {
  it("escapes what Markdown would read as emphasis, headings, lists or tables", () => {
    expect(questionMarkdown("Is 2*3*4 = 24?")).toBe("Is 2\\*3\\*4 \\= 24\\?");
    expect(questionMarkdown("# 1. a | b")).toBe("\\# 1\\. a \\| b");
    expect(questionMarkdown("[link](x)")).toBe("&#91;link\\]\\(x\\)");
  });

  it("keeps line breaks and indentation", () => {
    expect(questionMarkdown("a\n    b")).toBe("a  \n&nbsp;&nbsp;&nbsp;&nbsp;b");
  });

  it("typesets the math the student wrote, and leaves a price alone", () => {
    expect(questionMarkdown("Solve $x^2=4$ for x")).toBe("Solve $x^2=4$ for x");
    expect(questionMarkdown("\\(a_1\\) and \\[b\\]")).toBe("$a_1$ and $\\displaystyle b$");
    expect(questionMarkdown("It costs $5 and $10.")).toBe("It costs \\$5 and \\$10\\.");
  });
});

describe("normalizeMath: the final answer's inline math in display style", () => {
  it("sets every inline span in display style, and nothing else changes", () => {
    expect(normalizeMath("x = $\\frac{1}{2}$ or \\(y\\) or \\boxed{3}", { inlineDisplay: true })).toBe(
      "x = $\\displaystyle \\frac{1}{2}$ or $\\displaystyle y$ or $\\displaystyle \\boxed{3}$",
    );
    expect(normalizeMath("a *b* c", { inlineDisplay: true })).toBe("a *b* c");
  });
});
