import { memo, useEffect, useRef, useState } from "react";
import { errorText } from "../ipc/errors";
import { finalAnswerMarkdown, stripAnswerTags } from "../render/answerText";
import { Markdown } from "../render/Markdown";
import { plainTextOf } from "../render/plainText";
import { statsLabel, statusBadge } from "../stream/labels";
import type { TurnState } from "../stream/turn";
import { notify } from "../ui/notices";
import { copyText } from "./clipboard";
import type { ReadingDraft } from "./items";
import { readingParts } from "./reading";
import { ReadingEditor } from "./ReadingEditor";
import { ThinkingSection } from "./ThinkingSection";

export interface AssistantTurnProps {
  turn: TurnState;
  /** Absent when there is no question to ask again (or while another answer is generating). */
  onRegenerate?: (() => void) | undefined;
  onStop: () => void;
  /** The turn is transcribe-first's reading of the pictures, not an answer. */
  reading?: "model" | "corrected" | undefined;
  /** Present when the question can be answered from this reading now (it is finished and
   * nothing else is generating); an answer already after it is then replaced. */
  onSolve?: ((correction: string | null) => void) | undefined;
  /** No answer follows the reading yet: the card asks the student to check it and solve. */
  unanswered?: boolean;
  /** A correction that was refused, opened again with why. */
  draft?: ReadingDraft | undefined;
}

function copy(text: string, what: string) {
  copyText(text).then(
    () => notify(`${what} copied.`, "info"),
    (reason: unknown) => notify(errorText(reason)),
  );
}

export const AssistantTurn = memo(function AssistantTurn({
  turn,
  onRegenerate,
  onStop,
  reading,
  onSolve,
  unanswered = false,
  draft,
}: AssistantTurnProps) {
  const answerRef = useRef<HTMLDivElement>(null);
  const [editing, setEditing] = useState(draft !== undefined);
  useEffect(() => {
    if (draft) setEditing(true);
  }, [draft]);
  const streaming = turn.status === "streaming";
  const answer = stripAnswerTags(turn.answer, streaming);
  const parts = reading ? readingParts(answer) : null;
  const showThinking = turn.think !== "" || (streaming && turn.answer === "");
  const badge = statusBadge(turn);
  const stats = statsLabel(turn);
  // An `<answer>` block that is the whole answer is shown once, highlighted, not twice.
  const answerIsFinal = !reading && !streaming && turn.finalAnswer !== null && answer.trim() === turn.finalAnswer.trim();
  const answerBlock = (
    <div className="turn__answer" data-testid="answer" ref={answerRef}>
      <Markdown text={parts ? parts.body : answer} streaming={streaming} displayMath={answerIsFinal} />
    </div>
  );
  const solveFrom = (correction: string | null) => {
    setEditing(false);
    onSolve?.(correction);
  };

  return (
    <article className="turn turn--assistant" data-testid="assistant-turn" data-status={turn.status} aria-busy={streaming}>
      {reading && (
        <div className="turn__reading-head">
          <p className="turn__reading" data-testid="transcription-label">
            {reading === "corrected" ? "What the picture shows, as corrected by you" : "What the picture shows, as the model read it"}
          </p>
          {parts?.kind && (
            <span className="turn__kind" data-testid="transcription-kind">
              {parts.kind}
            </span>
          )}
        </div>
      )}
      {showThinking && <ThinkingSection turn={turn} />}
      {editing && onSolve ? (
        <ReadingEditor
          initial={draft?.text ?? answer}
          original={answer}
          error={draft?.error ?? null}
          onSolve={solveFrom}
          onCancel={() => setEditing(false)}
        />
      ) : (
        answer !== "" && !answerIsFinal && answerBlock
      )}
      {turn.finalAnswer && !streaming && !reading && (
        <div className="final-answer" data-testid="final-answer">
          <span className="final-answer__label">Final answer</span>
          {answerIsFinal ? answerBlock : <Markdown text={finalAnswerMarkdown(turn.finalAnswer)} displayMath />}
        </div>
      )}
      {(badge || turn.error) && (
        <div className={`turn__problem turn__problem--${turn.status}`}>
          {badge && <span className="badge">{badge}</span>}
          {turn.error && (
            <p className="turn__error" data-testid="turn-error" role="alert">
              {turn.error}
            </p>
          )}
        </div>
      )}
      {onSolve && unanswered && !editing && (
        <div className="turn__solve">
          <span className="field__hint">Check the reading against the picture; fix it if the model misread anything.</span>
          <button type="button" className="button" data-testid="reading-edit" onClick={() => setEditing(true)}>
            Edit reading
          </button>
          <button type="button" className="button button--primary" data-testid="solve-button" onClick={() => solveFrom(null)}>
            Solve
          </button>
        </div>
      )}
      <footer className="turn__footer">
        {stats && (
          <span className="turn__stats" data-testid="turn-stats">
            {stats}
          </span>
        )}
        <span className="turn__actions">
          {streaming ? (
            <button type="button" className="button button--danger" data-testid="stop-button" onClick={onStop} title="Stop (Esc)">
              Stop
            </button>
          ) : (
            <>
              {answer !== "" && (
                <>
                  <button
                    type="button"
                    className="button button--quiet"
                    data-testid="copy-text-button"
                    onClick={() => copy(answerRef.current ? plainTextOf(answerRef.current) : answer, "Text")}
                  >
                    Copy text
                  </button>
                  <button
                    type="button"
                    className="button button--quiet"
                    data-testid="copy-latex-button"
                    onClick={() => copy(answer, "LaTeX source")}
                  >
                    Copy LaTeX
                  </button>
                </>
              )}
              {onSolve && !unanswered && !editing && (
                <button type="button" className="button button--quiet" data-testid="reading-edit" onClick={() => setEditing(true)}>
                  Edit reading
                </button>
              )}
              {onRegenerate && (
                <button type="button" className="button button--quiet" data-testid="regenerate-button" onClick={onRegenerate}>
                  Regenerate
                </button>
              )}
            </>
          )}
        </span>
      </footer>
    </article>
  );
});
