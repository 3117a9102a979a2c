export function DropOverlay() {
  return (
    <div className="drop-overlay" data-testid="drop-overlay" aria-hidden="true">
      <div className="drop-overlay__box">Drop pictures to attach them</div>
    </div>
  );
}
