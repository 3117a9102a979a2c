// What the conversation view lists: user questions and assistant turns, each with a key that
// stays the same from the moment it is sent, before and after the backend gives it an id.
import type { AttachedPicture, Conversation } from "../ipc/types";
import { turnFromStored, type TurnState } from "../stream/turn";

export interface UserItem {
  kind: "user";
  key: string;
  id: number | null;
  text: string;
  pictures: AttachedPicture[];
}

export interface AssistantItem {
  kind: "assistant";
  key: string;
  id: number | null;
  turn: TurnState;
  /** Transcribe-first's reading of the question's pictures (as the model wrote it, or as the
   * student corrected it) rather than an answer. */
  reading?: "model" | "corrected";
  /** A correction of the reading that could not be answered from yet: the card opens it again
   * with why, so nothing the student typed is lost. */
  draft?: ReadingDraft;
}

export interface ReadingDraft {
  text: string;
  error: string;
}

export type ChatItem = UserItem | AssistantItem;

let counter = 0;
export function newKey(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

export function itemsFromConversation(conversation: Conversation): ChatItem[] {
  const items: ChatItem[] = [];
  for (const message of conversation.messages) {
    if (message.role === "user") {
      items.push({
        kind: "user",
        key: `m-${message.id}`,
        id: message.id,
        text: message.text,
        pictures: message.pictures,
      });
    } else if (message.role === "assistant") {
      const item: AssistantItem = { kind: "assistant", key: `m-${message.id}`, id: message.id, turn: turnFromStored(message) };
      if (message.kind === "transcription") item.reading = message.edited_from === null ? "model" : "corrected";
      items.push(item);
    }
  }
  return items;
}
