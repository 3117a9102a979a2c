import { useId, useState } from "react";
import { Markdown } from "../render/Markdown";
import { thinkingLabel } from "../stream/labels";
import { isThinking, type TurnState } from "../stream/turn";
import { useNow } from "./useNow";

/** The model's reasoning: open and timed while it is written, folded to one line once the
 * answer starts; the header toggles it either way. */
export function ThinkingSection({ turn }: { turn: TurnState }) {
  const thinking = isThinking(turn);
  const now = useNow(thinking);
  const [choice, setChoice] = useState<boolean | null>(null);
  const open = choice ?? thinking;
  const bodyId = useId();

  return (
    <section className={`thinking${thinking ? " thinking--live" : ""}`}>
      <button
        type="button"
        className="thinking__header"
        data-testid="thinking-header"
        aria-expanded={open}
        aria-controls={bodyId}
        onClick={() => setChoice(!open)}
      >
        <span className="thinking__chevron" aria-hidden="true" />
        <span className="thinking__label">{thinkingLabel(turn, now)}</span>
      </button>
      {open && (
        <div className="thinking__body" id={bodyId} data-testid="thinking-body">
          {turn.think ? (
            <Markdown text={turn.think} streaming={thinking} />
          ) : (
            <p className="thinking__waiting">{thinking ? "Reading the question and the pictures…" : "No thinking was recorded."}</p>
          )}
        </div>
      )}
    </section>
  );
}
