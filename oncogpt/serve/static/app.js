// OncoGPT web demo: streaming chat against this server's /v1/chat/completions.
// Model output is only ever put in the page with textContent, never innerHTML: an answer is
// untrusted text (it can contain markup) and must show as text.
"use strict";

const MAX_HISTORY = 40; // messages sent back; the server trims older turns to the context
const URGENT = {
  title: "Seek urgent care now.",
  text: "What you describe can be a medical emergency. Call your local emergency number or " +
    "your oncology team's 24-hour line; do not wait for an answer here.",
};
const TODAY = {
  title: "Contact your care team today.",
  text: "What you describe needs advice from your doctor or nurse today. If it gets worse " +
    "(fever of 38 C or higher, trouble breathing, chest pain, confusion, bleeding), call " +
    "your local emergency number.",
};
const CRISIS = {
  title: "You are not alone.",
  text: "If you are thinking about harming yourself or someone else, call your local " +
    "emergency number or a crisis line now (US: 988; UK and Ireland: 116 123).",
};

const THOUGHTS = {
  title: "Thoughts of death need attention today.",
  text: "If someone may act on them now, stay with them and call your local emergency " +
    "number. Crisis lines also help people worried about someone (US: 988; UK and Ireland: " +
    "116 123). Tell the oncology team today.",
};

const state = {
  history: [],
  controller: null,
  model: "oncogpt",
  apiKey: sessionStorage.getItem("oncogpt-api-key") || "",
};
const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function addMessage(role, text) {
  $("empty").hidden = true;
  const row = element("div", `message ${role}`);
  row.append(element("div", "who", role === "user" ? "You" : role === "assistant" ? "OncoGPT" : ""));
  const body = element("div", "body", text);
  row.append(body);
  $("log").append(row);
  scrollDown();
  return body;
}

function scrollDown() {
  const log = $("log");
  log.scrollTop = log.scrollHeight;
}

// Split a buffer of server-sent events into complete events and the unfinished rest.
// sse-starlette and others end lines with \r\n; a \r at the very end may be half of a \r\n
// cut between two network chunks, so it waits for the next chunk.
function splitEvents(buffer) {
  const held = buffer.endsWith("\r") ? "\r" : "";
  let text = (held ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, "\n");
  const events = [];
  let cut;
  while ((cut = text.indexOf("\n\n")) >= 0) {
    const lines = text.slice(0, cut).split("\n");
    text = text.slice(cut + 2);
    const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
    if (data.length) events.push(data.join("\n"));
  }
  return { events, rest: text + held };
}

async function readEvents(stream, onEvent) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const { events, rest } = splitEvents(buffer + decoder.decode(value, { stream: true }));
    buffer = rest;
    for (const data of events) {
      if (data === "[DONE]") return;
      onEvent(JSON.parse(data));
    }
  }
}

function showBanner(info) {
  const today = info && info.urgency === "today";
  if (!info || !(info.red_flag || info.crisis || today)) return;
  const which = info.harm === "thoughts" ? THOUGHTS
    : info.crisis ? CRISIS : info.red_flag ? URGENT : TODAY;
  $("red-flag-title").textContent = which.title;
  $("red-flag-text").textContent = which.text;
  $("red-flag").hidden = false;
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").hidden = !busy;
  $("input").readOnly = busy;
}

function headers() {
  const h = { "Content-Type": "application/json" };
  if (state.apiKey) h.Authorization = `Bearer ${state.apiKey}`;
  return h;
}

async function errorMessage(response) {
  if (response.status === 401) $("key-row").hidden = false;
  try {
    return (await response.json()).error.message;
  } catch {
    return `the server answered ${response.status}`;
  }
}

async function ask(question) {
  const messages = [...state.history, { role: "user", content: question }].slice(-MAX_HISTORY);
  addMessage("user", question);
  const body = addMessage("assistant", "");
  body.classList.add("pending");
  let answer = "";
  state.controller = new AbortController();
  setBusy(true);
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ model: state.model, messages, stream: true, cite: $("cite").checked }),
      signal: state.controller.signal,
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    await readEvents(response.body, (event) => {
      if (event.error) throw new Error(event.error.message);
      if (event.oncogpt) showBanner(event.oncogpt);
      const delta = event.choices && event.choices[0] && event.choices[0].delta;
      if (delta && delta.content) {
        answer += delta.content;
        body.classList.remove("pending");
        renderAnswer(body, answer);
        scrollDown();
      }
    });
  } catch (err) {
    if (err.name !== "AbortError") failed(body, err.message);
  } finally {
    body.classList.remove("pending");
    if (!answer && !body.classList.contains("error")) body.textContent = "(no answer)";
    if (answer) state.history.push({ role: "user", content: question }, { role: "assistant", content: answer.trim() });
    state.controller = null;
    setBusy(false);
    $("input").focus();
  }
}

// A cited answer: flagged sentences marked, and the "References:" lines as links. Built from
// text nodes and elements only; a link is made only from an http(s) address.
const FLAG = /\[(?:unsupported|uncited|bad citation)\]/g;
const REFERENCE = /^\[(\d+)\] (.*?)(?:, (https?:\/\/\S+))?$/;

function appendFlagged(node, text) {
  let last = 0;
  for (const m of text.matchAll(FLAG)) {
    node.append(document.createTextNode(text.slice(last, m.index)));
    node.append(element("mark", "flag", m[0]));
    last = m.index + m[0].length;
  }
  node.append(document.createTextNode(text.slice(last)));
}

function renderAnswer(body, answer) {
  const at = answer.indexOf("\n\nReferences:\n");
  body.textContent = "";
  if (at < 0) {
    appendFlagged(body, answer);
    return;
  }
  const refsEnd = answer.indexOf("\n\n", at + 2);
  appendFlagged(body, answer.slice(0, at));
  const list = element("div", "references");
  list.append(element("strong", "", "References"));
  const refs = answer.slice(at + "\n\nReferences:\n".length, refsEnd < 0 ? undefined : refsEnd);
  for (const line of refs.split("\n")) {
    const m = line.match(REFERENCE);
    const item = element("div", "reference");
    if (m && m[3]) {
      item.append(document.createTextNode(`[${m[1]}] ${m[2]} `));
      const link = element("a", "", m[3]);
      link.href = m[3];
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      item.append(link);
    } else {
      item.textContent = line;
    }
    list.append(item);
  }
  body.append(list);
  if (refsEnd >= 0) body.append(element("div", "after-references", answer.slice(refsEnd + 2)));
}

function failed(body, message) {
  body.classList.add("error");
  body.textContent = `Error: ${message}`;
}

function newConversation() {
  if (state.controller) state.controller.abort();
  state.history = [];
  for (const node of [...$("log").querySelectorAll(".message")]) node.remove();
  $("empty").hidden = false;
  $("red-flag").hidden = true;
  $("input").value = "";
  $("input").focus();
}

async function loadModelName() {
  try {
    const health = await (await fetch("/health")).json();
    $("model-name").textContent = health.model;
  } catch {
    $("model-name").textContent = "unavailable";
  }
}

function init() {
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const question = $("input").value.trim();
    if (!question || state.controller) return;
    $("input").value = "";
    ask(question);
  });
  $("input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("new-chat").addEventListener("click", newConversation);
  $("api-key").addEventListener("change", (e) => {
    state.apiKey = e.target.value.trim();
    sessionStorage.setItem("oncogpt-api-key", state.apiKey);
  });
  loadModelName();
  $("input").focus();
}

window.OncoGPT = { splitEvents }; // for the browser tests
init();
