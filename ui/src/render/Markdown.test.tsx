import { render } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderMarkdown, squash, typesetTex } from "../test/markdown";
import { Markdown } from "./Markdown";

function expectNoKatexError(root: Element) {
  expect(root.querySelector(".katex-error")).toBeNull();
  expect(root.textContent).not.toMatch(/ParseError|KaTeX parse error/);
}

/** A formula typeset inline: inside `.math-inline`, not in KaTeX's display wrapper. */
function expectInline(root: Element, tex: string) {
  const katex = Array.from(root.querySelectorAll(".katex")).find(
    (k) => k.querySelector("annotation")?.textContent === tex,
  );
  expect(katex, `inline formula ${tex}`).toBeDefined();
  expect(katex!.closest(".math-inline")).not.toBeNull();
  expect(katex!.closest(".katex-display")).toBeNull();
  expect(katex!.querySelector("math")?.getAttribute("display")).not.toBe("block");
}

/** A formula typeset in display mode, as its own block (not inside a paragraph or a <pre>). */
function expectDisplayBlock(root: Element, tex: string) {
  const katex = Array.from(root.querySelectorAll(".katex")).find(
    (k) => k.querySelector("annotation")?.textContent?.trim() === tex.trim(),
  );
  expect(katex, `display formula ${tex}`).toBeDefined();
  expect(katex!.closest(".katex-display")).not.toBeNull();
  expect(katex!.querySelector("math")?.getAttribute("display")).toBe("block");
  expect(katex!.closest(".math-block")).not.toBeNull();
  expect(katex!.closest("p")).toBeNull();
  expect(katex!.closest("pre")).toBeNull();
}

