import { describe, expect, it } from "vitest";
import { readingParts } from "./reading";

describe("readingParts", () => {
  it("takes the kind line the model was asked for, in the forms models write it", () => {
    expect(readingParts("Kind: geometry\nAB = 3")).toEqual({ kind: "Geometry figure", body: "AB = 3" });
    expect(readingParts("**Kind:** table\n| a | b |")).toEqual({ kind: "Chart or table", body: "| a | b |" });
    expect(readingParts("## kind: Equations.\n$x^2 = 4$")).toEqual({ kind: "Equation", body: "$x^2 = 4$" });
  });

  it("keeps an unknown kind as the model named it", () => {
    expect(readingParts("Kind: map\nRiver")).toEqual({ kind: "Map", body: "River" });
  });

  it("is all reading when there is no kind line", () => {
    expect(readingParts("  AB = 3\nBC = 4 ")).toEqual({ kind: null, body: "AB = 3\nBC = 4" });
    expect(readingParts("The kind: of thing")).toEqual({ kind: null, body: "The kind: of thing" });
  });
});
