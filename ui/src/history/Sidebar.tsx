import { forwardRef, useMemo, useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { SearchHit } from "../ipc/types";
import { groupByDay } from "./groupByDay";
import { HistoryItem } from "./HistoryItem";
import { readableSnippet } from "./snippet";
import { useHistorySearch, type History } from "./useHistory";

export interface SidebarProps {
  history: History;
  currentId: number | null;
  /** Set when the history database could not be opened at start-up. */
  unavailable: string | null;
  onOpen: (id: number) => void;
  onNew: () => void;
  onDeleted: (id: number) => void;
}

function Snippet({ runs }: { runs: SearchHit["snippet"] }) {
  return (
    <span className="hit__snippet">
      {readableSnippet(runs).map((run, i) => (run.highlighted ? <mark key={i}>{run.text}</mark> : <span key={i}>{run.text}</span>))}
    </span>
  );
}

export const Sidebar = forwardRef<HTMLInputElement, SidebarProps>(function Sidebar(
  { history, currentId, unavailable, onOpen, onNew, onDeleted },
  searchRef,
) {
  const [query, setQuery] = useState("");
  const [actionError, setActionError] = useState<string | null>(null);
  const search = useHistorySearch(query);
  const groups = useMemo(() => groupByDay(history.conversations, Date.now()), [history.conversations]);
  const searching = query.trim() !== "";

  const importOne = () => {
    commands.importConversation().then(
      (id) => {
        if (id === null) return;
        history.refresh();
        onOpen(id);
      },
      (reason: unknown) => setActionError(errorText(reason)),
    );
  };

  return (
    <aside className="sidebar" aria-label="History">
      <div className="sidebar__top">
        <input
          ref={searchRef}
          type="search"
          className="input sidebar__search"
          data-testid="history-search"
          placeholder="Search history (Ctrl+K)"
          aria-label="Search history"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Escape" && query) {
              e.stopPropagation();
              setQuery("");
            }
          }}
        />
        <button type="button" className="button sidebar__new" data-testid="history-new" onClick={onNew} title="New conversation">
          New
        </button>
      </div>
      {unavailable && (
        <p className="banner banner--error sidebar__banner" role="alert">
          History is unavailable: {unavailable}
        </p>
      )}
      {(actionError ?? history.error) && (
        <p className="banner banner--error sidebar__banner" role="alert">
          {actionError ?? history.error}
          {actionError && (
            <button type="button" className="link-button" onClick={() => setActionError(null)}>
              Dismiss
            </button>
          )}
        </p>
      )}
      <nav className="sidebar__list">
        {searching ? (
          <>
            {search.error && (
              <p className="banner banner--error" role="alert">
                {search.error}
              </p>
            )}
            {!search.searching && !search.error && search.hits.length === 0 && <p className="sidebar__empty">No matches.</p>}
            <ul className="history-group__items">
              {search.hits.map((hit) => (
                <li key={hit.message_id} className="history-item hit" data-testid="history-item" data-id={hit.conversation_id}>
                  <button type="button" className="history-item__open hit__open" onClick={() => onOpen(hit.conversation_id)}>
                    <span className="history-item__title">{hit.title || "Untitled"}</span>
                    <Snippet runs={hit.snippet} />
                  </button>
                </li>
              ))}
            </ul>
          </>
        ) : (
          <>
            {groups.length === 0 && !history.loading && !unavailable && (
              <p className="sidebar__empty">Your conversations will be kept here.</p>
            )}
            {groups.map((group) => (
              <section key={group.label} className="history-group">
                <h2 className="history-group__label">{group.label}</h2>
                <ul className="history-group__items">
                  {group.items.map((conversation) => (
                    <HistoryItem
                      key={conversation.id}
                      conversation={conversation}
                      current={conversation.id === currentId}
                      onOpen={onOpen}
                      onChanged={history.refresh}
                      onDeleted={onDeleted}
                      onError={setActionError}
                    />
                  ))}
                </ul>
              </section>
            ))}
            {history.hasMore && (
              <button type="button" className="link-button sidebar__more" onClick={history.loadMore}>
                Show older conversations
              </button>
            )}
          </>
        )}
      </nav>
      <div className="sidebar__bottom">
        <button type="button" className="link-button" onClick={importOne}>
          Import a conversation…
        </button>
      </div>
    </aside>
  );
});
