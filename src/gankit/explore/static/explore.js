// gankit explore: the page. It only draws what the server's frames say and sends validated controls;
// every number comes from gankit's own training loop and metrics.
"use strict";

const TOKEN = window.GANKIT_TOKEN;
// The colours, the curves (which metrics, labels and colours) and the history kept come from the server's
// outbound schema (gankit/explore/schema.py), sent in the hello message.
let COLORS = {};
let CURVES = {};
let HISTORY_LIMIT = 0;
let LABELS = {};
const label = (key) => LABELS[key] || key;

function useSchema(schema) {
  COLORS = schema.colours;
  HISTORY_LIMIT = schema.history_limit;
  CURVES = {};
  LABELS = {};
  for (const [chart, series] of Object.entries(schema.curves)) {
    CURVES[chart] = series.map((c) => [
      c.per ? (r) => (r[c.per] ? r[c.key] / r[c.per] : undefined) : c.key, c.label, c.colour]);
    for (const c of series) LABELS[c.key] = c.label;
  }
}
const value = (r, key) => (typeof key === "function" ? key(r) : r[key]);
const SETTING_LABELS = {
  d_steps: "K (D steps)", clip: "c (clip)", gp_weight: "λ (GP)", r1_gamma: "γ (R1)", g_lr: "lr G", d_lr: "lr D",
  optimizer: "optimizer", width: "width", depth: "depth", noise_dim: "noise dim", batch_size: "batch M",
  iterations: "T (iterations)", lr_schedule: "lr schedule", pack: "m (pack)",
};
// which controls matter for which constraint (the others are shown faded)
const USED_BY = { clip: ["clip"], gp_weight: ["gradient-penalty"], r1_gamma: ["r1"] };

const state = {
  ws: null, hello: null, session: null, askedSession: "", resumed: false, settings: {}, dim: 2, bounds: null,
  real: null, density: null, mixture: null,
  frames: {}, history: { a: [], b: [] }, generations: {}, panels: {}, playing: false, compare: false,
  views: { heat: true, real: true, fake: true, arrows: true, manifold: false, modes: true },
  drawn: [], drawing: false, frameCount: 0,
};
window.explore = state; // for tests and the curious: the latest frames and the history

const $ = (sel, root = document) => root.querySelector(sel);

function status(text, error = false) {
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("error", error);
}

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

