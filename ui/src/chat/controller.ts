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

  /** Asks a new question in the open conversation. Returns false when a generation is running. */
  send(text: string, pictures: AttachedPicture[]): boolean {
    return this.startAsk(text, pictures, null, this.snapshot.items);
  }

  /** Asks the question of `userKey` again, replacing it and everything after it. */
  regenerate(userKey: string): boolean {
    const user = this.findUser(userKey);
    if (!user) return false;
    return this.resend(user, user.text);
  }

  editAndResend(userKey: string, text: string): boolean {
    const user = this.findUser(userKey);
    if (!user || text.trim() === "") return false;
    return this.resend(user, text);
  }

  async stop(): Promise<void> {
    if (!this.live) return;
    await commands.stopGeneration();
  }

  private findUser(key: string): UserItem | undefined {
    return this.snapshot.items.find((item): item is UserItem => item.kind === "user" && item.key === key);
  }

  private resend(user: UserItem, text: string): boolean {
    const index = this.snapshot.items.indexOf(user);
    const kept = this.snapshot.items.slice(0, index);
    // A question the backend never saved has no id to replace: it is simply asked again.
    return this.startAsk(text, user.pictures, user.id, kept);
  }

  private startAsk(
    text: string,
    pictures: AttachedPicture[],
    replaceFrom: number | null,
    kept: readonly ChatItem[],
  ): boolean {
    if (this.live) return false;
    const conversationId = this.snapshot.conversationId;
    const user: UserItem = { kind: "user", key: newKey("u"), id: null, text, pictures };
    const assistant: AssistantItem = {
      kind: "assistant",
      key: newKey("a"),
      id: null,
      turn: newTurn(this.now()),
    };
    const live: LiveGeneration = {
      key: assistant.key,
      turn: assistant.turn,
      conversationId,
      assistantId: null,
      batcher: createBatcher<TimedEvent>((events) => this.deliver(live, events)),
    };
    this.live = live;
    this.set({ items: [...kept, user, assistant], generating: true });

    const onEvent = (event: StreamEvent) => {
      live.batcher.push({ event, at: this.now() });
      // The end of a stream is shown at once rather than a frame later.
      if (event.event === "done" || event.event === "failed") live.batcher.flush();
    };
    commands
      .ask(
        {
          conversation_id: conversationId,
          replace_from: replaceFrom,
          text,
          pictures: pictures.map((p) => p.sha256),
          settings: this.deps.getSettings(),
        },
        onEvent,
      )
      .then((started) => {
        live.conversationId = started.conversation_id;
        live.assistantId = started.assistant_message_id;
        this.assignIds(user.key, started.user_message_id, assistant.key, started.assistant_message_id, started.conversation_id);
        this.deps.onHistoryChanged();
      })
      .catch((reason: unknown) => {
        live.batcher.flush();
        this.updateLive(live, failTurn(live.turn, errorText(reason)));
      });
    return true;
  }

  private assignIds(userKey: string, userId: number, assistantKey: string, assistantId: number, conversationId: number) {
    const items = this.snapshot.items;
    if (!items.some((item) => item.key === assistantKey)) return;
    this.set({
      conversationId: this.snapshot.conversationId ?? conversationId,
      items: items.map((item) => {
        if (item.key === userKey) return { ...item, id: userId };
        if (item.key === assistantKey) return { ...item, id: assistantId };
        return item;
      }),
    });
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
