// The browser chat client: plain ES modules, no build step; the only third-party code is the
// vendored Markdown stack (static/chat/vendor/, see its README).
//
// Talks to the REST API under /api/v1/ (api.js) and streams answers over the /ws/chat/ WebSocket
// (socket.js). Nothing from the server is inserted as HTML except model answers, and those only
// after markdown.js has sanitised them (DOMPurify, a short allow-list).

import { auth, request, requestAll } from "./api.js";
import { docs } from "./documents.js";
import { $, base64Utf8, el, formatNumber, showText, thumbIcon, toast } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { socket } from "./socket.js";

// --- Views: signed out / signed in -------------------------------------------------------------

const state = {
  user: null,
  sessions: [],
  sessionSearch: "",
  models: [], // chat models the server allows (GET ai/models)
  sessionsNext: null,
  sessionsPage: 1,
  currentSessionId: null,
  messages: new Map(), // message_id -> view of a turn
  generation: null, // the answer being streamed
  sending: false,
};

const AUTH_FORMS = ["login-form", "mfa-form", "register-form", "forgot-form", "reset-form", "code-form"];

function showAuth(form, { error = "", info = "" } = {}) {
  $("app-view").hidden = true;
  $("auth-view").hidden = false;
  for (const id of AUTH_FORMS) $(id).hidden = id !== form;
  showText($("auth-error"), error);
  showText($("auth-info"), info);
  const first = $(form).querySelector("input");
  if (first) first.focus();
}

let sessionEnding = false;
/** The server refused our tokens (logout elsewhere, suspension, expiry): back to login. */
function sessionEnded(message) {
  if (sessionEnding || !auth.tokens) return;
  sessionEnding = true;
  teardown();
  showAuth("login-form", {
    error: message && !/^Not logged in/.test(message) ? `You have been logged out: ${message}` : "You have been logged out.",
  });
  sessionEnding = false;
}

function teardown() {
  auth.clear();
  socket.close();
  docs.stopPolling();
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  state.user = null;
  state.sessions = [];
  state.currentSessionId = null;
  state.generation = null;
  state.messages.clear();
  rememberSession(null);
  $("session-list").replaceChildren();
  clearConversation();
  setBusy(false);
}

async function enterApp() {
  const user = await request("users/me");
  state.user = user;
  $("user-email").textContent = user.email;
  // Viewers may read their chats but not send (the server refuses it too).
  const readOnly = user.role === "viewer";
  $("prompt").disabled = readOnly;
  $("send").disabled = readOnly;
  $("prompt").placeholder = readOnly
    ? "Your role (viewer) can read chats but not send messages."
    : "Message (Enter to send, Shift+Enter for a new line)";
  $("auth-view").hidden = true;
  $("app-view").hidden = false;
  socket.connect();
  loadModels().catch(() => {});
  await loadSessions();
  const fromUrl = /^#chat-(\d+)$/.exec(location.hash);
  if (fromUrl) {
    await openSession(Number(fromUrl[1])).catch(() => {
      rememberSession(null);
      newChat();
    });
  }
  refreshUsage();
  docs.refresh().catch(() => {});
  $("prompt").focus();
}

async function afterLogin(data) {
  if (data.mfa_required) {
    auth.mfaToken = data.mfa_token;
    showAuth("mfa-form");
    return;
  }
  if (data.mfa_enrollment_required) {
    // Your role must use MFA: the enrolment token only opens the MFA endpoints.
    auth.set({ access: data.enrollment_token, refresh: null });
    auth.enrollment = true;
    state.user = data.user;
    $("auth-view").hidden = true;
    $("app-view").hidden = false;
    $("user-email").textContent = data.user ? data.user.email : "";
    openSettings({ forced: true });
    return;
  }
  auth.set(data);
  await enterApp();
  auth.tell("login"); // tabs showing the login form pick the session up from the cookie
}

/** Another tab of this browser logged out (or in). */
function onOtherTab(type) {
  if (type === "logout" && auth.tokens) {
    teardown();
    showAuth("login-form", { info: "You logged out in another tab." });
  } else if (type === "login" && !auth.tokens && !auth.mfaToken && $("app-view").hidden) {
    auth.resume().then((ok) => ok && enterApp().catch(() => {}));
  }
}

