import { useState, type FormEvent } from "react";
import { useNow } from "../chat/useNow";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { DeviceChoice, DtypeChoice, LoadRequest, ModelOffer, QuantChoice } from "../ipc/types";
import { formatCount, formatLatency, formatSeconds } from "../stream/format";
import { Modal } from "../ui/Modal";
import { FoundModels } from "./FoundModels";
import { MeasuredSpeeds } from "./MeasuredSpeeds";
import { ServerForm } from "./ServerForm";
import { isServer, serverHost } from "./serverText";
import type { Downloads } from "./useDownloads";
import { DEVICES, DTYPES, QUANTS, loadLastRequest, loadSource, saveSource, type Source } from "./lastRequest";
import type { ModelState } from "./useModel";

const DEVICE_NAMES: Record<DeviceChoice, string> = {
  auto: "Automatic (GPU if there is one)",
  cpu: "CPU",
  cuda: "NVIDIA GPU (CUDA)",
  metal: "Apple GPU (Metal)",
};
const DTYPE_NAMES: Record<DtypeChoice, string> = {
  auto: "Automatic",
  f32: "f32 (CPU, most exact)",
  bf16: "bf16",
  f16: "f16",
};
const QUANT_NAMES: Record<QuantChoice, string> = {
  none: "None (full weights)",
  q8_0: "Q8_0 (about half the memory)",
  q4k: "Q4K (fits an 8 GB card)",
};

