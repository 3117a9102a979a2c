import { describe, expect, it } from "vitest";
import { finalAnswerMarkdown, stripAnswerTags } from "./answerText";

describe("stripAnswerTags", () => {
  it("removes <answer> wrappers in any case and spacing", () => {
    expect(stripAnswerTags("<answer>42</answer>")).toBe("42");
    expect(stripAnswerTags("So <ANSWER >x = 2</Answer>.")).toBe("So x = 2.");
    expect(stripAnswerTags("<answer>\nA long\nanswer\n</answer>\n")).toBe("A long\nanswer");
  });

  it("hides a tag cut off at the end of a growing stream", () => {
    for (const cut of ["<", "<a", "<ans", "<answer", "</", "</answ", "</answer"]) {
      expect(stripAnswerTags(`The result is 4${cut}`, true), cut).toBe("The result is 4");
    }
    expect(stripAnswerTags("<answer>4</ans", true)).toBe("4");
  });

  it("keeps a '<' that cannot start a tag", () => {
    expect(stripAnswerTags("if a <b", true)).toBe("if a <b");
    expect(stripAnswerTags("so x < 3", true)).toBe("so x < 3");
    expect(stripAnswerTags("<answers", true)).toBe("<answers");
  });

  it("keeps a cut tag in a finished answer (it is text, the stream is over)", () => {
    expect(stripAnswerTags("x <ans")).toBe("x <ans");
  });

  it("gives the same text however the stream was cut", () => {
    const full = "Reasoning done.<answer>\\frac{1}{2}</answer>";
    const want = stripAnswerTags(full);
    expect(want).toBe("Reasoning done.\\frac{1}{2}");
    for (let n = 0; n <= full.length; n += 1) {
      const shown = stripAnswerTags(full.slice(0, n), true);
      expect(want.startsWith(shown), `prefix ${n}: ${shown}`).toBe(true);
      expect(shown).not.toMatch(/<\/?a/);
    }
  });
});

describe("finalAnswerMarkdown", () => {
  it("wraps bare TeX (a \\boxed{} inside) in dollars", () => {
    expect(finalAnswerMarkdown("\\frac{1}{2}")).toBe("$\\frac{1}{2}$");
    expect(finalAnswerMarkdown(" x^2 + 1 ")).toBe("$x^2 + 1$");
    expect(finalAnswerMarkdown("\\sqrt{2}")).toBe("$\\sqrt{2}$");
  });

  it("passes prose and already-delimited math through", () => {
    expect(finalAnswerMarkdown("42")).toBe("42");
    expect(finalAnswerMarkdown("B")).toBe("B");
    expect(finalAnswerMarkdown("The triangle is isosceles")).toBe("The triangle is isosceles");
    expect(finalAnswerMarkdown("$x = 2$")).toBe("$x = 2$");
    expect(finalAnswerMarkdown("\\(x\\)")).toBe("\\(x\\)");
    expect(finalAnswerMarkdown("line one\nline_two")).toBe("line one\nline_two");
    expect(finalAnswerMarkdown("   ")).toBe("");
  });

  it("treats TeX mixed into a sentence as prose", () => {
    expect(finalAnswerMarkdown("the area is \\pi r^2 square units")).toBe("the area is \\pi r^2 square units");
  });
});