function bindAuthForms() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.submitter || $("login-form").querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const data = await request("auth/login", {
        method: "POST",
        auth: false,
        body: { email: $("login-email").value.trim(), password: $("login-password").value },
      });
      $("login-password").value = "";
      await afterLogin(data);
    } catch (error) {
      showText($("auth-error"), error.message);
    } finally {
      button.disabled = false;
    }
  });

  $("mfa-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("mfa-form").querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const data = await request("auth/mfa/verify", {
        method: "POST",
        auth: false,
        body: { mfa_token: auth.mfaToken, code: $("mfa-code").value.replace(/\s+/g, "") },
      });
      auth.mfaToken = null;
      $("mfa-code").value = "";
      await afterLogin(data);
    } catch (error) {
      showText($("auth-error"), error.message);
      $("mfa-code").select();
    } finally {
      button.disabled = false;
    }
  });

  $("register-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("register-form").querySelector("button[type=submit]");
    button.disabled = true;
    const email = $("register-email").value.trim();
    const password = $("register-password").value;
    try {
      await request("auth/register", {
        method: "POST",
        auth: false,
        body: {
          email,
          username: $("register-username").value.trim(),
          full_name: $("register-full-name").value.trim(),
          password,
        },
      });
      $("register-password").value = "";
      const data = await request("auth/login", { method: "POST", auth: false, body: { email, password } });
      await afterLogin(data);
    } catch (error) {
      showText($("auth-error"), error.message);
    } finally {
      button.disabled = false;
    }
  });

  bindRecoveryForms();
  $("show-register").addEventListener("click", () => showAuth("register-form"));
  $("show-login").addEventListener("click", () => showAuth("login-form"));
  $("mfa-back").addEventListener("click", () => {
    auth.mfaToken = null;
    showAuth("login-form");
  });

  $("logout").addEventListener("click", async () => {
    try {
      await auth.logout(); // the server ends the session; the other tabs hear about it
    } catch {
      // Logging out locally is what matters to the person at the keyboard.
    }
    teardown();
    showAuth("login-form", { info: "You are logged out." });
  });
}

/** Submit handler that disables the form's button while ``action`` runs and shows errors. */
function onSubmit(formId, action) {
  $(formId).addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $(formId).querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      showText($("auth-error"), error.message);
    } finally {
      button.disabled = false;
    }
  });
}

let resetToken = null;

function bindRecoveryForms() {
  $("show-forgot").addEventListener("click", () => showAuth("forgot-form"));
  $("show-code").addEventListener("click", () => showAuth("code-form"));
  for (const back of document.querySelectorAll(".back-to-login")) {
    back.addEventListener("click", () => showAuth("login-form"));
  }
  onSubmit("forgot-form", async () => {
    const data = await request("auth/password/forgot", {
      method: "POST",
      auth: false,
      body: { email: $("forgot-email").value.trim() },
    });
    showAuth("login-form", { info: data.detail || "If that address has an account, a reset link is on its way." });
  });
  onSubmit("reset-form", async () => {
    await request("auth/password/reset", {
      method: "POST",
      auth: false,
      body: { token: resetToken, new_password: $("reset-password").value },
    });
    $("reset-password").value = "";
    resetToken = null;
    showAuth("login-form", { info: "Your password was changed. Log in with the new one." });
  });
  $("code-request").addEventListener("click", async () => {
    try {
      await request("auth/code/request", {
        method: "POST",
        auth: false,
        body: { email: $("code-email").value.trim() },
      });
      showText($("auth-error"), "");
      showText($("auth-info"), "If that address has an account, a 6-digit code is on its way.");
      $("code-value").focus();
    } catch (error) {
      showText($("auth-error"), error.message);
    }
  });
  onSubmit("code-form", async () => {
    const data = await request("auth/code/verify", {
      method: "POST",
      auth: false,
      body: { email: $("code-email").value.trim(), code: $("code-value").value.replace(/\s+/g, "") },
    });
    $("code-value").value = "";
    await afterLogin(data);
  });
}

/** Links from emails: ``/?verify=<token>`` and ``/?reset=<token>``. Returns true if handled. */
async function handleEmailLink() {
  const params = new URLSearchParams(location.search);
  const verify = params.get("verify");
  const reset = params.get("reset");
  if (!verify && !reset) return false;
  // Tokens must not linger in the address bar or the history.
  history.replaceState(null, "", location.pathname + location.hash);
  if (reset) {
    resetToken = reset;
    showAuth("reset-form");
    return true;
  }
  const signedIn = Boolean(auth.tokens && auth.tokens.refresh);
  try {
    await request("auth/email/verify", { method: "POST", auth: false, body: { token: verify } });
    if (signedIn) toast("Your email address is verified.");
    else showAuth("login-form", { info: "Your email address is verified." });
  } catch (error) {
    if (signedIn) toast(error.message);
    else showAuth("login-form", { error: error.message });
  }
  return !signedIn;
}

// --- Sessions sidebar ---------------------------------------------------------------------------