export function ModelPanel({
  model,
  downloads,
  autoLoading = false,
  onClose,
}: {
  model: ModelState;
  downloads: Downloads;
  /** The load under way was started by the app, from the last model used. */
  autoLoading?: boolean;
  onClose: () => void;
}) {
  const [request, setRequest] = useState<LoadRequest>(() => {
    const last = loadLastRequest();
    return model.info && !last.dir ? { ...last, dir: model.info.dir } : last;
  });
  const [browseError, setBrowseError] = useState<string | null>(null);
  // The folder the last load tried: its error is shown only while that folder is still chosen.
  const [tried, setTried] = useState(() => request.dir.trim());
  const loading = model.loadingSince !== null;
  const now = useNow(loading, 500);
  const { info } = model;
  const [source, setSourceState] = useState<Source>(() => (isServer(info) ? "server" : loadSource()));
  const setSource = (s: Source) => {
    setSourceState(s);
    saveSource(s);
  };

  const browse = () => {
    setBrowseError(null);
    commands.pickModelDir().then(
      (dir) => dir && setRequest((r) => ({ ...r, dir })),
      (reason: unknown) => setBrowseError(errorText(reason)),
    );
  };

  // A found copy, with the precision this machine can hold as the engine advised for a catalog
  // model; a folder the catalog does not know keeps the panel's choices.
  const use = (dir: string, offer: ModelOffer | null) => {
    setRequest((r) => ({
      ...r,
      dir,
      dtype: DTYPES.find((d) => d === offer?.dtype) ?? r.dtype,
      quant: QUANTS.find((q) => q === offer?.quant) ?? r.quant,
    }));
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (loading || request.dir.trim() === "") return;
    setTried(request.dir.trim());
    await model.load({ ...request, dir: request.dir.trim() });
  };

  return (
    <Modal title="Model" testId="model-panel" onClose={onClose}>
      {info && isServer(info) ? (
        <div className="model-status" data-testid="model-status">
          <div className="model-status__name">{info.name}</div>
          <dl className="facts">
            <dt>Answered by</dt>
            <dd>a server at {serverHost(info.endpoint)}</dd>
            <dt>Pictures</dt>
            <dd>{info.takes_pictures === null ? "the server does not say" : info.takes_pictures ? "read" : "not read"}</dd>
            <dt>Connected in</dt>
            <dd>{formatLatency(info.load_ms)}</dd>
            {info.context_tokens > 0 && (
              <>
                <dt>Context</dt>
                <dd>{formatCount(info.context_tokens)} tokens</dd>
              </>
            )}
            <dt>Address</dt>
            <dd className="facts__path">{info.endpoint}</dd>
          </dl>
        </div>
      ) : info ? (
        <div className="model-status" data-testid="model-status">
          <div className="model-status__name">{info.name}</div>
          <dl className="facts">
            <dt>Device</dt>
            <dd>{info.device}</dd>
            <dt>Precision</dt>
            <dd>{info.dtype}</dd>
            <dt>Quantisation</dt>
            <dd>{info.quant}</dd>
            <dt>Loaded in</dt>
            <dd>{formatLatency(info.load_ms)}</dd>
            <dt>Context</dt>
            <dd>{formatCount(info.context_tokens)} tokens</dd>
            <dt>Folder</dt>
            <dd className="facts__path">{info.dir}</dd>
          </dl>
        </div>
      ) : (
        info === null &&
        !loading && (
          <p className="model-panel__intro">
            No model is loaded. Choose the folder of an R1-Onevision or Qwen2.5-VL checkpoint (the one holding
            config.json, tokenizer.json and the safetensors files), or a server that runs one.
          </p>
        )
      )}
      <div className="segmented" role="tablist" aria-label="Who answers">
        <button
          type="button"
          role="tab"
          className="segmented__option"
          data-testid="engine-local"
          aria-selected={source === "local"}
          onClick={() => setSource("local")}
        >
          This computer
        </button>
        <button
          type="button"
          role="tab"
          className="segmented__option"
          data-testid="engine-server"
          aria-selected={source === "server"}
          onClick={() => setSource("server")}
        >
          A server
        </button>
      </div>
      {source === "server" ? (
        <ServerForm model={model} />
      ) : (
        <>
          {!loading && <FoundModels onUse={use} downloads={downloads} />}
          <form className="form" onSubmit={submit}>
            <label className="field">
              <span className="field__label">Model folder</span>
              <span className="field__row">
                <input
                  className="input"
                  data-testid="model-dir-input"
                  value={request.dir}
                  placeholder="/path/to/R1-Onevision-7B"
                  spellCheck={false}
                  onChange={(e) => setRequest({ ...request, dir: e.target.value })}
                />
                <button type="button" className="button" onClick={browse} disabled={loading}>
                  Browse…
                </button>
              </span>
            </label>
            {browseError && (
              <p className="field__error" role="alert">
                {browseError}
              </p>
            )}
            <div className="form__grid">
              <label className="field">
                <span className="field__label">Device</span>
                <select
                  className="select"
                  value={request.device}
                  onChange={(e) => setRequest({ ...request, device: e.target.value as DeviceChoice })}
                >
                  {DEVICES.map((d) => (
                    <option key={d} value={d}>
                      {DEVICE_NAMES[d]}
                    </option>
                  ))}
                </select>
              </label>
              <label className="field">
                <span className="field__label">Precision</span>
                <select
                  className="select"
                  value={request.dtype}
                  onChange={(e) => setRequest({ ...request, dtype: e.target.value as DtypeChoice })}
                >
                  {DTYPES.map((d) => (
                    <option key={d} value={d}>
                      {DTYPE_NAMES[d]}
                    </option>
                  ))}
                </select>
              </label>
              <label className="field">
                <span className="field__label">Quantisation</span>
                <select
                  className="select"
                  data-testid="model-quant-select"
                  value={request.quant}
                  onChange={(e) => setRequest({ ...request, quant: e.target.value as QuantChoice })}
                >
                  {QUANTS.map((q) => (
                    <option key={q} value={q}>
                      {QUANT_NAMES[q]}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            {!loading && (
              <MeasuredSpeeds
                dir={request.dir}
                device={request.device}
                dtype={request.dtype}
                quant={request.quant}
                refresh={info}
              />
            )}
            {model.error && !loading && tried === request.dir.trim() && (
              <p className="field__error" data-testid="model-error" role="alert">
                {model.error}
              </p>
            )}
            {loading && (
              <div className="progress" role="progressbar" aria-label="Loading the model" aria-busy="true">
                <div className="progress__bar" />
              </div>
            )}
            {loading && autoLoading && (
              <p className="field__hint" data-testid="model-autoload">
                Loading the model you used last time. Cancel to choose another; Settings can turn this off.
              </p>
            )}
            <div className="form__actions">
              {info && !loading && (
                <button type="button" className="button" onClick={onClose}>
                  Done
                </button>
              )}
              {loading && (
                <button type="button" className="button" data-testid="model-cancel" onClick={model.cancel}>
                  Cancel
                </button>
              )}
              <button
                type="submit"
                className={info ? "button" : "button button--primary"}
                data-testid="model-load-button"
                disabled={loading || request.dir.trim() === ""}
              >
                {loading ? `Loading… ${formatSeconds(now - (model.loadingSince ?? now))}` : info ? "Load another" : "Load"}
              </button>
            </div>
          </form>
        </>
      )}
    </Modal>
  );
}