describe("Markdown: every math delimiter is typeset", () => {
  for (const streaming of [false, true]) {
    const mode = streaming ? "streaming" : "static";

    it(`$…$ is inline math (${mode})`, () => {
      const root = renderMarkdown("The area is $x^2 + y^2$ here.", streaming);
      expectNoKatexError(root);
      expect(typesetTex(root)).toEqual(["x^2 + y^2"]);
      expectInline(root, "x^2 + y^2");
      expect(squash(root.querySelector("p")?.firstChild?.textContent)).toBe("The area is");
    });

    it(`\\(…\\) is inline math (${mode})`, () => {
      const root = renderMarkdown("So \\(\\frac{a}{b}\\) and \\( \\sqrt{2} \\) hold.", streaming);
      expectNoKatexError(root);
      expect(typesetTex(root).map((t) => t.trim())).toEqual(["\\frac{a}{b}", "\\sqrt{2}"]);
      expectInline(root, "\\frac{a}{b}");
    });

    it(`$$…$$ on its own lines is display math (${mode})`, () => {
      const root = renderMarkdown("We integrate:\n\n$$\n\\int_0^1 x\\,dx = \\frac{1}{2}\n$$\n\nDone.", streaming);
      expectNoKatexError(root);
      expectDisplayBlock(root, "\\int_0^1 x\\,dx = \\frac{1}{2}");
      expect(root.textContent).toContain("Done.");
    });

    it(`$$…$$ alone on one line is display math (${mode})`, () => {
      const root = renderMarkdown("$$a^2+b^2=c^2$$", streaming);
      expectNoKatexError(root);
      expectDisplayBlock(root, "a^2+b^2=c^2");
    });

    it(`\\[…\\] alone is display math (${mode})`, () => {
      const root = renderMarkdown("Hence\n\\[ E = mc^2 \\]\nwhich is famous.", streaming);
      expectNoKatexError(root);
      expectDisplayBlock(root, "E = mc^2");
      expect(root.textContent).toContain("Hence");
      expect(root.textContent).toContain("which is famous.");
    });

    it(`\\[…\\] over several lines is display math (${mode})`, () => {
      const root = renderMarkdown("\\[\nx = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}\n\\]", streaming);
      expectNoKatexError(root);
      expectDisplayBlock(root, "x = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}");
    });

    it(`\\[…\\] and $$…$$ inside a sentence stay in the line, in display style (${mode})`, () => {
      const root = renderMarkdown("Both \\[ \\sum_{i=1}^n i \\] and $$\\prod_i p_i$$ are sums.", streaming);
      expectNoKatexError(root);
      expect(typesetTex(root)).toEqual(["\\displaystyle \\sum_{i=1}^n i", "\\displaystyle \\prod_i p_i"]);
      for (const k of Array.from(root.querySelectorAll(".katex"))) expect(k.closest("p")).not.toBeNull();
    });

    const environments: [string, string][] = [
      ["aligned", "\\begin{aligned} a &= b + c \\\\ d &= e \\end{aligned}"],
      ["align*", "\\begin{align*} x &= 1 \\\\ y &= 2 \\end{align*}"],
      ["equation", "\\begin{equation} e^{i\\pi} + 1 = 0 \\end{equation}"],
      ["cases", "\\begin{cases} 1 & x > 0 \\\\ 0 & \\text{otherwise} \\end{cases}"],
      ["pmatrix", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"],
      ["gather", "\\begin{gather} a = b \\\\ c = d \\end{gather}"],
    ];
    for (const [name, tex] of environments) {
      it(`a bare ${name} environment is display math (${mode})`, () => {
        const root = renderMarkdown(`Consider\n\n${tex}\n\nas shown.`, streaming);
        expectNoKatexError(root);
        expect(root.querySelector(".math-source")).toBeNull();
        expectDisplayBlock(root, tex);
      });
    }

    it(`an environment inside $$…$$ is display math (${mode})`, () => {
      const tex = "\\begin{aligned} f(x) &= x^2 \\\\ f'(x) &= 2x \\end{aligned}";
      const root = renderMarkdown(`$$\n${tex}\n$$`, streaming);
      expectNoKatexError(root);
      expectDisplayBlock(root, tex);
    });

    it(`display math inside a list item stays in the item (${mode})`, () => {
      const root = renderMarkdown("1. First step:\n   \\[ x = 1 \\]\n2. Second step", streaming);
      expectNoKatexError(root);
      const katex = root.querySelector(".katex-display");
      expect(katex?.closest("li")?.textContent).toContain("First step");
      expect(root.querySelectorAll("li")).toHaveLength(2);
    });

    it(`math with bars inside a table cell is typeset (${mode})`, () => {
      const root = renderMarkdown("| x | value |\n|---|---|\n| $|x|$ | \\(\\|v\\|\\) |", streaming);
      expectNoKatexError(root);
      const cells = root.querySelectorAll("td");
      expect(cells).toHaveLength(2);
      expect(cells[0]!.querySelector(".katex")).not.toBeNull();
      expect(cells[1]!.querySelector(".katex")).not.toBeNull();
    });
  }
});

describe("Markdown: dollars and backslashes that are not math", () => {
  for (const streaming of [false, true]) {
    const mode = streaming ? "streaming" : "static";

    it(`prices stay text (${mode})`, () => {
      const root = renderMarkdown("It costs $5 and $10 in total, or $3.50 each.", streaming);
      expect(root.querySelector(".katex")).toBeNull();
      expect(squash(root.textContent)).toBe("It costs $5 and $10 in total, or $3.50 each.");
    });

    it(`an escaped dollar is a dollar sign (${mode})`, () => {
      const root = renderMarkdown("A pen costs \\$5 and a book \\$12.", streaming);
      expect(root.querySelector(".katex")).toBeNull();
      expect(squash(root.textContent)).toBe("A pen costs $5 and a book $12.");
    });

    it(`a dollar followed by a space opens nothing (${mode})`, () => {
      const root = renderMarkdown("Between $ 4 and $ 7 only.", streaming);
      expect(root.querySelector(".katex")).toBeNull();
      expect(squash(root.textContent)).toBe("Between $ 4 and $ 7 only.");
    });

    it(`math never spans a blank line (${mode})`, () => {
      const root = renderMarkdown("Costs $a\n\nand b$ later.", streaming);
      expect(root.querySelector(".katex")).toBeNull();
      expect(root.textContent).toContain("Costs $a");
      expect(root.textContent).toContain("and b$ later.");
    });

    it(`code spans keep their dollars and backslashes (${mode})`, () => {
      const root = renderMarkdown("Write `$x$` or `\\(y\\)` in the source.", streaming);
      expect(root.querySelector(".katex")).toBeNull();
      const codes = Array.from(root.querySelectorAll("code")).map((c) => c.textContent);
      expect(codes).toEqual(["$x$", "\\(y\\)"]);
    });

    it(`fenced code keeps its math verbatim (${mode})`, () => {
      const root = renderMarkdown("```latex\n$$x^2$$\n\\[ y \\]\n\\begin{aligned} a \\end{aligned}\n```", streaming);
      expect(root.querySelector(".katex")).toBeNull();
      const code = root.querySelector("pre code, code");
      expect(code?.textContent).toContain("$$x^2$$");
      expect(code?.textContent).toContain("\\[ y \\]");
      expect(code?.textContent).toContain("\\begin{aligned} a \\end{aligned}");
    });
  }

  for (const streaming of [false, true]) {
    it(`a price before real math: only the math is typeset (${streaming ? "streaming" : "static"})`, () => {
      const root = renderMarkdown("A pen costs $5, or $10 for two, and $x$ pens cost $5x$ dollars.", streaming);
      expectNoKatexError(root);
      expect(root.querySelector(".math-source")).toBeNull();
      expect(typesetTex(root)).toEqual(["x", "5x"]);
      expect(root.textContent).toContain("A pen costs $5, or $10 for two, and");
    });
  }
});

describe("Markdown: TeX that KaTeX cannot typeset", () => {
  for (const streaming of [false, true]) {
    const mode = streaming ? "streaming" : "static";
    it(`an unknown command shows its source, never a red error (${mode})`, () => {
      const root = renderMarkdown("Then $\\notacommand{x} + 1$ follows.", streaming);
      expectNoKatexError(root);
      expect(root.querySelector(".katex")).toBeNull();
      const source = root.querySelector(".math-source");
      expect(source?.textContent).toBe("$\\notacommand{x} + 1$");
    });

    it(`broken display math shows its source as a block (${mode})`, () => {
      const root = renderMarkdown("$$\n\\frac{1}{2\n$$", streaming);
      expectNoKatexError(root);
      const source = root.querySelector(".math-source");
      expect(source?.tagName).toBe("DIV");
      expect(source?.textContent).toContain("\\frac{1}{2");
    });
  }
});

describe("Markdown: math cut off mid-stream", () => {
  // Each is the start of a formula, as it stands when a delta ends inside it.
  const partial: { cut: string; whole: string }[] = [
    { cut: "$\\frac{1}{", whole: "$\\frac{1}{2}$" },
    { cut: "$$\\int_0^", whole: "$$\\int_0^1 x\\,dx$$" },
    { cut: "\\[ x^2 +", whole: "\\[ x^2 + 1 \\]" },
    { cut: "\\begin{aligned} a &= b", whole: "\\begin{aligned} a &= b \\end{aligned}" },
    { cut: "\\( \\sqrt{2", whole: "\\( \\sqrt{2} \\)" },
    { cut: "So \\[ a \\, b \\\\ c_1 * d_2 *", whole: "So \\[ a \\, b \\\\ c_1 * d_2 * e \\]" },
    { cut: "$$\n\\begin{pmatrix} 1 & 2 \\\\", whole: "$$\n\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}\n$$" },
    { cut: "Let \\[ [0, 1] \\cup \\{", whole: "Let \\[ [0, 1] \\cup \\{2\\} \\]" },
  ];

  for (const { cut, whole } of partial) {
    it(`shows ${JSON.stringify(cut)} as its source text while streaming`, () => {
      const root = renderMarkdown(cut, true);
      expectNoKatexError(root);
      expect(root.querySelector(".katex")).toBeNull();
      expect(root.querySelector(".math-source")).toBeNull();
      expect(squash(root.textContent)).toBe(squash(cut));
    });

    it(`shows ${JSON.stringify(cut)} as text when a stopped answer ends there`, () => {
      const root = renderMarkdown(cut, false);
      expectNoKatexError(root);
      expect(root.querySelector(".katex")).toBeNull();
      expect(squash(root.textContent)).toBe(squash(cut));
    });

    it(`typesets ${JSON.stringify(whole)} once complete`, () => {
      const root = renderMarkdown(whole, false);
      expectNoKatexError(root);
      expect(root.querySelector(".math-source")).toBeNull();
      expect(root.querySelectorAll(".katex")).toHaveLength(1);
    });
  }

  it("never typesets part of a formula, at any point of a streamed answer", () => {
    const answer = [
      "First, \\(a = 2\\) and $b_1 = 3$, so",
      "",
      "\\[ \\frac{a}{b_1} = \\frac{2}{3} \\]",
      "",
      "Then $$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$ gives",
      "",
      "\\begin{aligned} s &= 1 + 2 \\\\ &= 3 \\end{aligned}",
      "",
      "The price was \\$4, and the result is $\\boxed{\\tfrac{2}{3}}$.",
    ].join("\n");
    const finalFormulas = [
      "a = 2",
      "b_1 = 3",
      "\\frac{a}{b_1} = \\frac{2}{3}",
      "\\displaystyle \\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}",
      "\\begin{aligned} s &= 1 + 2 \\\\ &= 3 \\end{aligned}",
      "\\boxed{\\tfrac{2}{3}}",
    ];

    const { container, rerender } = render(<Markdown text="" streaming />);
    for (let n = 1; n <= answer.length; n += 1) {
      rerender(<Markdown text={answer.slice(0, n)} streaming />);
      expect(container.querySelector(".katex-error"), `at ${n}`).toBeNull();
      expect(container.querySelector(".math-source"), `at ${n}`).toBeNull();
      for (const tex of typesetTex(container)) expect(finalFormulas, `at ${n}`).toContain(tex.trim());
    }
    rerender(<Markdown text={answer} />);
    expect(typesetTex(container).map((t) => t.trim())).toEqual(finalFormulas);
    expect(container.querySelector(".katex-error")).toBeNull();
    expect(container.textContent).toContain("The price was $4, and the result is");
  });

  for (const streaming of [false, true]) {
    it(`an unclosed formula in a table row leaves the table whole (${streaming ? "streaming" : "static"})`, () => {
      const root = renderMarkdown("| \\( a_1 | b |\n|---|---|\n| $x$ | 2 |", streaming);
      expectNoKatexError(root);
      expect(Array.from(root.querySelectorAll("th")).map((c) => squash(c.textContent))).toEqual(["\\( a_1", "b"]);
      expect(Array.from(root.querySelectorAll("td")).map((c) => squash(c.textContent))).toHaveLength(2);
      expect(typesetTex(root)).toEqual(["x"]);
    });
  }

  it("text around a half-written formula keeps its Markdown", () => {
    const root = renderMarkdown("**Step 1.** We have\n\n\\[ x + ", true);
    expect(root.querySelector('[data-streamdown="strong"]')?.textContent).toBe("Step 1.");
    const paragraphs = Array.from(root.querySelectorAll("p")).map((p) => squash(p.textContent));
    expect(paragraphs).toEqual(["Step 1. We have", "\\[ x +"]);
  });
});

describe("Markdown: ordinary Markdown still works", () => {
  it("renders emphasis, lists, headings and web links", () => {
    const root = renderMarkdown("# Title\n\nSome *emphasis* and **bold**.\n\n- one\n- two\n\n[site](https://example.org/a)");
    expect(root.querySelector("h1")?.textContent).toBe("Title");
    expect(root.querySelector("em")?.textContent).toBe("emphasis");
    expect(root.querySelector('[data-streamdown="strong"]')?.textContent).toBe("bold");
    expect(root.querySelectorAll("li")).toHaveLength(2);
    const link = root.querySelector("a");
    expect(link?.getAttribute("href")).toBe("https://example.org/a");
    expect(link?.getAttribute("rel")).toContain("noopener");
  });

  it("an image named in Markdown shows as its alt text", () => {
    const root = renderMarkdown("See ![the graph](https://example.org/graph.png) above.");
    expect(root.querySelector("img")).toBeNull();
    expect(root.querySelector(".md-image-alt")?.textContent).toBe("[image: the graph]");
  });
});

describe("Markdown: a student's question (literal) shows as typed", () => {
  it("invents no emphasis, heading, list or link, keeps the lines, and typesets math", () => {
    const { container } = render(
      <Markdown literal text={"Is 2*3*4 = 24?\n# not a heading\n1. not a list [nor](a link)\nSolve $x^2 = 4$."} />,
    );
    expect(container.querySelector("em, strong, h1, ol, a")).toBeNull();
    const text = container.textContent ?? "";
    expect(text).toContain("Is 2*3*4 = 24?");
    expect(text).toContain("# not a heading");
    expect(text).toContain("1. not a list [nor](a link)");
    expect(container.querySelectorAll("br").length).toBe(3);
    expectInline(container, "x^2 = 4");
    expectNoKatexError(container);
  });

  it("typesets a bare \\boxed{} in model output", () => {
    const { container } = render(<Markdown text={"So the answer is \\boxed{42}."} />);
    expectInline(container, "\\boxed{42}");
    // Outside the typeset formula (whose MathML keeps its source) no TeX is left.
    container.querySelectorAll(".katex").forEach((k) => k.remove());
    expect(container.textContent).toBe("So the answer is .");
  });
});