async function loadSessions({ append = false } = {}) {
  const page = append ? state.sessionsPage + 1 : 1;
  const search = state.sessionSearch;
  const query = search ? `&q=${encodeURIComponent(search)}` : "";
  const data = await request(`chat/sessions?page=${page}&page_size=50${query}`);
  if (search !== state.sessionSearch) return; // a newer search is on its way
  const items = Array.isArray(data) ? data : data.results || [];
  state.sessions = append ? [...state.sessions, ...items] : items;
  state.sessionsPage = page;
  $("more-sessions").hidden = Array.isArray(data) || !data.next;
  $("sessions-empty").hidden = Boolean(state.sessions.length) || !search;
  renderSessions();
}

const DATE_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const TIME_FORMAT = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

/** "14:05" for today, "3 Dec 2026" before. */
function sessionDate(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return "";
  return date.toDateString() === new Date().toDateString() ? TIME_FORMAT.format(date) : DATE_FORMAT.format(date);
}

function renderSessions() {
  const list = $("session-list");
  list.replaceChildren(
    ...state.sessions.map((session) => {
      const title = session.title || "New chat";
      const when = session.updated_at || session.created_at;
      const open = el(
        "button",
        { className: "session-open", attrs: { type: "button", title } },
        [
          el("span", { className: "session-title", text: title }),
          el("time", { className: "session-date", text: sessionDate(when), attrs: { datetime: when || "" } }),
        ],
      );
      if (session.id === state.currentSessionId) open.setAttribute("aria-current", "page");
      open.addEventListener("click", () => {
        openSession(session.id).catch((e) => toast(e.message));
        $("sidebar").classList.remove("open");
      });
      // Icons, so the title keeps the sidebar's width; the names are in the labels.
      const rename = el("button", { text: "\u270E", attrs: { type: "button", title: "Rename", "aria-label": `Rename chat ${title}` } });
      rename.addEventListener("click", () => startRename(item, session));
      const remove = el("button", { text: "\u00D7", attrs: { type: "button", title: "Delete", "aria-label": `Delete chat ${title}` } });
      remove.addEventListener("click", () => deleteSession(session));
      const item = el("li", { className: session.id === state.currentSessionId ? "active" : "", attrs: { "data-session-id": session.id } }, [
        open,
        el("span", { className: "session-actions" }, [rename, remove]),
      ]);
      return item;
    }),
  );
  updateTitle();
}

function startRename(item, session) {
  const input = el("input", { attrs: { "aria-label": "Chat title", maxlength: "200" } });
  input.value = session.title || "";
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const title = input.value.trim();
    if (save && title && title !== session.title) {
      try {
        const updated = await request(`chat/sessions/${session.id}`, { method: "PATCH", body: { title } });
        session.title = updated.title;
      } catch (error) {
        toast(error.message);
      }
    }
    renderSessions();
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      finish(true);
    } else if (event.key === "Escape") {
      event.preventDefault();
      finish(false);
    }
  });
  input.addEventListener("blur", () => finish(true));
  item.replaceChildren(input);
  input.focus();
  input.select();
}

async function deleteSession(session) {
  if (!window.confirm(`Delete the chat "${session.title}"? This cannot be undone.`)) return;
  try {
    await request(`chat/sessions/${session.id}`, { method: "DELETE" });
  } catch (error) {
    toast(error.message);
    return;
  }
  state.sessions = state.sessions.filter((s) => s.id !== session.id);
  if (state.currentSessionId === session.id) newChat();
  renderSessions();
}

function newChat() {
  if (state.generation && !state.generation.done) return;
  state.currentSessionId = null;
  rememberSession(null);
  clearConversation();
  renderSessions();
  $("prompt").focus();
}

function clearConversation() {
  state.messages.clear();
  $("messages").replaceChildren($("empty-state") || buildEmptyState());
  $("empty-state").hidden = false;
}

function buildEmptyState() {
  return el("div", { className: "empty", attrs: { id: "empty-state" } }, [
    el("h2", { text: "How can I help?" }),
    el("p", { className: "muted", text: "Ask a question. Answers can draw on the documents you upload." }),
  ]);
}

const BASE_TITLE = document.title;

function rememberSession(sessionId) {
  // The open chat lives in the URL fragment, so a reload (or a bookmark) comes back to it.
  history.replaceState(null, "", sessionId ? `#chat-${sessionId}` : location.pathname);
  updateTitle();
}

/** The tab shows the open chat's title, then the product's name. */
function updateTitle() {
  const session = state.sessions.find((s) => s.id === state.currentSessionId);
  document.title = session && session.title ? `${session.title} \u2013 ${BASE_TITLE}` : BASE_TITLE;
}

