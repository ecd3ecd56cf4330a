// The REST client: JWT bearer tokens (kept in sessionStorage, refreshed before they expire) and
// the error envelope {success, message, code, details, ...}, whose `message` the user sees.

export const API = "/api/v1/";
const TOKENS_KEY = "aichat.tokens";
const REFRESH_MARGIN_MS = 60_000; // refresh this long before the access token expires
const MESSAGE_PAGE_SIZE = 100;
const MAX_MESSAGE_PAGES = 20;

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
  tokens: null, // {access, refresh}
  refreshTimer: null,
  refreshing: null,
  mfaToken: null,
  enrollment: false, // logged in with an enrolment-only token (MFA_REQUIRED_ROLES)
  // Set by the page: what to do when the server refuses our tokens, and after a refresh.
  hooks: { sessionEnded: () => {}, refreshed: () => {} },

  load() {
    try {
      const raw = sessionStorage.getItem(TOKENS_KEY);
      this.tokens = raw ? JSON.parse(raw) : null;
    } catch {
      this.tokens = null;
    }
    if (this.tokens) this.schedule();
  },
  set(tokens) {
    this.tokens = { access: tokens.access, refresh: tokens.refresh };
    sessionStorage.setItem(TOKENS_KEY, JSON.stringify(this.tokens));
    this.schedule();
  },
  clear() {
    this.tokens = null;
    this.enrollment = false;
    sessionStorage.removeItem(TOKENS_KEY);
    clearTimeout(this.refreshTimer);
  },
  schedule() {
    clearTimeout(this.refreshTimer);
    const exp = this.tokens && this.tokens.refresh && jwtExpiry(this.tokens.access);
    if (!exp) return;
    const wait = Math.max(5000, exp - Date.now() - REFRESH_MARGIN_MS);
    this.refreshTimer = setTimeout(() => this.refresh().catch(() => {}), wait);
  },
  /** Rotate the refresh token; one refresh at a time, whoever asks. */
  refresh() {
    if (!this.tokens || !this.tokens.refresh) return Promise.reject(new ApiError("Not logged in.", { status: 401 }));
    if (!this.refreshing) {
      const refresh = this.tokens.refresh;
      this.refreshing = request("auth/refresh", { method: "POST", body: { refresh }, auth: false })
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
  /** An access token that is valid for at least a few more seconds. */
  async fresh() {
    if (!this.tokens) throw new ApiError("Not logged in.", { status: 401 });
    const exp = jwtExpiry(this.tokens.access);
    if (exp && exp - Date.now() < 15_000 && this.tokens.refresh) await this.refresh();
    return this.tokens.access;
  },
};

export async function request(path, { method = "GET", body, form, auth: useAuth = true, retried = false } = {}) {
  const headers = { Accept: "application/json" };
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
    return request(path, { method, body, form, auth: useAuth, retried: true });
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
