import { useEffect, useRef, type ReactNode } from "react";

export interface ModalProps {
  title: string;
  testId: string;
  onClose: () => void;
  children: ReactNode;
  /** While false, Esc and the backdrop do not close it (e.g. while a model loads). */
  closable?: boolean;
}

export function Modal({ title, testId, onClose, children, closable = true }: ModalProps) {
  const panelRef = useRef<HTMLDivElement>(null);
  const latest = useRef({ onClose, closable });
  latest.current = { onClose, closable };

  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const first = panelRef.current?.querySelector<HTMLElement>("input, select, textarea, button:not([data-close])");
    first?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape" && latest.current.closable) {
        event.preventDefault();
        event.stopPropagation();
        latest.current.onClose();
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => {
      window.removeEventListener("keydown", onKey, true);
      previous?.focus?.();
    };
  }, []);

  return (
    <div
      className="modal-backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget && closable) onClose();
      }}
    >
      <div className="modal" role="dialog" aria-modal="true" aria-label={title} data-testid={testId} ref={panelRef}>
        <header className="modal__header">
          <h2 className="modal__title">{title}</h2>
          {closable && (
            <button type="button" className="icon-button" data-close aria-label="Close" title="Close (Esc)" onClick={onClose}>
              ×
            </button>
          )}
        </header>
        <div className="modal__body">{children}</div>
      </div>
    </div>
  );
}