async function openSession(sessionId) {
  if (state.generation && !state.generation.done) {
    toast("Wait for the answer to finish, or stop it first.");
    return;
  }
  state.currentSessionId = sessionId;
  rememberSession(sessionId);
  renderSessions();
  const messages = await requestAll(`chat/sessions/${sessionId}/messages`);
  if (state.currentSessionId !== sessionId) return;
  clearConversation();
  for (const message of messages) {
    const messageId = message.message_id ?? message.id;
    const view = addTurn(message.message, messageId);
    view.setText(message.response || "");
    view.setSources(message.sources || []);
    if (message.status === "pending" || message.status === "streaming") {
      // Still being generated (e.g. the page was reloaded mid-answer): follow it live.
      startGeneration(view, { messageId, sessionId });
      socket.send({ type: "resume", message_id: messageId, after_seq: 0 });
      view.setText("");
    } else {
      view.finish(message.status, message.feedback && message.feedback.rating);
    }
  }
  scrollToEnd(true);
}

// --- The conversation ------------------------------------------------------------------------

function scrollToEnd(force = false) {
  const box = $("messages");
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  if (force || nearBottom) box.scrollTop = box.scrollHeight;
}

const STATUS_TEXT = {
  cancelled: "Stopped",
  incomplete: "Incomplete",
  failed: "Failed",
};

/** One turn: the user's message and the answer, with its sources and feedback buttons. */
function addTurn(question, messageId = null) {
  $("empty-state").hidden = true;
  const body = el("div", { className: "answer-body" });
  const meta = el("div", { className: "answer-meta", attrs: { hidden: "" } });
  const sources = el("div", { className: "sources", attrs: { hidden: "" } });
  const errorLine = el("p", { className: "answer-error", attrs: { role: "alert", hidden: "" } });
  const answer = el("div", { className: "answer", attrs: { "aria-label": "Answer" } }, [body, errorLine, sources, meta]);
  const turn = el("article", { className: "turn" }, [el("div", { className: "bubble-user", text: question }), answer]);
  $("messages").append(turn);

  let text = "";
  let frame = 0;
  const view = {
    id: messageId,
    node: turn,
    get text() {
      return text;
    },
    setId(id) {
      view.id = id;
      turn.dataset.messageId = id;
      state.messages.set(id, view);
    },
    setText(value) {
      text = value;
      view.render();
    },
    append(chunk) {
      text += chunk;
      // Re-render at most once a frame; answers are short enough to re-parse whole.
      if (!frame) {
        frame = requestAnimationFrame(() => {
          frame = 0;
          view.render();
          scrollToEnd();
        });
      }
    },
    render() {
      body.replaceChildren(renderMarkdown(text));
    },
    streaming(on) {
      answer.classList.toggle("streaming", on);
      answer.setAttribute("aria-busy", on ? "true" : "false");
    },
    setSources(list) {
      if (!Array.isArray(list) || !list.length) {
        sources.hidden = true;
        return;
      }
      const items = list.map((source) => {
        const title = source.title || source.document_title || "Document";
        const page = source.page !== undefined && source.page !== null ? ` · page ${source.page}` : "";
        const label = el("span", { className: "source-title", text: `${title}${page}` });
        const li = el("li", {}, [label]);
        if (source.document_id) {
          // Opens the document itself at the cited page (PDF viewers honour #page=N).
          const open = el("button", {
            className: "link source-open",
            text: "Open",
            attrs: { type: "button", "aria-label": `Open ${title}${page}` },
          });
          open.addEventListener("click", () => openSource(source));
          li.append(" ", open);
        }
        // The passage the answer drew on, quoted.
        if (source.snippet) li.append(el("blockquote", { className: "snippet", text: source.snippet }));
        return li;
      });
      sources.replaceChildren(el("h4", { text: "Sources" }), el("ol", {}, items));
      sources.hidden = false;
    },
    setError(message) {
      showText(errorLine, message);
    },
    finish(status, rating) {
      if (frame) {
        cancelAnimationFrame(frame);
        frame = 0;
      }
      view.render();
      view.streaming(false);
      answer.dataset.status = status || "complete";
      const parts = [];
      if (STATUS_TEXT[status]) {
        parts.push(el("span", { className: `status-badge ${status}`, text: STATUS_TEXT[status] }));
      }
      if (view.id && status !== "failed") {
        const up = el("button", { className: "thumb", attrs: { type: "button", "aria-label": "Good answer", title: "Good answer", "aria-pressed": String(rating === "up") } }, [thumbIcon()]);
        const down = el("button", { className: "thumb", attrs: { type: "button", "aria-label": "Bad answer", title: "Bad answer", "aria-pressed": String(rating === "down") } }, [thumbIcon(true)]);
        const send = async (value) => {
          try {
            await request(`chat/messages/${view.id}/feedback`, { method: "POST", body: { rating: value } });
            up.setAttribute("aria-pressed", String(value === "up"));
            down.setAttribute("aria-pressed", String(value === "down"));
          } catch (error) {
            toast(error.message);
          }
        };
        up.addEventListener("click", () => send("up"));
        down.addEventListener("click", () => send("down"));
        const copy = el("button", { text: "Copy", attrs: { type: "button", "aria-label": "Copy answer" } });
        copy.addEventListener("click", () => {
          navigator.clipboard?.writeText(text).then(() => toast("Copied."), () => toast("Copy is not available here."));
        });
        parts.push(up, down, copy);
      }
      if (view.id && isLastTurn(view) && state.user && state.user.role !== "viewer") {
        const again = el("button", { text: "Regenerate", attrs: { type: "button", "aria-label": "Regenerate the answer", class: "regenerate" } });
        again.addEventListener("click", () => regenerate(view));
        parts.push(again);
      }
      meta.replaceChildren(...parts);
      meta.hidden = !parts.length;
    },
  };
  if (messageId) view.setId(messageId);
  return view;
}

