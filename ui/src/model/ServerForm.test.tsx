import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import * as commands from "../ipc/commands";
import { ServerForm } from "./ServerForm";
import type { ModelState } from "./useModel";

vi.mock("../ipc/commands", () => ({ checkServer: vi.fn(), savedServer: vi.fn() }));

function model(error: string | null = null): ModelState {
  return { info: null, loadingSince: null, error, load: vi.fn(), connect: vi.fn().mockResolvedValue(true), cancel: vi.fn() };
}

describe("ServerForm", () => {
  beforeEach(() => {
    vi.mocked(commands.savedServer).mockResolvedValue(null);
  });

  it("tests the connection, lists the models and uses the chosen one with the typed key", async () => {
    vi.mocked(commands.checkServer).mockResolvedValue({
      base_url: "http://10.0.0.2:8000/v1",
      served_by: "vLLM",
      elapsed_ms: 8,
      models: [
        { id: "r1-onevision", takes_pictures: null, context_tokens: 16384 },
        { id: "qwen-vl", takes_pictures: true, context_tokens: null },
      ],
    });
    const m = model();
    render(<ServerForm model={m} />);
    const use = screen.getByTestId<HTMLButtonElement>("server-use");
    expect(use.disabled).toBe(true);
    fireEvent.change(screen.getByTestId("server-address"), { target: { value: " 10.0.0.2:8000 " } });
    fireEvent.change(screen.getByTestId("server-key"), { target: { value: "k" } });
    fireEvent.click(screen.getByTestId("server-test"));
    const check = await screen.findByTestId("server-check");
    expect(commands.checkServer).toHaveBeenCalledWith("10.0.0.2:8000", "k");
    expect(check.textContent).toContain("answered in");
    expect(check.textContent).toContain("r1-onevision · pictures: the server does not say · 16,384 tokens of context");
    fireEvent.change(screen.getByTestId("server-model-select"), { target: { value: "qwen-vl" } });
    expect(use.disabled).toBe(false);
    fireEvent.click(use);
    await waitFor(() =>
      expect(m.connect).toHaveBeenCalledWith({
        address: "10.0.0.2:8000",
        api_key: "k",
        model: "qwen-vl",
        remember_key: true,
      }),
    );
  });

  it("says why a server did not answer, as text", async () => {
    vi.mocked(commands.checkServer).mockRejectedValue("cannot reach the server at http://x:1/v1: <b>refused</b>");
    render(<ServerForm model={model()} />);
    fireEvent.change(screen.getByTestId("server-address"), { target: { value: "x:1" } });
    fireEvent.click(screen.getByTestId("server-test"));
    const error = await screen.findByTestId("server-error");
    expect(error.textContent).toBe("cannot reach the server at http://x:1/v1: <b>refused</b>");
    expect(error.querySelector("b")).toBeNull();
  });

  it("fills the server used last and may use it without a new test", async () => {
    vi.mocked(commands.savedServer).mockResolvedValue({ address: "http://h:8000/v1", model: "r1", has_key: true });
    const m = model();
    render(<ServerForm model={m} />);
    await waitFor(() => expect(screen.getByTestId<HTMLInputElement>("server-address").value).toBe("http://h:8000/v1"));
    expect(screen.getByTestId<HTMLInputElement>("server-key").placeholder).toBe("Remembered for this server");
    fireEvent.click(screen.getByTestId("server-use"));
    await waitFor(() =>
      expect(m.connect).toHaveBeenCalledWith({ address: "http://h:8000/v1", api_key: null, model: "r1", remember_key: true }),
    );
  });
});
