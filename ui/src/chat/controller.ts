// The open conversation and the one generation that may be running: asking, streaming into the
// right turn, stopping, regenerating and editing. Components read it through useChat and call
// its methods; it is the only place that talks to `ask`.
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { AttachedPicture, GenerationSettings, StreamEvent } from "../ipc/types";
import { createBatcher, type Batcher } from "../stream/batcher";
import { applyEvents, failTurn, newTurn, type TimedEvent, type TurnState } from "../stream/turn";
import { itemsFromConversation, newKey, type AssistantItem, type ChatItem, type UserItem } from "./items";

export interface ChatSnapshot {
  conversationId: number | null;
  items: readonly ChatItem[];
  /** A generation is running, in this conversation or another one. */
  generating: boolean;
  opening: boolean;
  openError: string | null;
}

interface LiveGeneration {
  key: string;
  turn: TurnState;
  conversationId: number | null;
  assistantId: number | null;
  batcher: Batcher<TimedEvent>;
}

export interface ChatDeps {
  getSettings: () => GenerationSettings;
  /** Transcribe-first for new questions with pictures (the composer's switch); off when absent. */
  getTranscribeFirst?: () => boolean;
  /** Called when the history list may have changed (a new conversation, a finished answer). */
  onHistoryChanged: () => void;
  now?: () => number;
}

const EMPTY: ChatSnapshot = {
  conversationId: null,
  items: [],
  generating: false,
  opening: false,
  openError: null,
};

export class ChatController {
  private snapshot: ChatSnapshot = EMPTY;
  private listeners = new Set<() => void>();
  private live: LiveGeneration | null = null;
  private openRequest = 0;
  private readonly now: () => number;

  constructor(private readonly deps: ChatDeps) {
    this.now = deps.now ?? Date.now;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): ChatSnapshot => this.snapshot;

  private set(patch: Partial<ChatSnapshot>) {
    this.snapshot = { ...this.snapshot, ...patch };
    for (const listener of this.listeners) listener();
  }

  newConversation() {
    this.openRequest += 1;
    this.set({ conversationId: null, items: [], opening: false, openError: null });
  }

  async open(id: number) {
    const request = ++this.openRequest;
    this.set({ opening: true, openError: null });
    try {
      const conversation = await commands.getConversation(id);
      if (request !== this.openRequest) return;
      this.set({
        conversationId: conversation.id,
        items: this.withLiveTurn(conversation.id, itemsFromConversation(conversation)),
        opening: false,
      });
    } catch (reason) {
      if (request !== this.openRequest) return;
      this.set({ opening: false, openError: errorText(reason) });
    }
  }

  /** A stored copy of the message being generated is stale: the live turn replaces it. */
  private withLiveTurn(conversationId: number, items: ChatItem[]): ChatItem[] {
    const live = this.live;
    if (!live || live.conversationId !== conversationId || live.assistantId === null) return items;
    return items.map((item) =>
      item.kind === "assistant" && item.id === live.assistantId ? { ...item, key: live.key, turn: live.turn } : item,
    );
  }

  private transcribeFirst(): boolean {
    return this.deps.getTranscribeFirst?.() ?? false;
  }

  /** Asks a new question in the open conversation. Returns false when a generation is running. */
  send(text: string, pictures: AttachedPicture[]): boolean {
    return this.startAsk(text, pictures, null, this.snapshot.items, this.transcribeFirst());
  }

  /** Asks the question of `userKey` again, replacing it and everything after it; with
   * `transcribe`, the model reads its pictures again first. */
  regenerate(userKey: string, transcribe = false): boolean {
    const user = this.findUser(userKey);
    if (!user) return false;
    return this.resend(user, user.text, transcribe);
  }

  editAndResend(userKey: string, text: string): boolean {
    const user = this.findUser(userKey);
    if (!user || text.trim() === "") return false;
    return this.resend(user, text, this.transcribeFirst());
  }

  /** Answers the question before the reading `readingKey` from that reading: `correction` is
   * the student's text (null keeps the reading as it is). Whatever followed the reading is
   * replaced, so this also regenerates an answer from it. */
  solve(readingKey: string, correction: string | null): boolean {
    if (this.live) return false;
    const items = this.snapshot.items;
    const index = items.findIndex((item) => item.key === readingKey);
    const reading = items[index];
    const conversationId = this.snapshot.conversationId;
    if (reading?.kind !== "assistant" || !reading.reading || reading.id === null || conversationId === null) return false;
    const transcriptionId = reading.id;
    const kept = items.slice(0, index + 1).map((item) => (item === reading ? withoutDraft(reading) : item));
    const answer = this.begin(kept, [], conversationId);
    commands
      .solve(
        { conversation_id: conversationId, transcription_id: transcriptionId, reading: correction, settings: this.deps.getSettings() },
        answer.onEvent,
      )
      .then((started) => {
        answer.live.assistantId = started.assistant_message_id;
        this.patchItems((item) => {
          if (item.key === readingKey && item.kind === "assistant") {
            const turn = { ...item.turn, answer: started.reading };
            return { ...withoutDraft(item), turn, reading: started.corrected ? "corrected" : "model" };
          }
          if (item.key === answer.live.key) return { ...item, id: started.assistant_message_id };
          return item;
        });
        this.deps.onHistoryChanged();
      })
      .catch((reason: unknown) => {
        // Refused before any answer began: the correction goes back into the card with why.
        answer.live.batcher.cancel();
        if (this.live === answer.live) this.live = null;
        const text = correction ?? reading.turn.answer;
        this.set({
          generating: this.live !== null,
          items: this.snapshot.items
            .filter((item) => item.key !== answer.live.key)
            .map((item) => (item.key === readingKey ? { ...item, draft: { text, error: errorText(reason) } } : item)),
        });
      });
    return true;
  }