function setBusy(busy) {
  $("send").hidden = busy;
  $("stop").hidden = !busy;
  $("new-chat").disabled = busy;
}

function startGeneration(view, { messageId = null, sessionId = null } = {}) {
  state.generation = { view, messageId, sessionId, seq: 0, done: false, cancelRequested: false };
  view.streaming(true);
  setBusy(true);
  return state.generation;
}

function endGeneration(status, { error } = {}) {
  const gen = state.generation;
  if (!gen || gen.done) return;
  gen.done = true;
  if (error) gen.view.setError(error);
  gen.view.finish(status);
  setBusy(false);
  state.generation = null;
  refreshUsage();
}

async function sendMessage() {
  const prompt = $("prompt");
  const content = prompt.value.trim();
  if (!content || state.sending || (state.generation && !state.generation.done)) return;
  if (auth.enrollment) {
    toast("Finish setting up two-factor authentication first.");
    return;
  }
  prompt.value = "";
  autosize();
  state.sending = true;
  try {
    await auth.fresh(); // a token about to expire is refreshed (and handed to the socket) first
  } catch {
    return; // the session ended; the login form is showing
  } finally {
    state.sending = false;
  }
  const view = addTurn(content);
  scrollToEnd(true);
  startGeneration(view, { sessionId: state.currentSessionId });
  const frame = { type: "message", content };
  if (state.currentSessionId) frame.session_id = state.currentSessionId;
  const model = chosenModel();
  if (model) frame.model = model;
  socket.send(frame);
}

function isLastTurn(view) {
  const turns = $("messages").querySelectorAll(".turn");
  return turns.length > 0 && turns[turns.length - 1] === view.node;
}

/** Ask the last question again; the new answer replaces the last one (here and on the server). */
async function regenerate(view) {
  if (!state.currentSessionId || state.sending || (state.generation && !state.generation.done)) return;
  state.sending = true;
  try {
    await auth.fresh();
  } catch {
    return;
  } finally {
    state.sending = false;
  }
  const question = view.node.querySelector(".bubble-user").textContent;
  if (view.id) state.messages.delete(view.id);
  view.node.remove();
  const next = addTurn(question);
  scrollToEnd(true);
  startGeneration(next, { sessionId: state.currentSessionId });
  const frame = { type: "message", session_id: state.currentSessionId, regenerate: true };
  const model = chosenModel();
  if (model) frame.model = model;
  socket.send(frame);
}

// --- Models -------------------------------------------------------------------------------------

const MODEL_KEY = "aichat.model";

/** The chat models the server allows; a picker when there is a choice. */
async function loadModels() {
  const data = await request("ai/models");
  state.models = (data.models || []).filter((m) => m.kind === "chat");
  const picker = $("model-picker");
  const saved = localStorage.getItem(MODEL_KEY);
  picker.replaceChildren(
    ...state.models.map((m) => el("option", { text: m.default ? `${m.id} (default)` : m.id, attrs: { value: m.id } })),
  );
  const fallback = state.models.find((m) => m.default) || state.models[0];
  const pick = state.models.some((m) => m.id === saved) ? saved : fallback && fallback.id;
  if (pick) picker.value = pick;
  picker.hidden = state.models.length < 2;
}

/** The picked model, or null for the server's default. */
function chosenModel() {
  const picker = $("model-picker");
  if (picker.hidden || !picker.value) return null;
  const model = state.models.find((m) => m.id === picker.value);
  return model && !model.default ? model.id : null;
}

// --- Sources ------------------------------------------------------------------------------------

