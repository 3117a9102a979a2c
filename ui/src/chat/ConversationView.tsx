import { memo, useCallback, useEffect, useLayoutEffect, useRef } from "react";
import { errorText } from "../ipc/errors";
import { notify } from "../ui/notices";
import type { ChatController } from "./controller";
import type { AssistantItem, ChatItem, UserItem } from "./items";
import { AssistantTurn } from "./AssistantTurn";
import { UserTurn } from "./UserTurn";
import { useChat, useChatController } from "./useChat";
import { ExampleList } from "../examples/ExampleList";
import type { Example } from "../examples/examples";

function stopGeneration(controller: ChatController) {
  controller.stop().catch((reason: unknown) => notify(errorText(reason)));
}

const UserRow = memo(function UserRow({ item, canAsk }: { item: UserItem; canAsk: boolean }) {
  const controller = useChatController();
  const onResend = useCallback((text: string) => controller.editAndResend(item.key, text), [controller, item.key]);
  return <UserTurn text={item.text} pictures={item.pictures} onResend={canAsk ? onResend : undefined} />;
});

const AssistantRow = memo(function AssistantRow({
  item,
  userKey,
  canAsk,
}: {
  item: AssistantItem;
  userKey: string | null;
  canAsk: boolean;
}) {
  const controller = useChatController();
  const onRegenerate = useCallback(() => {
    if (userKey) controller.regenerate(userKey);
  }, [controller, userKey]);
  const onStop = useCallback(() => stopGeneration(controller), [controller]);
  return (
    <AssistantTurn
      turn={item.turn}
      reading={item.reading}
      onRegenerate={canAsk && userKey && !item.reading ? onRegenerate : undefined}
      onStop={onStop}
    />
  );
});

/** The question an assistant turn answers: the nearest user message above it. */
function userKeyBefore(items: readonly ChatItem[], index: number): string | null {
  for (let i = index - 1; i >= 0; i -= 1) {
    const item = items[i];
    if (item?.kind === "user") return item.key;
  }
  return null;
}

/** Keeps the newest text in view while it streams, unless the reader scrolled up to read. */
function useStickToBottom(dependency: unknown) {
  const ref = useRef<HTMLDivElement>(null);
  const stuck = useRef(true);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const onScroll = () => {
      stuck.current = element.scrollHeight - element.scrollTop - element.clientHeight < 48;
    };
    element.addEventListener("scroll", onScroll, { passive: true });
    return () => element.removeEventListener("scroll", onScroll);
  }, []);
  useLayoutEffect(() => {
    const element = ref.current;
    if (element && stuck.current) element.scrollTop = element.scrollHeight;
  }, [dependency]);
  return { ref, stuck };
}

export function ConversationView({
  onTryExample,
  onChooseModel,
}: {
  onTryExample?: (example: Example) => void;
  /** Given when no model answers yet: the empty state then says so, with the way to choose one. */
  onChooseModel?: () => void;
}) {
  const items = useChat((s) => s.items);
  const generating = useChat((s) => s.generating);
  const opening = useChat((s) => s.opening);
  const openError = useChat((s) => s.openError);
  const conversationId = useChat((s) => s.conversationId);
  const { ref, stuck } = useStickToBottom(items);
  const shape = useRef("");

  // A new question or a newly opened conversation always scrolls to its end.
  const nextShape = `${conversationId}:${items.length}`;
  if (nextShape !== shape.current) {
    shape.current = nextShape;
    stuck.current = true;
  }

  return (
    <div className="conversation" ref={ref} aria-live="polite" aria-busy={opening}>
      <div className="conversation__inner">
        {openError && (
          <p className="banner banner--error" role="alert">
            {openError}
          </p>
        )}
        {items.length === 0 && !opening && !openError && (
          <div className="empty">
            <h1 className="empty__title">Ask about a picture</h1>
            <p className="empty__text">
              Attach a photo of a geometry figure, a chart or a handwritten equation: drop it anywhere, paste it with
              Ctrl+V, pick a file, or capture a region of the screen. Then ask your question.
            </p>
            <p className="empty__keys">
              <kbd>Enter</kbd> sends · <kbd>Shift</kbd>+<kbd>Enter</kbd> new line · <kbd>Esc</kbd> stops ·{" "}
              <kbd>Ctrl</kbd>+<kbd>K</kbd> searches history
            </p>
            {onChooseModel && (
              <p className="empty__next" data-testid="empty-no-model">
                No model answers yet.{" "}
                <button type="button" className="link-button" onClick={onChooseModel}>
                  Choose a model
                </button>{" "}
                (on this computer or a server) before you send.
              </p>
            )}
            {onTryExample && <ExampleList onTry={onTryExample} />}
          </div>
        )}
        {items.map((item, index) =>
          item.kind === "user" ? (
            <UserRow key={item.key} item={item} canAsk={!generating} />
          ) : (
            <AssistantRow key={item.key} item={item} userKey={userKeyBefore(items, index)} canAsk={!generating} />
          ),
        )}
      </div>
    </div>
  );
}