  async stop(): Promise<void> {
    if (!this.live) return;
    await commands.stopGeneration();
  }

  private findUser(key: string): UserItem | undefined {
    return this.snapshot.items.find((item): item is UserItem => item.kind === "user" && item.key === key);
  }

  private resend(user: UserItem, text: string, transcribe: boolean): boolean {
    const index = this.snapshot.items.indexOf(user);
    const kept = this.snapshot.items.slice(0, index);
    // A question the backend never saved has no id to replace: it is simply asked again.
    return this.startAsk(text, user.pictures, user.id, kept, transcribe);
  }

  /** Shows `added` and a new streaming assistant turn after `kept`, and makes it the live
   * generation; `onEvent` feeds it. */
  private begin(
    kept: readonly ChatItem[],
    added: ChatItem[],
    conversationId: number | null,
    reading?: "model",
  ): { live: LiveGeneration; onEvent: (event: StreamEvent) => void } {
    const assistant: AssistantItem = {
      kind: "assistant",
      key: newKey("a"),
      id: null,
      turn: newTurn(this.now()),
    };
    if (reading) assistant.reading = reading;
    const live: LiveGeneration = {
      key: assistant.key,
      turn: assistant.turn,
      conversationId,
      assistantId: null,
      batcher: createBatcher<TimedEvent>((events) => this.deliver(live, events)),
    };
    this.live = live;
    this.set({ items: [...kept, ...added, assistant], generating: true });
    const onEvent = (event: StreamEvent) => {
      live.batcher.push({ event, at: this.now() });
      // The end of a stream is shown at once rather than a frame later.
      if (event.event === "done" || event.event === "failed") live.batcher.flush();
    };
    return { live, onEvent };
  }

  private patchItems(patch: (item: ChatItem) => ChatItem) {
    this.set({ items: this.snapshot.items.map(patch) });
  }

  private startAsk(
    text: string,
    pictures: AttachedPicture[],
    replaceFrom: number | null,
    kept: readonly ChatItem[],
    transcribe: boolean,
  ): boolean {
    if (this.live) return false;
    const conversationId = this.snapshot.conversationId;
    const user: UserItem = { kind: "user", key: newKey("u"), id: null, text, pictures };
    const transcribing = transcribe && pictures.length > 0;
    const { live, onEvent } = this.begin(kept, [user], conversationId, transcribing ? "model" : undefined);
    commands
      .ask(
        {
          conversation_id: conversationId,
          replace_from: replaceFrom,
          text,
          pictures: pictures.map((p) => p.sha256),
          settings: this.deps.getSettings(),
          transcribe_first: transcribing,
        },
        onEvent,
      )
      .then((started) => {
        live.conversationId = started.conversation_id;
        live.assistantId = started.assistant_message_id;
        if (!this.snapshot.items.some((item) => item.key === live.key)) return;
        this.set({
          conversationId: this.snapshot.conversationId ?? started.conversation_id,
          items: this.snapshot.items.map((item) => {
            if (item.key === user.key) return { ...item, id: started.user_message_id };
            if (item.key !== live.key || item.kind !== "assistant") return item;
            const answered: AssistantItem = { ...item, id: started.assistant_message_id };
            if (!started.transcription) delete answered.reading;
            return answered;
          }),
        });
        this.deps.onHistoryChanged();
      })
      .catch((reason: unknown) => {
        live.batcher.flush();
        this.updateLive(live, failTurn(live.turn, errorText(reason)));
      });
    return true;
  }

  private deliver(live: LiveGeneration, events: TimedEvent[]) {
    this.updateLive(live, applyEvents(live.turn, events));
  }

  private updateLive(live: LiveGeneration, turn: TurnState) {
    if (turn === live.turn) return;
    live.turn = turn;
    const over = turn.status !== "streaming";
    if (over && this.live === live) {
      this.live = null;
      live.batcher.cancel();
    }
    const items = this.snapshot.items;
    const index = items.findIndex((item) => item.key === live.key);
    const patch: Partial<ChatSnapshot> = { generating: this.live !== null };
    if (index !== -1) {
      const next = items.slice();
      next[index] = { ...(items[index] as AssistantItem), turn };
      patch.items = next;
    }
    this.set(patch);
    if (over) this.deps.onHistoryChanged();
  }
}

function withoutDraft(item: AssistantItem): AssistantItem {
  if (!item.draft) return item;
  const { draft: _draft, ...rest } = item;
  return rest;
}
