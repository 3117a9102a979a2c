// The Benchmarks view (DESIGN.md §9): run a benchmark file on the engine in use, watch it go,
// read the accuracy by stage and subject, open any item's full reasoning with its picture (and
// continue it as a conversation), and set two past runs side by side.
import { useCallback, useEffect, useMemo, useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { EvalEvent, EvalItem, EvalItemRow, EvalRun, EvalRunDetail, EvalSummary } from "../ipc/types";
import { Markdown } from "../render/Markdown";
import { compare, percent, stageGrid, type Cell, type Grid } from "./table";
import { splitReply } from "./reply";

export interface BenchmarksViewProps {
  /** A model or server is ready to answer. */
  engineReady: boolean;
  onOpenConversation: (id: number) => void;
}

interface Live {
  runId: number | null;
  total: number;
  done: number;
  correct: number;
  notices: string[];
}

function fileName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

function parseSummary(run: EvalRun): EvalSummary | null {
  if (!run.summary) return null;
  try {
    return JSON.parse(run.summary) as EvalSummary;
  } catch {
    return null;
  }
}

function CellView({ cell }: { cell: Cell }) {
  const shade = cell.accuracy === null ? undefined : `hsl(${Math.round(cell.accuracy * 120)} 60% 50% / 0.18)`;
  return (
    <td className="bench__cell" title={cell.title} style={{ background: shade }}>
      {cell.text}
    </td>
  );
}

export function BenchmarksView({ engineReady, onOpenConversation }: BenchmarksViewProps) {
  const [runs, setRuns] = useState<EvalRun[]>([]);
  const [path, setPath] = useState("");
  const [limit, setLimit] = useState("");
  const [live, setLive] = useState<Live | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [detail, setDetail] = useState<EvalRunDetail | null>(null);
  const [compareWith, setCompareWith] = useState<number | null>(null);
  const [item, setItem] = useState<EvalItem | null>(null);

  const refreshRuns = useCallback(() => {
    commands.listEvalRuns().then(setRuns, (reason: unknown) => setError(errorText(reason)));
  }, []);
  useEffect(refreshRuns, [refreshRuns]);

  const openRun = useCallback((id: number) => {
    setSelected(id);
    setItem(null);
    commands.getEvalRun(id).then(setDetail, (reason: unknown) => setError(errorText(reason)));
  }, []);

  const running = live !== null && live.runId !== null && live.done < live.total && !error;

  const onEvent = useCallback(
    (event: EvalEvent) => {
      switch (event.kind) {
        case "started":
          setLive((l) => (l ? { ...l, total: event.total, done: event.answered_before } : l));
          break;
        case "item":
          setLive((l) => (l ? { ...l, done: event.done, correct: event.correct } : l));
          break;
        case "notice":
          setLive((l) =>
            l ? { ...l, done: event.done ?? l.done, notices: [...l.notices, event.message].slice(-5) } : l,
          );
          break;
        case "done":
          setLive(null);
          refreshRuns();
          openRun(event.run_id);
          break;
        case "failed":
          setLive(null);
          setError(event.message);
          refreshRuns();
          break;
      }
    },
    [openRun, refreshRuns],
  );

  const start = () => {
    setError(null);
    const n = limit.trim() === "" ? null : Number(limit);
    if (n !== null && (!Number.isInteger(n) || n < 1)) {
      setError("the limit is a whole number of items, at least 1 (or empty for all)");
      return;
    }
    if (path.trim() === "") {
      setError("choose a benchmark file first (a .tsv in VLMEvalKit's layout, or .jsonl)");
      return;
    }
    setLive({ runId: null, total: 0, done: 0, correct: 0, notices: [] });
    setSelected(null);
    setDetail(null);
    setItem(null);
    commands.startEval({ data: path.trim(), limit: n }, onEvent).then(
      (started) => {
        // The run may already have ended (and opened itself) by the time this arrives.
        setLive((l) => (l ? { ...l, runId: started.run_id, total: started.total } : l));
        setSelected((s) => s ?? started.run_id);
        refreshRuns();
      },
      (reason: unknown) => {
        setLive(null);
        setError(errorText(reason));
      },
    );
  };

  const choose = () => {
    commands.pickBenchmark().then(
      (p) => p && setPath(p),
      (reason: unknown) => setError(errorText(reason)),
    );
  };

  const openItem = (row: EvalItemRow) => {
    if (selected === null) return;
    commands.getEvalItem(selected, row.index).then(setItem, (reason: unknown) => setError(errorText(reason)));
  };

  const continueItem = () => {
    if (selected === null || !item) return;
    commands.openEvalItem(selected, item.row.index).then(onOpenConversation, (reason: unknown) => setError(errorText(reason)));
  };

  const summary = detail?.summary ?? null;
  const grid = useMemo(() => (summary && detail ? stageGrid(summary, detail.items) : null), [summary, detail]);
  const other = runs.find((r) => r.id === compareWith);
  const otherSummary = other ? parseSummary(other) : null;
  const comparison = summary && otherSummary && other?.id !== selected ? compare(summary, otherSummary) : null;
  const stage = summary?.stage_column;
  const subject = summary?.subject_column;
  const items = useMemo(() => [...(detail?.items ?? [])].sort((a, b) => a.line - b.line), [detail]);

  return (
    <section className="bench" data-testid="benchmarks">
      <div className="bench__form">
        <input
          className="input bench__path"
          data-testid="bench-path"
          placeholder="Benchmark file: a .tsv in VLMEvalKit's layout, or .jsonl"
          value={path}
          onChange={(e) => setPath(e.target.value)}
        />
        <button type="button" className="button" onClick={choose}>
          Choose…
        </button>
        <input
          className="input bench__limit"
          data-testid="bench-limit"
          placeholder="all items"
          inputMode="numeric"
          aria-label="How many items"
          value={limit}
          onChange={(e) => setLimit(e.target.value)}
        />
        {running ? (
          <button type="button" className="button" data-testid="bench-stop" onClick={() => void commands.stopEval()}>
            Stop
          </button>
        ) : (
          <button
            type="button"
            className="button button--primary"
            data-testid="bench-start"
            disabled={!engineReady || live !== null}
            title={engineReady ? "Ask every item with the model in use" : "Load a model or choose a server first"}
            onClick={start}
          >
            Run
          </button>
        )}
      </div>
      {!engineReady && <p className="bench__hint">Load a model or choose a server (Model, top right) to run a benchmark.</p>}
      {error && (
        <p className="bench__error" role="alert" data-testid="bench-error">
          {error}
        </p>
      )}
      {live && (
        <div className="bench__progress" data-testid="bench-progress">
          <progress max={Math.max(live.total, 1)} value={live.done} />
          <span>
            {live.done} of {live.total} items · {live.correct} correct
          </span>
          {live.notices.map((n, i) => (
            <p key={i} className="bench__notice">
              {n}
            </p>
          ))}
        </div>
      )}
      <div className="bench__body">
        {/* With an item open, the runs list gives its width to the tables and the item. */}
        <aside className="bench__runs" aria-label="Past runs" hidden={item !== null}>
          {runs.length === 0 && <p className="bench__hint">No runs yet. Choose a benchmark file and press Run.</p>}
          {runs.map((r) => {
            const s = parseSummary(r);
            return (
              <div key={r.id} className={`bench__run${r.id === selected ? " bench__run--selected" : ""}`}>
                <button type="button" className="bench__run-open" data-testid={`bench-run-${r.id}`} onClick={() => openRun(r.id)}>
                  <span className="bench__run-model">
                    run {r.id} · {r.model}
                  </span>
                  <span className="bench__run-data">{fileName(r.data_path)}</span>
                  <span className="bench__run-score">
                    {s ? percent(s.overall) : r.status} · {new Date(r.created_at).toLocaleString()}
                  </span>
                </button>
                <label className="bench__compare" title="Compare with the selected run">
                  <input
                    type="checkbox"
                    data-testid={`bench-compare-${r.id}`}
                    checked={compareWith === r.id}
                    disabled={r.id === selected || !s}
                    onChange={(e) => setCompareWith(e.target.checked ? r.id : null)}
                  />
                  compare
                </label>
              </div>
            );
          })}
        </aside>
        <div className="bench__detail">
          {detail && (
            <>
              <h2 className="bench__title">
                {detail.run.model} · {fileName(detail.run.data_path)}
              </h2>
              {summary ? (
                <p className="bench__overall" data-testid="bench-overall">
                  <strong>{percent(summary.overall)}</strong> ({summary.overall.correct} of {summary.overall.total} correct) ·
                  decided by {Object.entries(summary.methods).map(([k, v]) => `${k} ${v}`).join(", ")}
                  {summary.failed.length > 0 && ` · not answered: ${summary.failed.join(", ")}`}
                </p>
              ) : (
                <p className="bench__hint">{detail.run.status === "running" ? "Running…" : `This run ${detail.run.status}.`}</p>
              )}
              {grid && (
                <table className="bench__table" data-testid="bench-table">
                  <thead>
                    <tr>
                      <th>{grid.rowHeader}</th>
                      {grid.columns.map((c) => (
                        <th key={c}>{c}</th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {grid.rows.map((row) => (
                      <tr key={row.name}>
                        <th>{row.name}</th>
                        {row.cells.map((c, i) => (
                          <CellView key={i} cell={c} />
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {grid && <StageBars grid={grid} />}
              {comparison && other && (
                <table className="bench__table" data-testid="bench-comparison">
                  <thead>
                    <tr>
                      <th>{comparison.column || "overall"}</th>
                      <th>
                        run {detail.run.id} · {detail.run.model}
                      </th>
                      <th>
                        run {other.id} · {other.model}
                      </th>
                      <th>difference</th>
                    </tr>
                  </thead>
                  <tbody>
                    {comparison.rows.map((r) => (
                      <tr key={r.name}>
                        <th>{r.name}</th>
                        <CellView cell={r.a} />
                        <CellView cell={r.b} />
                        <td>{r.delta}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              <table className="bench__items" data-testid="bench-items">
                <thead>
                  <tr>
                    <th>item</th>
                    {stage && <th>{stage}</th>}
                    {subject && <th>{subject}</th>}
                    <th>reference</th>
                    <th>answer found</th>
                    <th>scored</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((row) => (
                    <tr
                      key={row.index}
                      className={`bench__item${item?.row.index === row.index ? " bench__item--open" : ""}`}
                      onClick={() => openItem(row)}
                    >
                      <td>
                        <button
                          type="button"
                          className="link-button"
                          data-testid={`bench-row-${row.index}`}
                          aria-label={`Read item ${row.index}`}
                          onClick={(e) => {
                            e.stopPropagation();
                            openItem(row);
                          }}
                        >
                          {row.index}
                        </button>
                      </td>
                      {stage && <td>{row.groups[stage] ?? ""}</td>}
                      {subject && <td>{row.groups[subject] ?? ""}</td>}
                      <td>{row.gold}</td>
                      <td>{row.extracted ?? (row.error ? "not asked" : "nothing found")}</td>
                      <td className={row.correct ? "bench__ok" : "bench__no"}>
                        {row.correct ? "✓" : "✗"} {row.method}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </div>
        {item && <ItemPanel item={item} onClose={() => setItem(null)} onContinue={continueItem} />}
      </div>
    </section>
  );
}

/** The chart: accuracy of each row of the grid (each stage, then all), as bars. */
function StageBars({ grid }: { grid: Grid }) {
  return (
    <div className="bench__bars" data-testid="bench-chart" role="img" aria-label="Accuracy by stage">
      {grid.rows.map((row) => {
        const c = row.cells[row.cells.length - 1];
        const share = c?.accuracy ?? 0;
        return (
          <div key={row.name} className="bench__bar-row">
            <span className="bench__bar-name">{row.name}</span>
            <span className="bench__bar-track" title={c?.title}>
              <span
                className={`bench__bar${row.name === "all" ? " bench__bar--all" : ""}`}
                style={{ width: `${(share * 100).toFixed(1)}%` }}
              />
            </span>
            <span className="bench__bar-value">{c?.text}</span>
          </div>
        );
      })}
    </div>
  );
}

function ItemPanel({ item, onClose, onContinue }: { item: EvalItem; onClose: () => void; onContinue: () => void }) {
  const { think, answer } = splitReply(item.reply);
  return (
    <aside className="bench__panel" data-testid="bench-item-panel" aria-label={`Item ${item.row.index}`}>
      <div className="bench__panel-head">
        <h3>Item {item.row.index}</h3>
        <button type="button" className="link-button" onClick={onClose}>
          Close
        </button>
      </div>
      {item.data_error && <p className="bench__error">{item.data_error}</p>}
      {item.pictures.map((src, i) => (
        <img key={i} className="bench__picture" src={src} alt={`Picture ${i + 1} of item ${item.row.index}`} />
      ))}
      <p className="bench__question">{item.question}</p>
      {item.options.length > 0 && (
        <ol className="bench__options">
          {item.options.map(([letter, text]) => (
            <li key={letter}>
              <strong>{letter}.</strong> {text}
            </li>
          ))}
        </ol>
      )}
      <p className="bench__verdict" data-testid="bench-item-verdict">
        Reference <strong>{item.row.gold}</strong> · found <strong>{item.row.extracted ?? "nothing"}</strong> ·{" "}
        {item.row.correct ? "correct" : "wrong"} ({item.row.method})
      </p>
      {item.row.error && <p className="bench__error">{item.row.error}</p>}
      {think && (
        <details className="bench__think">
          <summary>Thinking</summary>
          <Markdown text={think} />
        </details>
      )}
      {answer && <Markdown text={answer} />}
      {item.judge_reply && (
        <p className="bench__judge">
          Judge: <span>{item.judge_reply}</span>
        </p>
      )}
      <button
        type="button"
        className="button"
        data-testid="bench-open-item"
        disabled={item.reply === ""}
        onClick={onContinue}
      >
        Open as a conversation
      </button>
    </aside>
  );
}
