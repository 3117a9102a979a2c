import { useState } from "react";
import { fitScale, isUsable, toCapturePixels } from "../capture/geometry";
import { useDragSelection } from "../capture/useDragSelection";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { AttachedPicture, PictureView } from "../ipc/types";
import { Modal } from "../ui/Modal";

export interface PictureDialogProps {
  picture: AttachedPicture;
  /** What the model is shown of it; null while it is read, or with `error` when it could not be. */
  view: PictureView | null;
  error: string | null;
  onCropped: (crop: AttachedPicture) => void;
  onOpenSettings: () => void;
  onClose: () => void;
}

/** The box the picture is shown in, in CSS pixels. */
const STAGE_WIDTH = 620;
const STAGE_HEIGHT = 400;

const count = (n: number) => n.toLocaleString("en-US");

/** Exactly the pixels the model is shown of an attached picture, their size and token count,
 * a warning when small print will not survive; and a crop to send just one problem. */
export function PictureDialog({ picture, view, error, onCropped, onOpenSettings, onClose }: PictureDialogProps) {
  const [cropping, setCropping] = useState(false);
  const [cropError, setCropError] = useState<string | null>(null);

  const scale = view ? fitScale(view.seen_width, view.seen_height, STAGE_WIDTH, STAGE_HEIGHT) : 1;
  const shownWidth = view ? Math.round(view.seen_width * scale) : 0;
  const shownHeight = view ? Math.round(view.seen_height * scale) : 0;
  const { stageRef, selection, handlers } = useDragSelection(shownWidth, shownHeight, {
    onStart: () => setCropError(null),
  });
  // The selection in the picture's own pixels (what is cropped), not the shown ones.
  const region = view && selection ? toCapturePixels(selection, shownWidth / view.width, view.width, view.height) : null;

  const crop = async () => {
    if (!region) return;
    setCropping(true);
    setCropError(null);
    try {
      onCropped(await commands.cropPicture({ sha256: picture.sha256, ...region }));
    } catch (reason) {
      setCropError(errorText(reason));
    } finally {
      setCropping(false);
    }
  };

  return (
    <Modal title="What the model sees" testId="picture-dialog" onClose={onClose}>
      <div className="picture-view">
        {error && (
          <p className="field__error" role="alert">
            {error}
          </p>
        )}
        {!view && !error && <p className="picture-view__summary">Reading the picture…</p>}
        {view && (
          <>
            <p className="picture-view__summary" data-testid="picture-summary">
              {view.exact ? "The model is shown exactly this" : "The model is shown about this (the server resizes pictures itself)"}:{" "}
              {count(view.seen_width)} × {count(view.seen_height)} pixels, {count(view.tokens)} picture tokens. Your picture is{" "}
              {count(view.width)} × {count(view.height)}.
            </p>
            {view.warning && (
              <p className="picture-view__warning" role="alert" data-testid="picture-warning">
                {view.warning}{" "}
                <button type="button" className="link-button" onClick={onOpenSettings}>
                  Picture detail…
                </button>
              </p>
            )}
            <div
              ref={stageRef}
              className="picture-view__stage"
              data-testid="picture-stage"
              style={{ width: shownWidth, height: shownHeight }}
              {...handlers}
            >
              <img src={view.image} alt="The picture as the model sees it" draggable={false} width={shownWidth} height={shownHeight} />
              {selection && selection.width > 0 && selection.height > 0 && (
                <div
                  className="capture__selection picture-view__selection"
                  style={{ left: selection.x, top: selection.y, width: selection.width, height: selection.height }}
                />
              )}
            </div>
            {/* The hint and a refused crop share one line, so the centred dialog does not move
                under the pointer when one replaces the other. */}
            {cropError ? (
              <p className="field__error picture-view__hint" role="alert" data-testid="crop-error">
                {cropError}
              </p>
            ) : (
              <p className="picture-view__hint">
                Drag over one problem to send just that part
                {region && isUsable(region) && (
                  <span data-testid="crop-size">
                    {" "}
                    · {count(region.width)} × {count(region.height)} px of the picture
                  </span>
                )}
                .
              </p>
            )}
          </>
        )}
        <div className="form__actions">
          <button type="button" className="button" onClick={onClose}>
            Close
          </button>
          <button
            type="button"
            className="button button--primary"
            data-testid="crop-button"
            disabled={!region || !isUsable(region) || cropping}
            onClick={() => void crop()}
          >
            {cropping ? "Cropping…" : "Send only this part"}
          </button>
        </div>
      </div>
    </Modal>
  );
}
