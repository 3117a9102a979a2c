import { describe, expect, it } from "vitest";
import { readableSnippet } from "./snippet";

const plain = (text: string) => ({ text, highlighted: false });
const hit = (text: string) => ({ text, highlighted: true });

describe("readableSnippet", () => {
  it("drops think and answer tags, emphasis and math delimiters", () => {
    expect(
      readableSnippet([plain("<think>\nThe **area** is $"), hit("triangle"), plain("$ so </think><answer>\\boxed{12}</answer>")]),
    ).toEqual([plain("The area is "), hit("triangle"), plain(" so 12")]);
  });

  it("unwraps nested boxes and text, and keeps a highlighted word inside a box", () => {
    expect(readableSnippet([plain("answer: \\boxed{\\text{B}} and \\boxed{"), hit("x"), plain("}")])).toEqual([
      plain("answer: B and "),
      hit("x"),
      plain("}"),
    ]);
  });

  it("reads roots, fractions and common TeX symbols as text", () => {
    expect(
      readableSnippet([plain("is $c = \\sqrt{9+16} = 5$, area $\\frac{1}{2} \\cdot 3 \\times 4$ and $\\dfrac{\\sqrt{3}}{2}$, $x \\le 2\\pi$")]),
    ).toEqual([plain("is c = √(9+16) = 5, area 1/2 · 3 × 4 and √(3)/2, x ≤ 2π")]);
  });

  it("keeps a TeX command it has no symbol for as written", () => {
    expect(readableSnippet([plain("$\\mathcal{L} = 0$")])).toEqual([plain("\\mathcal{L} = 0")]);
  });

  it("leaves ordinary text alone", () => {
    expect(readableSnippet([plain("Find the "), hit("hypotenuse"), plain(" of a right triangle.")])).toEqual([
      plain("Find the "),
      hit("hypotenuse"),
      plain(" of a right triangle."),
    ]);
  });
});