/** Open a cited document at its page in a new tab, through a short-lived link of the API. */
async function openSource(source) {
  // The tab is opened now (inside the click) so no pop-up blocker stops it; its address
  // follows once the server has issued the link.
  const tab = window.open("", "_blank");
  try {
    const data = await request(`documents/${encodeURIComponent(source.document_id)}/link`, { method: "POST" });
    const page = Number.isInteger(source.page) && source.page > 0 ? `#page=${source.page}` : "";
    const url = `${data.url}${page}`;
    if (tab) {
      tab.opener = null;
      tab.location.href = url;
    } else {
      window.location.assign(url);
    }
  } catch (error) {
    if (tab) tab.close();
    toast(error.message);
  }
}

function stopGeneration() {
  const gen = state.generation;
  if (!gen || gen.done) return;
  if (gen.messageId) socket.send({ type: "cancel", message_id: gen.messageId });
  else gen.cancelRequested = true;
  $("stop").disabled = true;
  setTimeout(() => {
    $("stop").disabled = false;
  }, 1500);
}

// --- Frames from the WebSocket -----------------------------------------------------------------

/** After a (re)connection: pick up an answer that a dropped connection interrupted. */
function resumeAfterReconnect() {
  const gen = state.generation;
  if (!gen || gen.done) return;
  if (gen.messageId) {
    // Everything after the last token frame we have; the replay and the live stream follow.
    socket.queue = socket.queue.filter((f) => !(f.type === "resume" && f.message_id === gen.messageId));
    socket.send({ type: "resume", message_id: gen.messageId, after_seq: gen.seq });
  } else if (!socket.queue.length) {
    // Dropped before the server said which message it was: the answer may exist, so reload the
    // conversation instead of guessing.
    endGeneration("failed", { error: "The connection dropped before the answer started. Please send again." });
    if (state.currentSessionId) openSession(state.currentSessionId).catch(() => {});
  }
}

const AUTH_ERROR_CODES = new Set(["AUTHENTICATION_FAILED", "AUTHENTICATION_REQUIRED", "TOKEN_INVALID", "TOKEN_EXPIRED"]);
// Errors about a frame (not about the answer being generated): shown, the stream goes on.
const NON_FATAL_CODES = new Set(["CONFLICT", "GENERATION_IN_PROGRESS", "RATE_LIMITED", "PAYLOAD_TOO_LARGE"]);

function onFrame(frame) {
  const gen = state.generation;
  const forCurrent = gen && !gen.done && (!frame.message_id || !gen.messageId || frame.message_id === gen.messageId);
  switch (frame.type) {
    case "start": {
      if (!gen || gen.done) return;
      if (!gen.messageId) {
        gen.messageId = frame.message_id;
        gen.view.setId(frame.message_id);
        if (gen.cancelRequested) socket.send({ type: "cancel", message_id: gen.messageId });
      }
      if (frame.session_id && frame.session_id !== state.currentSessionId) {
        state.currentSessionId = frame.session_id;
        gen.sessionId = frame.session_id;
        rememberSession(frame.session_id);
        loadSessions().catch(() => {});
      }
      return;
    }
    case "token": {
      if (!forCurrent) return;
      if (typeof frame.seq === "number") {
        if (frame.seq <= gen.seq) return; // already have it (replayed after a resume)
        if (frame.seq > gen.seq + 1 && gen.messageId) {
          // A gap: ask for what we missed; the replay brings this frame again.
          socket.send({ type: "resume", message_id: gen.messageId, after_seq: gen.seq });
          return;
        }
        gen.seq = frame.seq;
      }
      gen.view.append(frame.content || "");
      return;
    }
    case "sources": {
      const view = frame.message_id ? state.messages.get(frame.message_id) : gen && gen.view;
      if (view) view.setSources(frame.sources || []);
      return;
    }
    case "end": {
      if (!forCurrent) return;
      endGeneration(frame.status || "complete");
      // The first answer of a new chat names it; newest chats first.
      loadSessions().catch(() => {});
      return;
    }
    case "error": {
      const message = frame.message || "Something went wrong.";
      if (AUTH_ERROR_CODES.has(frame.code)) {
        // The socket will be closed with 4401 as well; the close handler deals with it.
        return;
      }
      const live = gen && !gen.done;
      if (live && frame.message_id && frame.message_id === gen.messageId && !NON_FATAL_CODES.has(frame.code)) {
        // The generation failed part-way: the partial answer is kept as incomplete.
        endGeneration("incomplete", { error: message });
      } else if (live && !frame.message_id && !gen.messageId) {
        // The message itself was refused (validation, permission, quota...).
        endGeneration("failed", { error: message });
      } else {
        toast(message);
      }
      return;
    }
    default:
      return; // unknown frame types are ignored (newer servers may add some)
  }
}

// --- Usage ------------------------------------------------------------------------------------