function floats(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

function fmt(x, digits = 3) {
  if (x === undefined || x === null) return "–";
  if (typeof x !== "number") return String(x);
  if (!isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : x.toFixed(digits);
}

// ------------------------------------------------------------------ connection

// The tab remembers its session, so a reload attaches to it again: training goes on and the page catches up.
const SESSION_KEY = "gankit-explore-session";

function storedSession() {
  try { return sessionStorage.getItem(SESSION_KEY) || ""; } catch (e) { return ""; } // storage may be off
}

function storeSession(id) {
  try { sessionStorage.setItem(SESSION_KEY, id); } catch (e) { /* storage off: a reload starts afresh */ }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams({ token: TOKEN });
  const asked = storedSession();
  if (asked) query.set("session", asked);
  const ws = new WebSocket(`${scheme}://${location.host}/ws?${query}`);
  state.ws = ws;
  state.askedSession = asked;
  ws.onopen = () => { document.body.dataset.connected = "true"; status("connected"); };
  ws.onclose = () => {
    document.body.dataset.connected = "false";
    status("disconnected from the server: is `gankit explore` still running? Reload to reconnect "
      + "(the session waits a while for its page).", true);
  };
  ws.onmessage = (event) => {
    const m = JSON.parse(event.data);
    const handler = HANDLERS[m.type];
    if (handler) handler(m);
  };
}

const HANDLERS = {
  hello(m) {
    state.hello = m;
    useSchema(m.schema);
    state.session = m.session;
    state.resumed = m.resumed;
    storeSession(m.session);
    buildObjectiveChoices();
    applyState(m.state);
    for (const [name, records] of Object.entries(m.history)) state.history[name] = records.slice();
    if (m.resumed) status("attached to the running session again: training went on while the page was away");
    else if (state.askedSession) status("the earlier session had ended: started a new one");
    requestDraw();
  },
  state(m) { applyState(m.state); },
  frame(m) {
    state.playing = m.playing;
    updatePlay();
    for (const [name, f] of Object.entries(m.runs)) {
      state.frames[name] = f;
      if (f.metrics) {
        const h = state.history[name];
        if (h.length && f.metrics.step < h[h.length - 1].step) h.length = 0;
        h.push(f.metrics);
        if (h.length > HISTORY_LIMIT) h.splice(0, h.length - HISTORY_LIMIT);
      }
    }
    state.frameCount += 1;
    document.body.dataset.frames = String(state.frameCount);
    requestDraw();
  },
  error(m) { status(m.message, true); },
  status(m) { status(m.message); state.playing = m.state.playing; updatePlay(); },
  saved(m) {
    const panel = state.panels[m.run];
    if (panel) panel.saved.textContent = `saved: ${m.path} (iteration ${m.step})`;
    status(`run ${m.run} saved to ${m.path}: gankit sample / eval / train --resume accept it`);
  },
};

function applyState(s) {
  state.settings = s.settings;
  state.compare = s.compare;
  state.playing = s.playing;
  $("#compare").checked = s.compare;
  $("#seed").value = s.seed;
  $("#speed").value = String(s.speed);
  if (s.bounds) state.bounds = s.bounds;
  if (s.real) state.real = new Float32Array(s.real);
  state.dim = s.dim || 2;
  state.density = s.density ? new Float32Array(s.density) : null;
  state.mixture = s.mixture;
  const custom = $("#data-custom");
  custom.hidden = s.data_kind === "named";
  custom.textContent = s.data_kind === "named" ? "" : s.data;
  $("#data").value = s.data_kind === "named" ? s.data : "custom";
  $("#drawbar").hidden = true;
  for (const name of ["a", "b"]) {
    if (name === "b" && !s.compare) { removePanel("b"); continue; }
    ensurePanel(name);
    fillSettings(name);
    if (state.generations[name] !== s.generations[name]) { // the run was rebuilt: its curves start again
      state.history[name] = [];
      delete state.frames[name];
    }
  }
  state.generations = { ...s.generations };
  updatePlay();
  requestDraw();
}

// ------------------------------------------------------------------ panels and controls

function buildObjectiveChoices() {
  for (const name of Object.keys(state.panels)) fillObjectives(state.panels[name]);
}

function fillObjectives(panel) {
  if (!state.hello) return;
  const select = panel.objective;
  select.innerHTML = "";
  for (const [key, text] of Object.entries(state.hello.objectives)) {
    const o = document.createElement("option");
    o.value = key;
    o.textContent = `${key}: ${text}`;
    select.appendChild(o);
  }
}

function ensurePanel(name) {
  if (state.panels[name]) return state.panels[name];
  const node = $("#run-template").content.firstElementChild.cloneNode(true);
  node.id = `run-${name}`;
  $(".run-name", node).textContent = name;
  const panel = {
    node, name, objective: $(".objective", node), settings: $(".settings", node), view: $(".view", node),
    numbers: $(".numbers", node), legend: $(".legend", node), losses: $(".losses", node),
    distances: $(".distances", node), coverage: $(".coverage", node), histogram: $(".histogram", node),
    histCaption: $(".hist-caption", node), caption: $(".view-caption", node), saved: $(".saved", node), inputs: {},
  };
  panel.caption.id = `caption-${name}`;
  panel.objective.id = `objective-${name}`;
  panel.numbers.id = `numbers-${name}`;
  panel.view.id = `view-${name}`;
  $(".save", node).id = `save-${name}`;
  panel.saved.id = `saved-${name}`;
  $(".export-png", node).id = `export-png-${name}`;
  $(".export-gif", node).id = `export-gif-${name}`;
  $(".save", node).onclick = () => send({ type: "save", run: name });
  $(".export-png", node).onclick = () => exportLink(node, name, "png");
  $(".export-gif", node).onclick = () => exportLink(node, name, "gif");
  panel.objective.onchange = () => send({ type: "configure", run: name, settings: { objective: panel.objective.value } });
  panel.legend.innerHTML = `<i style="background:${COLORS.real}"></i>real <i style="background:${COLORS.fake}"></i>generated`
    + `<br>heat: <span style="color:${COLORS.fake}">judged fake</span> … <span style="color:${COLORS.real}">judged real</span>`;
  fillObjectives(panel);
  buildSettings(panel);
  if (name === "a") attachDrawing(panel);
  $("#runs").appendChild(node);
  state.panels[name] = panel;
  return panel;
}

function removePanel(name) {
  const panel = state.panels[name];
  if (!panel) return;
  panel.node.remove();
  delete state.panels[name];
  delete state.frames[name];
}

function exportLink(node, name, fmt) {
  const q = new URLSearchParams({ token: TOKEN, session: state.session, run: name, format: fmt });
  $(`.export-${fmt}`, node).href = `api/export?${q}`;
}

function buildSettings(panel) {
  if (!state.hello) return;
  panel.settings.innerHTML = "";
  for (const [key, spec] of Object.entries(state.hello.controls)) {
    if (key === "objective") continue;
    const label = document.createElement("label");
    label.textContent = SETTING_LABELS[key] || key;
    let input;
    if (spec.choices) {
      input = document.createElement("select");
      if (spec.optional) input.appendChild(new Option("preset", ""));
      for (const c of spec.choices) input.appendChild(new Option(String(c), String(c)));
    } else {
      input = document.createElement("input");
      input.type = "number";
      input.min = spec.low;
      input.max = spec.high;
      input.step = spec.kind === "int" ? "1" : "any";
    }
    input.dataset.control = key;
    input.id = `${key}-${panel.name}`;
    input.onchange = () => {
      let value = input.value === "" ? null : input.value;
      if (value !== null && (spec.kind === "int" || spec.kind === "float")) value = Number(value);
      send({ type: "configure", run: panel.name, settings: { [key]: value } });
    };
    label.appendChild(input);
    panel.settings.appendChild(label);
    panel.inputs[key] = { input, label };
  }
}

function fillSettings(name) {
  const panel = state.panels[name];
  const s = state.settings[name];
  if (!panel || !s || !state.hello) return;
  if (!panel.objective.options.length) fillObjectives(panel);
  panel.objective.value = s.objective;
  const preset = state.hello.presets[s.objective];
  for (const [key, { input, label }] of Object.entries(panel.inputs)) {
    const value = s[key];
    input.value = value === null || value === undefined ? "" : String(value);
    if ("placeholder" in input) input.placeholder = preset[key] === undefined ? "" : String(preset[key]);
    const used = USED_BY[key];
    label.classList.toggle("inactive", Boolean(used) && !used.includes(preset.constraint));
    label.title = used ? `used with the ${used.join(", ")} constraint` : "";
  }
}

function updatePlay() {
  const b = $("#play");
  b.textContent = state.playing ? "❚❚ pause" : "▶ play";
  b.classList.toggle("on", state.playing);
}

// ------------------------------------------------------------------ drawing points by hand

function attachDrawing(panel) {
  const canvas = panel.view;
  const add = (event) => {
    if ($("#data").value !== "draw") return;
    const r = canvas.getBoundingClientRect();
    const [lo, hi] = drawBounds();
    const x = lo[0] + ((event.clientX - r.left) / r.width) * (hi[0] - lo[0]);
    const y = hi[1] - ((event.clientY - r.top) / r.height) * (hi[1] - lo[1]);
    state.drawn.push([Math.round(x * 1e4) / 1e4, Math.round(y * 1e4) / 1e4]);
    $("#drawn-count").textContent = `${state.drawn.length} points`;
    requestDraw();
  };
  canvas.addEventListener("mousedown", (e) => { state.drawing = true; add(e); });
  canvas.addEventListener("mousemove", (e) => { if (state.drawing && state.drawn.length < 5000) add(e); });
  window.addEventListener("mouseup", () => { state.drawing = false; });
}

function drawBounds() {
  return [[-2, -2], [2, 2]];
}

// ------------------------------------------------------------------ toolbar

function readFile(file) {
  const reader = new FileReader();
  reader.onload = () => {
    const content = String(reader.result).split(",", 2)[1] || "";
    send({ type: "data", file: { name: file.name, content } });
    status(`sent ${file.name} (${file.size} bytes)`);
  };
  reader.readAsDataURL(file);
}

function setup() {
  $("#play").onclick = () => send({ type: state.playing ? "pause" : "play" });
  $("#step-d").onclick = () => send({ type: "step", what: "d" });
  $("#step-g").onclick = () => send({ type: "step", what: "g" });
  $("#step-iteration").onclick = () => send({ type: "step", what: "iteration" });
  $("#reset").onclick = () => send({ type: "reset" });
  $("#speed").onchange = () => send({ type: "speed", value: Number($("#speed").value) });
  $("#compare").onchange = () => send({ type: "compare", on: $("#compare").checked });
  $("#seed").onchange = () => send({ type: "seed", value: Number($("#seed").value) });
  $("#data").onchange = () => {
    const v = $("#data").value;
    $("#drawbar").hidden = v !== "draw";
    if (v === "file") $("#file").click();
    else if (v !== "draw") send({ type: "data", name: v });
    requestDraw();
  };
  $("#file").onchange = () => { const f = $("#file").files[0]; if (f) readFile(f); };
  $("#use-drawn").onclick = () => send({ type: "data", points: state.drawn });
  $("#clear-drawn").onclick = () => { state.drawn = []; $("#drawn-count").textContent = "0 points"; requestDraw(); };
  for (const box of document.querySelectorAll("[data-view]")) {
    box.onchange = () => { state.views[box.dataset.view] = box.checked; requestDraw(); };
  }
  document.addEventListener("keydown", (e) => {
    if (e.code === "Space" && !["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) {
      e.preventDefault();
      $("#play").click();
    }
  });
  connect();
}

setup();
