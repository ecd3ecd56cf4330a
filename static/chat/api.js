// The REST client: JWT bearer tokens and the error envelope {success, message, code, details,
// ...}, whose `message` the user sees.
//
// The access token lives only in this tab's memory. The refresh token never reaches script: the
// page logs in with `X-Refresh-Cookie: 1`, so the server keeps it in an HttpOnly, SameSite=Strict
// cookie sent only to auth/refresh (with the CSRF token). Every tab shares that cookie, so a new
// tab (or a reload) gets its own access token from it without asking to log in again; logging
// out ends it on the server and tells the other tabs (BroadcastChannel) to log out too.

export const API = "/api/v1/";
const REFRESH_MARGIN_MS = 60_000; // refresh this long before the access token expires
const MESSAGE_PAGE_SIZE = 100;
const MAX_MESSAGE_PAGES = 20;
const COOKIE_SESSION = "cookie"; // `tokens.refresh` when the refresh token is the cookie
const CHANNEL = "aichat-auth";

function csrfToken() {
  const match = /(?:^|;\s*)csrftoken=([^;]+)/.exec(document.cookie);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(message, { status = 0, code = "", details = {} } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

/** A readable sentence from an error envelope, with field errors when there are any. */
export function describeError(body, status) {
  if (body && typeof body === "object" && typeof body.message === "string") {
    let text = body.message;
    const details = body.details && typeof body.details === "object" ? body.details : {};
    const fieldErrors = Object.entries(details)
      .filter(([, v]) => Array.isArray(v) && v.length)
      .map(([k, v]) => (k === "non_field_errors" ? String(v[0]) : `${k.replaceAll("_", " ")}: ${v.join(" ")}`));
    if (fieldErrors.length && text === "Invalid input.") text = fieldErrors.join(" ");
    else if (fieldErrors.length) text = `${text} ${fieldErrors.join(" ")}`;
    return text;
  }
  if (status === 0) return "The server could not be reached. Check your connection.";
  return `The request failed (HTTP ${status}).`;
}

function jwtExpiry(token) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return typeof payload.exp === "number" ? payload.exp * 1000 : null;
  } catch {
    return null;
  }
}

