import { describe, expect, it } from "vitest";
import { checkSummary, describeServerModel, serverHost } from "./serverText";

describe("server words", () => {
  it("says whether a model reads pictures, and its context when known", () => {
    expect(describeServerModel({ id: "r1", takes_pictures: true, context_tokens: 16384 })).toBe(
      "r1 · reads pictures · 16,384 tokens of context",
    );
    expect(describeServerModel({ id: "llama", takes_pictures: false, context_tokens: null })).toBe(
      "llama · text only: pictures will be refused",
    );
    expect(describeServerModel({ id: "x", takes_pictures: null, context_tokens: null })).toBe(
      "x · pictures: the server does not say",
    );
  });

  it("sums up a check with one or several models", () => {
    const one = {
      base_url: "http://h:8000/v1",
      served_by: null,
      elapsed_ms: 12,
      models: [{ id: "a", takes_pictures: null, context_tokens: null }],
    };
    expect(checkSummary(one)).toMatch(/^http:\/\/h:8000\/v1 answered in .+ with 1 model$/);
    expect(checkSummary({ ...one, models: [...one.models, ...one.models] })).toMatch(/with 2 models$/);
    expect(checkSummary({ ...one, served_by: "vLLM" })).toMatch(/^http:\/\/h:8000\/v1 \(vLLM\) answered in /);
  });

  it("shows a server by its host", () => {
    expect(serverHost("http://10.0.0.2:8000/v1")).toBe("10.0.0.2:8000");
    expect(serverHost("not a url")).toBe("not a url");
    expect(serverHost(null)).toBe("");
  });
});
