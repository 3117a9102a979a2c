import { useCallback, useEffect, useRef, useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { ConversationSummary, SearchHit } from "../ipc/types";

const PAGE = 100;

export interface History {
  conversations: ConversationSummary[];
  loading: boolean;
  error: string | null;
  hasMore: boolean;
  refresh: () => void;
  loadMore: () => void;
}

export function useHistory(): History {
  const [conversations, setConversations] = useState<ConversationSummary[]>([]);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const shown = useRef(PAGE);
  const request = useRef(0);

  const load = useCallback((limit: number, offset: number, append: boolean) => {
    const id = ++request.current;
    setLoading(true);
    commands.listConversations(limit, offset).then(
      (page) => {
        if (id !== request.current) return;
        setConversations((current) => (append ? [...current, ...page] : page));
        setHasMore(page.length === limit);
        setError(null);
        setLoading(false);
      },
      (reason: unknown) => {
        if (id !== request.current) return;
        setError(errorText(reason));
        setLoading(false);
      },
    );
  }, []);

  const refresh = useCallback(() => load(shown.current, 0, false), [load]);
  const loadMore = useCallback(() => {
    const offset = shown.current;
    shown.current += PAGE;
    load(PAGE, offset, true);
  }, [load]);

  useEffect(() => refresh(), [refresh]);

  return { conversations, loading, error, hasMore, refresh, loadMore };
}

export interface SearchState {
  hits: SearchHit[];
  searching: boolean;
  error: string | null;
}

/** Searches as the user types, a moment after they pause; an empty query searches nothing. */
export function useHistorySearch(query: string, delayMs = 150): SearchState {
  const [state, setState] = useState<SearchState>({ hits: [], searching: false, error: null });
  useEffect(() => {
    const text = query.trim();
    if (text === "") {
      setState({ hits: [], searching: false, error: null });
      return;
    }
    let current = true;
    setState((s) => ({ ...s, searching: true }));
    const timer = setTimeout(() => {
      commands.searchHistory({ text, model_id: null, from: null, to: null }).then(
        (hits) => current && setState({ hits, searching: false, error: null }),
        (reason: unknown) => current && setState({ hits: [], searching: false, error: errorText(reason) }),
      );
    }, delayMs);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [query, delayMs]);
  return state;
}