export const auth = {
  tokens: null, // {access, refresh}; refresh is COOKIE_SESSION for the browser session
  refreshTimer: null,
  refreshing: null,
  mfaToken: null,
  enrollment: false, // logged in with an enrolment-only token (MFA_REQUIRED_ROLES)
  // Set by the page: what to do when the server refuses our tokens, after a refresh, and when
  // another tab logs out or in.
  hooks: { sessionEnded: () => {}, refreshed: () => {}, otherTab: () => {} },
  channel: null,

  /** Listen to the other tabs of this browser (logout and login). */
  listen() {
    if (typeof BroadcastChannel === "undefined") return;
    this.channel = new BroadcastChannel(CHANNEL);
    this.channel.addEventListener("message", (event) => this.hooks.otherTab(event.data && event.data.type));
  },
  tell(type) {
    if (this.channel) this.channel.postMessage({ type });
  },
  set(tokens) {
    // Tokens answered with `refresh_in_cookie` (or without a refresh token) rely on the cookie.
    const refresh = tokens.refresh === null ? null : tokens.refresh || COOKIE_SESSION;
    this.tokens = { access: tokens.access, refresh };
    this.schedule();
  },
  clear() {
    // The session's readable marker goes with it (the HttpOnly cookie is the server's to end).
    if (this.tokens) document.cookie = "aichat_session=; Max-Age=0; path=/; SameSite=Strict";
    this.tokens = null;
    this.enrollment = false;
    clearTimeout(this.refreshTimer);
  },
  schedule() {
    clearTimeout(this.refreshTimer);
    const exp = this.tokens && this.tokens.refresh && jwtExpiry(this.tokens.access);
    if (!exp) return;
    const wait = Math.max(5000, exp - Date.now() - REFRESH_MARGIN_MS);
    this.refreshTimer = setTimeout(() => this.refresh().catch(() => {}), wait);
  },
  /** A new access token from the refresh cookie (one tab at a time: the token rotates). */
  async fromCookie() {
    const run = () =>
      request("auth/refresh", {
        method: "POST",
        body: {},
        auth: false,
        headers: { "X-CSRFToken": csrfToken(), "X-Refresh-Cookie": "1" },
      });
    // Two tabs rotating the same cookie at once would make one of them present a spent token:
    // the Web Locks API queues them, so each one sends the cookie the previous one left.
    if (navigator.locks && navigator.locks.request) return navigator.locks.request("aichat-refresh", run);
    return run();
  },
  /** Start from the cookie when this tab has no token (new tab, reload); false if none. */
  async resume() {
    if (!/(?:^|;\s*)aichat_session=1/.test(document.cookie)) return false;
    try {
      const data = await this.fromCookie();
      this.set(data);
      return true;
    } catch {
      // The cookie session ended (expired, logged out elsewhere): forget its marker.
      document.cookie = "aichat_session=; Max-Age=0; path=/; SameSite=Strict";
      this.clear();
      return false;
    }
  },
  /** Rotate the refresh token; one refresh at a time, whoever asks. */
  refresh() {
    if (!this.tokens || !this.tokens.refresh) return Promise.reject(new ApiError("Not logged in.", { status: 401 }));
    if (!this.refreshing) {
      const refresh = this.tokens.refresh;
      const call =
        refresh === COOKIE_SESSION
          ? this.fromCookie()
          : request("auth/refresh", { method: "POST", body: { refresh }, auth: false });
      this.refreshing = call
        .then((data) => {
          this.set({ access: data.access, refresh: data.refresh || refresh });
          this.hooks.refreshed(this.tokens.access);
          return this.tokens.access;
        })
        .catch((error) => {
          if (error.status === 401 || error.status === 400 || error.status === 403) {
            this.hooks.sessionEnded(error.message);
          }
          throw error;
        })
        .finally(() => {
          this.refreshing = null;
        });
    }
    return this.refreshing;
  },
  /** End the session on the server (cookie and access token), then in every tab. */
  async logout() {
    const tokens = this.tokens;
    try {
      if (tokens && tokens.refresh === COOKIE_SESSION) {
        await request("auth/refresh", { method: "DELETE", headers: { "X-CSRFToken": csrfToken() }, retried: true });
      } else if (tokens && tokens.refresh) {
        await request("auth/logout", { method: "POST", body: { refresh: tokens.refresh }, retried: true });
      }
    } finally {
      this.tell("logout");
    }
  },
  /** An access token that is valid for at least a few more seconds. */
  async fresh() {
    if (!this.tokens) throw new ApiError("Not logged in.", { status: 401 });
    const exp = jwtExpiry(this.tokens.access);
    if (exp && exp - Date.now() < 15_000 && this.tokens.refresh) await this.refresh();
    return this.tokens.access;
  },
};

export async function request(
  path,
  { method = "GET", body, form, auth: useAuth = true, retried = false, headers: extra = {} } = {},
) {
  const headers = { Accept: "application/json", ...extra };
  // Endpoints that issue tokens keep the refresh token in the HttpOnly cookie for this page.
  if (path.startsWith("auth/") || path === "users/me/password") headers["X-Refresh-Cookie"] = "1";
  if (useAuth && auth.tokens) headers.Authorization = `Bearer ${auth.tokens.access}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, { method, headers, body: payload, credentials: "same-origin" });
  } catch {
    throw new ApiError(describeError(null, 0), { status: 0, code: "NETWORK" });
  }
  if (response.status === 401 && useAuth && auth.tokens && !retried && auth.tokens.refresh) {
    // The access token expired or was revoked: one refresh, one retry. A refused refresh ends
    // the session (auth.refresh does that).
    await auth.refresh();
    return request(path, { method, body, form, auth: useAuth, retried: true, headers: extra });
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(describeError(data, response.status), {
      status: response.status,
      code: data && data.code,
      details: data && data.details,
    });
    if (response.status === 401 && useAuth && auth.tokens) auth.hooks.sessionEnded(error.message);
    throw error;
  }
  return data;
}

/** All pages of a paginated list (bounded), oldest-first order preserved. */
export async function requestAll(path, maxPages = MAX_MESSAGE_PAGES) {
  const results = [];
  let page = 1;
  for (; page <= maxPages; page += 1) {
    const sep = path.includes("?") ? "&" : "?";
    const data = await request(`${path}${sep}page=${page}&page_size=${MESSAGE_PAGE_SIZE}`);
    if (Array.isArray(data)) return data;
    results.push(...(data.results || []));
    if (!data.next) break;
  }
  return results;
}
