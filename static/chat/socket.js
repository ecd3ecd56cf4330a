// The chat WebSocket (/ws/chat/): the token in the first `auth` frame (never in the URL),
// frames queued while disconnected, automatic reconnection with back-off. What to resume after a
// reconnect is the page's business (hooks.opened).

import { auth } from "./api.js";

const RECONNECT_DELAYS_MS = [300, 1000, 2000, 4000, 8000];

export const socket = {
  ws: null,
  wanted: false, // should a socket be open (logged in)?
  attempt: 0,
  timer: null,
  queue: [],
  ready: false,
  // Set by the page: after (re)connecting, each frame received, connection status text.
  hooks: { opened: () => {}, frame: () => {}, status: () => {} },

  connect() {
    this.wanted = true;
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) return;
    clearTimeout(this.timer);
    this.open().catch(() => this.retry());
  },
  async open() {
    const token = await auth.fresh();
    if (!this.wanted) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws/chat/`);
    this.ws = ws;
    this.ready = false;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      // The token travels in the first frame, never in the URL (URLs end up in logs).
      ws.send(JSON.stringify({ type: "auth", token }));
      this.ready = true;
      this.attempt = 0;
      this.hooks.status("");
      // Before queued frames: e.g. resume an answer the drop interrupted.
      this.hooks.opened();
      for (const frame of this.queue.splice(0)) ws.send(JSON.stringify(frame));
    });
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.hooks.frame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      if (!this.wanted) return;
      if (event.code === 4401) {
        // The server no longer accepts our token: refresh it (which ends the session when the
        // refresh is refused too, e.g. after a suspension) and connect again.
        auth.refresh().then(() => this.connect(), () => {});
        return;
      }
      if (event.code === 4403) {
        this.hooks.status("The chat service refused this account.");
        return;
      }
      this.retry();
    });
  },
  retry() {
    if (!this.wanted) return;
    const delay = RECONNECT_DELAYS_MS[Math.min(this.attempt, RECONNECT_DELAYS_MS.length - 1)];
    this.attempt += 1;
    this.hooks.status("Connection lost. Reconnecting…");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  },
  reauth(token) {
    if (this.ws && this.ready && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "auth", token }));
    }
  },
  send(frame) {
    if (this.ws && this.ready && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
    else {
      this.queue.push(frame);
      this.connect();
    }
  },
  close() {
    this.wanted = false;
    this.queue = [];
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "logout");
    }
    this.hooks.status("");
  },
};
