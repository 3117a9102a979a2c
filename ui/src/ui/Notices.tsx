import { useSyncExternalStore } from "react";
import { currentNotices, dismiss, subscribeNotices } from "./notices";

export function Notices() {
  const notices = useSyncExternalStore(subscribeNotices, currentNotices);
  if (notices.length === 0) return null;
  return (
    <div className="notices" role="status" aria-live="polite">
      {notices.map((notice) => (
        <div key={notice.id} className={`notice notice--${notice.tone}`}>
          <span>{notice.text}</span>
          <button type="button" className="notice__close" aria-label="Dismiss" onClick={() => dismiss(notice.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
