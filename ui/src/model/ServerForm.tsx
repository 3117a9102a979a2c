import { useEffect, useState, type FormEvent } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { SavedServer, ServerCheck } from "../ipc/types";
import { checkSummary, describeServerModel } from "./serverText";
import type { ModelState } from "./useModel";

/**
 * "A server": the address of an OpenAI-compatible server (a classroom's vLLM or SGLang,
 * `onevision serve` at home), its key, "Test connection" to see what answers there, and the
 * model to ask. What the server says comes in as text and is shown as text.
 */
export function ServerForm({ model }: { model: ModelState }) {
  const [address, setAddress] = useState("");
  const [apiKey, setApiKey] = useState("");
  const [rememberKey, setRememberKey] = useState(true);
  const [saved, setSaved] = useState<SavedServer | null>(null);
  const [check, setCheck] = useState<ServerCheck | null>(null);
  const [checking, setChecking] = useState(false);
  const [checkError, setCheckError] = useState<string | null>(null);
  const [chosen, setChosen] = useState("");
  const [tried, setTried] = useState(false);
  const connecting = model.loadingSince !== null;

  useEffect(() => {
    let current = true;
    commands.savedServer().then(
      (s) => {
        if (!current || !s) return;
        setSaved(s);
        setAddress((a) => a || s.address);
        setChosen((c) => c || s.model);
      },
      () => {},
    );
    return () => {
      current = false;
    };
  }, []);

  const keyToSend = apiKey.trim() === "" ? null : apiKey;

  const test = async () => {
    if (address.trim() === "") return;
    setChecking(true);
    setCheckError(null);
    setCheck(null);
    try {
      const found = await commands.checkServer(address.trim(), keyToSend);
      setCheck(found);
      setChosen((c) => (found.models.some((m) => m.id === c) ? c : (found.models[0]?.id ?? "")));
    } catch (reason) {
      setCheckError(errorText(reason));
    } finally {
      setChecking(false);
    }
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (connecting || chosen === "" || address.trim() === "") return;
    setTried(true);
    await model.connect({
      address: address.trim(),
      api_key: keyToSend,
      model: chosen,
      remember_key: rememberKey,
    });
  };

  const chosenModel = check?.models.find((m) => m.id === chosen) ?? null;
  const sameAsSaved = saved !== null && saved.address === address.trim();

  return (
    <form className="form" onSubmit={submit} data-testid="server-form">
      <p className="model-panel__intro">
        Ask a model on another computer: a classroom server running vLLM or SGLang, or{" "}
        <code>onevision serve</code> at home. Anything that speaks OpenAI&apos;s chat API works.
      </p>
      <label className="field">
        <span className="field__label">Server address</span>
        <input
          className="input"
          data-testid="server-address"
          value={address}
          placeholder="http://192.168.1.20:8000/v1"
          spellCheck={false}
          onChange={(e) => {
            setAddress(e.target.value);
            setCheck(null);
          }}
        />
      </label>
      <label className="field">
        <span className="field__label">API key</span>
        <input
          className="input"
          type="password"
          autoComplete="off"
          data-testid="server-key"
          value={apiKey}
          placeholder={sameAsSaved && saved?.has_key ? "Remembered for this server" : "If the server needs one"}
          onChange={(e) => setApiKey(e.target.value)}
        />
      </label>
      <label className="check">
        <input type="checkbox" checked={rememberKey} onChange={(e) => setRememberKey(e.target.checked)} />
        <span>Remember the key on this computer (in the system keyring, or a file only you can read; never in the history)</span>
      </label>
      <div className="form__actions form__actions--start">
        <button
          type="button"
          className="button"
          data-testid="server-test"
          disabled={checking || address.trim() === ""}
          onClick={test}
        >
          {checking ? "Testing…" : "Test connection"}
        </button>
      </div>
      {checkError && (
        <p className="field__error" data-testid="server-error" role="alert">
          {checkError}
        </p>
      )}
      {check && (
        <div className="server-check" data-testid="server-check">
          <p>{checkSummary(check)}</p>
          <label className="field">
            <span className="field__label">Model</span>
            <select
              className="select"
              data-testid="server-model-select"
              value={chosen}
              onChange={(e) => setChosen(e.target.value)}
            >
              {check.models.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.id}
                </option>
              ))}
            </select>
          </label>
          {chosenModel && <p className="server-check__model">{describeServerModel(chosenModel)}</p>}
        </div>
      )}
      {model.error && tried && !connecting && (
        <p className="field__error" data-testid="server-use-error" role="alert">
          {model.error}
        </p>
      )}
      <div className="form__actions">
        <button
          type="submit"
          className="button button--primary"
          data-testid="server-use"
          disabled={connecting || chosen === "" || address.trim() === "" || (check === null && !sameAsSaved)}
        >
          {connecting ? "Connecting…" : "Use this server"}
        </button>
      </div>
    </form>
  );
}
