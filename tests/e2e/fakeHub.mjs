// A stand-in for the Hugging Face hub, for the end-to-end test: serves one model folder as one
// repository in the hub's URL layout (the two calls the app makes), with the hashes the hub
// gives (sha256 for LFS files, the git blob SHA-1 for the rest) and Range requests. The first
// request for the weights sends a quarter of them at once and then trickles, so the test can
// stop the download halfway; every later request is answered at full speed. `requests` records
// what was asked, so the test can check that a resume asked only for the rest.

import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const sha256 = (data) => createHash("sha256").update(data).digest("hex");
const gitBlobSha1 = (data) =>
  createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");

export async function startFakeHub({ repo, dir, commit }) {
  const files = readdirSync(dir)
    .filter((name) => statSync(join(dir, name)).isFile())
    .map((name) => {
      const data = readFileSync(join(dir, name));
      return { name, data, lfs: name.endsWith(".safetensors") };
    });
  const requests = [];
  let trickled = false;
  const timers = new Set();

  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://hub");
    const path = decodeURIComponent(url.pathname);
    if (path === `/api/models/${repo}/revision/main`) {
      requests.push({ api: true });
      const siblings = files.map((f) => ({
        rfilename: f.name,
        size: f.data.length,
        blobId: gitBlobSha1(f.data),
        ...(f.lfs ? { lfs: { sha256: sha256(f.data), size: f.data.length } } : {}),
      }));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: repo, sha: commit, siblings }));
      return;
    }
    const prefix = `/${repo}/resolve/${commit}/`;
    const file = path.startsWith(prefix) && files.find((f) => f.name === path.slice(prefix.length));
    if (!file) {
      res.writeHead(404, { "x-error-code": "RepoNotFound", "x-error-message": "Repository not found" });
      res.end();
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = range ? Number(range[1]) : 0;
    requests.push({ file: file.name, start });
    const size = file.data.length;
    if (start >= size) {
      res.writeHead(416, { "content-range": `bytes */${size}` });
      res.end();
      return;
    }
    res.writeHead(range ? 206 : 200, {
      "content-type": "application/octet-stream",
      "content-length": String(size - start),
      "accept-ranges": "bytes",
      ...(range ? { "content-range": `bytes ${start}-${size - 1}/${size}` } : {}),
    });
    const body = file.data.subarray(start);
    if (!file.lfs || trickled) {
      res.end(body);
      return;
    }
    trickled = true;
    let sent = Math.floor(body.length / 4);
    res.write(body.subarray(0, sent));
    const timer = setInterval(() => {
      if (res.destroyed || sent >= body.length) {
        clearInterval(timer);
        timers.delete(timer);
        if (!res.destroyed) res.end();
        return;
      }
      const next = Math.min(body.length, sent + 4096);
      res.write(body.subarray(sent, next));
      sent = next;
    }, 100);
    timers.add(timer);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${server.address().port}`,
    requests,
    close() {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      server.close();
    },
  };
}
