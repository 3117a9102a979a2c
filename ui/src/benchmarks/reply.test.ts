import { describe, expect, it } from "vitest";
import { splitReply } from "./reply";

describe("splitReply", () => {
  it("separates the thinking from the answer and drops the tags", () => {
    expect(splitReply("<think>\nadd them\n</think>\n\n<answer>\\boxed{5}</answer>")).toEqual({
      think: "add them",
      answer: "\\boxed{5}",
    });
  });

  it("keeps prose without tags as the answer, and unfinished thinking as thinking", () => {
    expect(splitReply("The answer is C.")).toEqual({ think: "", answer: "The answer is C." });
    expect(splitReply("<think>still going")).toEqual({ think: "still going", answer: "" });
  });
});
