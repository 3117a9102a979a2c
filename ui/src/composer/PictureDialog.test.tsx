import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { AttachedPicture, PictureView } from "../ipc/types";
import { PictureDialog } from "./PictureDialog";

vi.mock("../ipc/commands", () => ({}));

const PICTURE: AttachedPicture = { sha256: "abc", width: 4032, height: 3024, mime: "image/jpeg", thumbnail: "" };
const VIEW: PictureView = {
  width: 4032,
  height: 3024,
  seen_width: 1148,
  seen_height: 868,
  tokens: 1271,
  warning: "The model sees this picture at 28 % of its width, so small print may be lost.",
  exact: true,
  image: "data:image/png;base64,",
};

function dialog(view: PictureView | null, error: string | null = null) {
  const props = { onCropped: vi.fn(), onOpenSettings: vi.fn(), onClose: vi.fn() };
  render(<PictureDialog picture={PICTURE} view={view} error={error} {...props} />);
  return props;
}

describe("PictureDialog", () => {
  it("gives the size the model is shown, its tokens and the picture's own size", () => {
    dialog(VIEW);
    expect(screen.getByTestId("picture-summary").textContent).toBe(
      "The model is shown exactly this: 1,148 × 868 pixels, 1,271 picture tokens. Your picture is 4,032 × 3,024.",
    );
  });

  it("says when a server resizes the picture itself", () => {
    dialog({ ...VIEW, exact: false, warning: null });
    expect(screen.getByTestId("picture-summary").textContent).toMatch(/^The model is shown about this \(the server resizes/);
    expect(screen.queryByTestId("picture-warning")).toBeNull();
  });

  it("puts the picture detail setting one click from the warning", () => {
    const props = dialog(VIEW);
    expect(screen.getByTestId("picture-warning").textContent).toMatch(/small print may be lost/);
    fireEvent.click(screen.getByRole("button", { name: "Picture detail…" }));
    expect(props.onOpenSettings).toHaveBeenCalledTimes(1);
  });

  it("offers no crop before a part is selected", () => {
    dialog(VIEW);
    expect((screen.getByTestId("crop-button") as HTMLButtonElement).disabled).toBe(true);
  });

  it("shows why a picture cannot be read", () => {
    dialog(null, "that picture is no longer attached; attach it again");
    expect(screen.getByRole("alert").textContent).toMatch(/no longer attached/);
  });
});
