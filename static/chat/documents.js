// The documents panel: upload with progress, status polling until ready or failed, delete.

import { API, ApiError, auth, describeError, request } from "./api.js";
import { $, el, showText } from "./dom.js";

const POLL_INTERVAL_MS = 1000;
const POLL_MAX_MS = 15 * 60_000;

const TERMINAL = new Set(["ready", "failed"]);

export const docs = {
  items: [],
  pollTimer: null,
  pollStarted: 0,

  async refresh() {
    const data = await request("documents?page_size=100");
    this.items = Array.isArray(data) ? data : data.results || [];
    this.render();
    this.poll();
  },
  render() {
    const list = $("document-list");
    list.replaceChildren(
      ...this.items.map((doc) => {
        const status = doc.status || "pending";
        let label = status;
        if (status === "processing" && typeof doc.progress === "number") label = `processing ${doc.progress}%`;
        const title = doc.title || doc.original_name || "Untitled";
        const details = [];
        if (doc.original_name && doc.original_name !== title) details.push(doc.original_name);
        if (doc.pages) details.push(`${doc.pages} page${doc.pages === 1 ? "" : "s"}`);
        const main = el("span", { className: "doc-main" }, [
          el("span", { className: "doc-title", text: title, attrs: { title: doc.original_name || title } }),
          details.length ? el("span", { className: "muted doc-details", text: details.join(" · ") }) : null,
          // Why it failed, in full (wrapped): the title above never gives way to it.
          status === "failed" ? el("span", { className: "doc-error", text: doc.error || "Processing failed." }) : null,
        ]);
        const actions = [];
        if (status === "failed") {
          const retry = el("button", { text: "Retry", attrs: { type: "button", "aria-label": `Retry ${title}` } });
          retry.addEventListener("click", () => this.retry(doc, retry));
          actions.push(retry);
        }
        const remove = el("button", { text: "Delete", attrs: { type: "button", "aria-label": `Delete ${title}` } });
        remove.addEventListener("click", () => this.remove(doc));
        actions.push(remove);
        return el("li", { attrs: { "data-document-id": doc.id, "data-status": status } }, [
          main,
          el("span", { className: `doc-status ${status}`, text: label }),
          ...actions,
        ]);
      }),
    );
    $("documents-empty").hidden = this.items.length > 0;
  },
  /** Process a failed document again (POST documents/{id}/reindex) and follow it. */
  async retry(doc, button) {
    showText($("documents-error"), "");
    button.disabled = true;
    try {
      const updated = await request(`documents/${doc.id}/reindex`, { method: "POST" });
      this.items = this.items.map((d) => (d.id === doc.id ? updated : d));
      this.render();
      this.poll();
    } catch (error) {
      button.disabled = false;
      showText($("documents-error"), error.message);
    }
  },
  poll() {
    const busy = this.items.some((doc) => !TERMINAL.has(doc.status));
    clearTimeout(this.pollTimer);
    if (!busy) {
      this.pollStarted = 0;
      return;
    }
    if (!this.pollStarted) this.pollStarted = Date.now();
    if (Date.now() - this.pollStarted > POLL_MAX_MS) return;
    this.pollTimer = setTimeout(async () => {
      try {
        const updated = await Promise.all(
          this.items.map((doc) => (TERMINAL.has(doc.status) ? doc : request(`documents/${doc.id}`).catch(() => doc))),
        );
        this.items = updated;
        this.render();
      } finally {
        if (auth.tokens) this.poll();
      }
    }, POLL_INTERVAL_MS);
  },
  stopPolling() {
    clearTimeout(this.pollTimer);
    this.pollStarted = 0;
    this.items = [];
  },
  upload(file) {
    showText($("documents-error"), "");
    const bar = $("upload-bar");
    bar.value = 0;
    $("upload-progress").hidden = false;
    $("upload-label").textContent = `Uploading ${file.name}…`;
    const send = (retried) =>
      new Promise((resolve, reject) => {
        const form = new FormData();
        form.append("file", file);
        const xhr = new XMLHttpRequest();
        xhr.open("POST", `${API}documents`);
        xhr.setRequestHeader("Accept", "application/json");
        if (auth.tokens) xhr.setRequestHeader("Authorization", `Bearer ${auth.tokens.access}`);
        xhr.upload.addEventListener("progress", (event) => {
          if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
        });
        xhr.addEventListener("load", () => {
          let data = null;
          try {
            data = JSON.parse(xhr.responseText);
          } catch {
            data = null;
          }
          if (xhr.status === 401 && !retried) {
            auth.refresh().then(() => send(true).then(resolve, reject), reject);
          } else if (xhr.status >= 200 && xhr.status < 300) resolve(data);
          else reject(new ApiError(describeError(data, xhr.status), { status: xhr.status }));
        });
        xhr.addEventListener("error", () => reject(new ApiError(describeError(null, 0))));
        xhr.send(form);
      });
    return send(false)
      .then((doc) => {
        bar.value = 100;
        $("upload-label").textContent = `${file.name} uploaded.`;
        this.items = [doc, ...this.items.filter((d) => d.id !== doc.id)];
        this.render();
        this.poll();
      })
      .catch((error) => {
        $("upload-progress").hidden = true;
        showText($("documents-error"), error.message);
      });
  },
  async remove(doc) {
    if (!window.confirm(`Delete "${doc.title}"? Answers will no longer use it.`)) return;
    try {
      await request(`documents/${doc.id}`, { method: "DELETE" });
      this.items = this.items.filter((d) => d.id !== doc.id);
      this.render();
    } catch (error) {
      showText($("documents-error"), error.message);
    }
  },
};