/** Today's figures of GET usage, labelled as the API names them. */
async function refreshUsage() {
  if (!auth.tokens || auth.enrollment) return;
  let data;
  try {
    data = await request("usage");
  } catch {
    $("usage-panel").hidden = true;
    return;
  }
  const today = data.today || {};
  const quota = data.quota || {};
  const byKind = Object.fromEntries((today.by_kind || []).map((row) => [row.key || row.kind || row.name, row]));
  const embedding = byKind.embedding ? byKind.embedding.total_tokens : 0;
  const rows = [
    ["Counted against your quota", `${formatNumber(quota.daily_used)} of ${formatNumber(quota.daily_tokens)}`],
    ["Reserved by running answers", formatNumber(quota.daily_reserved)],
    ["Left today", formatNumber(quota.remaining)],
    ["All tokens today", formatNumber(today.total_tokens)],
    ["of which embedding (not counted)", formatNumber(embedding)],
  ];
  $("usage-figures").replaceChildren(
    ...rows.flatMap(([label, value]) => [el("dt", { text: label }), el("dd", { text: value })]),
  );
  const bar = $("usage-bar");
  const limit = Number(quota.daily_tokens || 0);
  bar.hidden = !limit;
  if (limit) bar.value = Math.min(100, Math.round(((quota.daily_used + (quota.daily_reserved || 0)) / limit) * 100));
  $("usage-text").textContent = quota.resets_at
    ? `Resets ${new Date(quota.resets_at).toLocaleString()}.`
    : "";
  $("usage-panel").hidden = false;
}

// --- Settings: profile and MFA enrolment ------------------------------------------------------

// The password typed to start enrolment, kept only until the confirmation (which asks for it
// too) so the user types it once.
let enrolmentPassword = null;

async function openSettings({ forced = false } = {}) {
  const dialog = $("settings-dialog");
  showText($("settings-error"), "");
  $("mfa-enroll").hidden = true;
  $("mfa-backup").hidden = true;
  enrolmentPassword = null;
  if (!dialog.open) dialog.showModal();
  let user = state.user;
  if (!forced) {
    try {
      user = await request("users/me");
      state.user = user;
    } catch (error) {
      showText($("settings-error"), error.message);
      return;
    }
  }
  const rows = [
    ["Email", user.email],
    ["Username", user.username],
    ["Name", user.full_name || "—"],
    ["Role", user.role],
  ];
  $("profile").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  $("verify-row").hidden = forced || Boolean(user.is_verified);
  renderMfaState(Boolean(user.mfa_enabled), forced);
}

function renderMfaState(enabled, forced = false) {
  $("mfa-status").textContent = enabled
    ? "Two-factor authentication is on."
    : forced
      ? "Your role requires two-factor authentication. Set it up to continue."
      : "Two-factor authentication is off.";
  $("mfa-enable-form").hidden = enabled;
  $("mfa-disable-form").hidden = !enabled || forced;
}

