// dashboard.js: the sippush dashboard, over the HTTP API (/v1) with a
// bearer token kept in sessionStorage.  Everything the server sends is
// shown with textContent, never as HTML.
"use strict";

const STATES = ["pending", "sent", "acked", "failed", "expired", "cancelled"];
const $ = (id) => document.getElementById(id);
let timer = null;

function token() { return sessionStorage.getItem("sippush-token") || ""; }

function say(el, text, bad) {
  el.textContent = text;
  el.className = bad ? "error" : "";
}

// api(method, path, body): the parsed JSON reply; throws an Error with
// the API's message on a status other than 2xx.
async function api(method, path, body) {
  const opt = { method, headers: { Authorization: "Bearer " + token() } };
  if (body !== undefined) {
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(path, opt);
  let j = null;
  try { j = await r.json(); } catch (e) { j = null; }
  if (!r.ok)
    throw new Error("HTTP " + r.status + ": " + (j && j.error ? j.error : r.statusText));
  return j;
}

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  tr.appendChild(td);
  return td;
}

function bar(m) {
  const div = document.createElement("div");
  const total = m.targets || 0;
  div.className = "bar";
  div.setAttribute("role", "img");
  const parts = [];
  for (const s of STATES) {
    const n = (m.counts && m.counts[s]) || 0;
    if (n > 0) parts.push(s + " " + n);
    if (n === 0 || total === 0) continue;
    const span = document.createElement("span");
    span.className = s;
    span.style.width = (100 * n / total) + "%";
    span.title = s + ": " + n;
    div.appendChild(span);
  }
  div.setAttribute("aria-label", parts.join(", ") || "no targets");
  return div;
}

async function loadMessages() {
  const j = await api("GET", "/v1/messages?limit=20");
  const tb = $("messages").tBodies[0];
  tb.replaceChildren();
  for (const m of j.messages) {
    const tr = document.createElement("tr");
    tr.dataset.id = m.id;
    cell(tr, m.id);
    cell(tr, m.state);
    cell(tr, m.targets);
    const td = cell(tr, "");
    td.appendChild(bar(m));
    const txt = document.createElement("span");
    txt.className = "counts";
    txt.textContent = " " + STATES.map((s) => s + " " + ((m.counts && m.counts[s]) || 0)).join(" · ");
    td.appendChild(txt);
    tb.appendChild(tr);
  }
}

async function loadClients() {
  const q = new URLSearchParams({ limit: "100" });
  if ($("f-class").value.trim()) q.set("class", $("f-class").value.trim());
  if ($("f-state").value) q.set("state", $("f-state").value);
  const j = await api("GET", "/v1/clients?" + q);
  const tb = $("clients").tBodies[0];
  tb.replaceChildren();
  for (const c of j.clients) {
    const tr = document.createElement("tr");
    cell(tr, c.id);
    cell(tr, c.class);
    cell(tr, c.state);
    cell(tr, c.address + ":" + c.port);
    cell(tr, c.last_seen ? new Date(c.last_seen * 1000).toISOString() : "");
    tb.appendChild(tr);
  }
}

async function refresh() {
  if (!token()) return;
  try {
    await Promise.all([loadMessages(), loadClients()]);
    say($("status"), "updated " + new Date().toLocaleTimeString());
  } catch (e) {
    say($("status"), e.message, true);
  }
}

function start() {
  if (timer) clearInterval(timer);
  timer = setInterval(refresh, 1000);
  refresh();
}

function list(v) {
  return v.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("sippush-token", $("token").value.trim());
  $("token").value = "";
  start();
});

$("logout").addEventListener("click", () => {
  sessionStorage.removeItem("sippush-token");
  if (timer) clearInterval(timer);
  timer = null;
  say($("status"), "no token");
});

$("publish").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const req = { body: $("p-body").value };
  const classes = list($("p-classes").value), clients = list($("p-clients").value);
  if (classes.length) req.classes = classes;
  if (clients.length) req.clients = clients;
  if ($("p-all").checked) req.all = true;
  if ($("p-ctype").value.trim()) req.content_type = $("p-ctype").value.trim();
  if ($("p-ttl").value) req.ttl = Number($("p-ttl").value);
  try {
    const j = await api("POST", "/v1/messages", req);
    say($("p-result"), "published " + j.id + " to " + j.targets + " clients (" + j.online + " online)");
    $("p-result").dataset.id = j.id;
    refresh();
  } catch (e) {
    say($("p-result"), e.message, true);
  }
});

$("f-class").addEventListener("change", refresh);
$("f-state").addEventListener("change", refresh);

if (token()) start(); else say($("status"), "enter a token (sippushctl token add NAME --scope publish,read)");
