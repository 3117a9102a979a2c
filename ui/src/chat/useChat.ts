import { createContext, useContext, useSyncExternalStore } from "react";
import type { ChatController, ChatSnapshot } from "./controller";

export const ChatContext = createContext<ChatController | null>(null);

export function useChatController(): ChatController {
  const controller = useContext(ChatContext);
  if (!controller) throw new Error("useChatController needs a ChatContext provider");
  return controller;
}

/** One field of a controller's state; the component re-renders only when that field changes,
 * so the sidebar and composer stay still while an answer streams. */
export function useChatState<T>(controller: ChatController, select: (snapshot: ChatSnapshot) => T): T {
  return useSyncExternalStore(controller.subscribe, () => select(controller.getSnapshot()));
}

export function useChat<T>(select: (snapshot: ChatSnapshot) => T): T {
  return useChatState(useChatController(), select);
}