function bindSettings() {
  $("verify-send").addEventListener("click", async () => {
    try {
      const data = await request("auth/email/verify/request", { method: "POST" });
      toast(data.detail || "A verification link is on its way.");
    } catch (error) {
      showText($("settings-error"), error.message);
    }
  });
  $("open-settings").addEventListener("click", () => openSettings({ forced: auth.enrollment }));
  $("settings-dialog").addEventListener("cancel", (event) => {
    if (auth.enrollment) event.preventDefault(); // enrolment is required before anything else
  });
  $("settings-dialog").addEventListener("close", () => {
    if (auth.enrollment) {
      teardown();
      showAuth("login-form", { error: "Two-factor authentication must be set up before you can use the chat." });
    }
  });

  $("mfa-enable-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showText($("settings-error"), "");
    const password = $("mfa-enable-password").value;
    try {
      // Step-up: the server asks for the password again before enrolling a new authenticator.
      const data = await request("auth/mfa/enable", { method: "POST", body: { password } });
      enrolmentPassword = password;
      $("mfa-enable-password").value = "";
      $("mfa-secret").textContent = data.secret;
      // As an <img>, an SVG can neither run script nor load anything. Inline SVG markup may
      // omit the namespace, which a standalone SVG image needs.
      let svg = String(data.qr_svg || "").trim();
      if (!svg.startsWith("data:") && !/^<svg[^>]*\sxmlns=/.test(svg)) {
        svg = svg.replace(/^<svg\b/, '<svg xmlns="http://www.w3.org/2000/svg"');
      }
      $("mfa-qr").src = svg.startsWith("data:") ? svg : `data:image/svg+xml;base64,${base64Utf8(svg)}`;
      $("mfa-enroll").hidden = false;
      $("mfa-enable-form").hidden = true;
      $("mfa-confirm-code").focus();
    } catch (error) {
      showText($("settings-error"), error.message);
    }
  });

  $("mfa-confirm-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showText($("settings-error"), "");
    try {
      const data = await request("auth/mfa/confirm", {
        method: "POST",
        body: { code: $("mfa-confirm-code").value.replace(/\s+/g, ""), password: enrolmentPassword },
      });
      enrolmentPassword = null;
      $("mfa-confirm-code").value = "";
      $("mfa-enroll").hidden = true;
      $("mfa-secret").textContent = "";
      $("mfa-qr").removeAttribute("src");
      $("mfa-backup-codes").replaceChildren(...(data.backup_codes || []).map((code) => el("li", { text: code })));
      $("mfa-backup").hidden = false;
      if (data.tokens) {
        // Enrolment forced at login is done: this is a full session now.
        auth.enrollment = false;
        auth.set(data.tokens);
      }
      renderMfaState(true);
      $("mfa-disable-form").hidden = true;
      $("mfa-backup-done").focus();
    } catch (error) {
      showText($("settings-error"), error.message);
    }
  });

  $("mfa-backup-done").addEventListener("click", async () => {
    $("mfa-backup-codes").replaceChildren();
    $("mfa-backup").hidden = true;
    if (!$("app-view").hidden && !socket.wanted) {
      await enterApp().catch((error) => toast(error.message));
    }
    renderMfaState(true);
  });

  $("mfa-disable-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showText($("settings-error"), "");
    try {
      await request("auth/mfa/disable", {
        method: "POST",
        body: { code: $("mfa-disable-code").value.replace(/\s+/g, ""), password: $("mfa-disable-password").value },
      });
      $("mfa-disable-code").value = "";
      $("mfa-disable-password").value = "";
      renderMfaState(false);
      toast("Two-factor authentication is off.");
    } catch (error) {
      showText($("settings-error"), error.message);
    }
  });
}

// --- Wiring -------------------------------------------------------------------------------------

function autosize() {
  const prompt = $("prompt");
  prompt.style.height = "auto";
  prompt.style.height = `${Math.min(prompt.scrollHeight + 2, 192)}px`;
}

function bindApp() {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    sendMessage();
  });
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendMessage();
    } else if (event.key === "Escape" && state.generation) {
      stopGeneration();
    }
  });
  $("prompt").addEventListener("input", autosize);
  $("stop").addEventListener("click", stopGeneration);
  $("new-chat").addEventListener("click", newChat);
  let searchTimer = null;
  $("session-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.sessionSearch = $("session-search").value.trim();
      loadSessions().catch((e) => toast(e.message));
    }, 250);
  });
  $("model-picker").addEventListener("change", () => localStorage.setItem(MODEL_KEY, $("model-picker").value));
  $("more-sessions").addEventListener("click", () => loadSessions({ append: true }).catch((e) => toast(e.message)));
  $("toggle-sidebar").addEventListener("click", () => {
    const open = $("sidebar").classList.toggle("open");
    $("toggle-sidebar").setAttribute("aria-expanded", String(open));
    if (open) $("new-chat").focus();
  });
  $("sidebar").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && $("sidebar").classList.contains("open")) {
      $("sidebar").classList.remove("open");
      $("toggle-sidebar").setAttribute("aria-expanded", "false");
      $("toggle-sidebar").focus();
    }
  });
  $("open-documents").addEventListener("click", () => {
    $("documents-dialog").showModal();
    docs.refresh().catch((error) => showText($("documents-error"), error.message));
  });
  $("document-file").addEventListener("change", (event) => {
    const file = event.target.files && event.target.files[0];
    if (file) docs.upload(file).finally(() => (event.target.value = ""));
  });
}

function start() {
  auth.hooks = {
    sessionEnded,
    // The socket re-checks its token on every message: hand it each new one.
    refreshed: (token) => socket.reauth(token),
    otherTab: onOtherTab,
  };
  auth.listen();
  socket.hooks = {
    opened: resumeAfterReconnect,
    frame: onFrame,
    status: (text) => showText($("connection-status"), text),
  };
  bindAuthForms();
  bindApp();
  bindSettings();
  // A new tab or a reload: the session continues from the refresh cookie when there is one.
  auth.resume().then(() =>
    handleEmailLink().then((handled) => {
      if (!handled) enterOrLogin();
    }),
  );
}

function enterOrLogin() {
  if (auth.tokens && auth.tokens.refresh) {
    enterApp().catch((error) => {
      if (auth.tokens) {
        teardown();
        showAuth("login-form", { error: error.message });
      }
    });
  } else {
    auth.clear();
    showAuth("login-form");
  }
}

start();
