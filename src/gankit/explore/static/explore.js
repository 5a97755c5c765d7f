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
  iterations: "T (iterations)", lr_schedule: "lr schedule",
};
// which controls matter for which constraint (the others are shown faded)
const USED_BY = { clip: ["clip"], gp_weight: ["gradient-penalty"], r1_gamma: ["r1"] };

const state = {
  ws: null, hello: null, session: null, settings: {}, bounds: null, real: null, mixture: null,
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

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(TOKEN)}`);
  state.ws = ws;
  ws.onopen = () => { document.body.dataset.connected = "true"; status("connected"); };
  ws.onclose = () => {
    document.body.dataset.connected = "false";
    status("disconnected from the server: is `gankit explore` still running? Reload to reconnect.", true);
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
    buildObjectiveChoices();
    applyState(m.state);
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
    distances: $(".distances", node), coverage: $(".coverage", node), histogram: $(".histogram", node), histCaption: $(".hist-caption", node),
    saved: $(".saved", node), inputs: {},
  };
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

// ------------------------------------------------------------------ rendering

let drawPending = false;
function requestDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; drawAll(); });
}

function drawAll() {
  for (const [name, panel] of Object.entries(state.panels)) {
    drawView(panel, state.frames[name]);
    drawNumbers(panel, state.frames[name], state.history[name]);
    drawChart(panel.losses, state.history[name], CURVES.losses);
    drawChart(panel.distances, state.history[name], CURVES.distances, Math.log(2));
    drawChart(panel.coverage, state.history[name], CURVES.coverage, undefined, [0, 1]);
    drawHistogram(panel, state.frames[name]);
  }
}

function heatColour(v) { // bytes 0..255: purple (judged fake), white, green (judged real); as gankit.explore.export
  const t = Math.abs(2 * v / 255 - 1) * 0.45;
  const end = v / 255 > 0.5 ? [22, 163, 74] : [124, 58, 237];
  return end.map((e) => Math.round(255 + t * (e - 255)));
}

const heatCanvas = document.createElement("canvas");

function drawView(panel, frame) {
  const c = panel.view, g = c.getContext("2d");
  const W = c.width, H = c.height;
  g.clearRect(0, 0, W, H);
  const drawing = $("#data").value === "draw" && panel.name === "a";
  const [lo, hi] = drawing ? drawBounds() : state.bounds || [[-2, -2], [2, 2]];
  const px = (x, y) => [((x - lo[0]) / (hi[0] - lo[0])) * W, H - ((y - lo[1]) / (hi[1] - lo[1])) * H];
  if (drawing) {
    g.fillStyle = "#111";
    for (const [x, y] of state.drawn) { const [u, v] = px(x, y); g.fillRect(u - 2, v - 2, 4, 4); }
    g.fillStyle = "#667085";
    g.fillText("drawing: [-2, 2] x [-2, 2]", 6, 14);
    return;
  }
  if (!frame) return;
  if (state.views.heat) {
    const bytes = Uint8Array.from(atob(frame.heat), (ch) => ch.charCodeAt(0));
    const HEAT = frame.heat_size;
    heatCanvas.width = heatCanvas.height = HEAT;
    const hg = heatCanvas.getContext("2d");
    const img = hg.createImageData(HEAT, HEAT);
    for (let i = 0; i < HEAT; i++) {
      for (let j = 0; j < HEAT; j++) {
        const v = bytes[i * HEAT + j];
        const o = ((HEAT - 1 - i) * HEAT + j) * 4; // row 0 of the mesh is the lowest y
        const [r, gg, b] = heatColour(v);
        img.data[o] = r; img.data[o + 1] = gg; img.data[o + 2] = b; img.data[o + 3] = 255;
      }
    }
    hg.putImageData(img, 0, 0);
    g.imageSmoothingEnabled = true;
    g.drawImage(heatCanvas, 0, 0, W, H);
  }
  if (state.views.modes && state.mixture) {
    g.strokeStyle = "rgba(21,128,61,0.55)";
    state.mixture.means.forEach(([x, y], k) => {
      const [u, v] = px(x, y);
      const r = (3 * state.mixture.stds[k] / (hi[0] - lo[0])) * W;
      g.beginPath(); g.arc(u, v, Math.max(r, 2), 0, 2 * Math.PI); g.stroke();
    });
  }
  if (state.views.manifold) {
    const m = floats(frame.manifold);
    g.strokeStyle = "rgba(37,99,235,0.6)";
    g.lineWidth = 1;
    const lines = frame.manifold_shape.length === 1
      ? [[...Array(frame.manifold_shape[0]).keys()]]
      : gridLines(frame.manifold_shape[0]);
    for (const line of lines) {
      g.beginPath();
      line.forEach((i, n) => { const [u, v] = px(m[2 * i], m[2 * i + 1]); n ? g.lineTo(u, v) : g.moveTo(u, v); });
      g.stroke();
    }
  }
  if (state.views.real && state.real) dots(g, state.real, px, COLORS.real, 0.55);
  const fake = floats(frame.fake);
  if (state.views.fake) dots(g, fake, px, COLORS.fake, 0.85);
  if (state.views.arrows) {
    const a = floats(frame.arrows);
    let longest = 1e-12;
    for (let i = 0; i < a.length; i += 2) longest = Math.max(longest, Math.hypot(a[i], a[i + 1]));
    const scale = (0.07 * (hi[0] - lo[0])) / longest;
    g.strokeStyle = COLORS.arrow;
    g.lineWidth = 1.2;
    for (let i = 0; i < a.length; i += 2) {
      const [u, v] = px(fake[i], fake[i + 1]);
      const [u2, v2] = px(fake[i] + a[i] * scale, fake[i + 1] + a[i + 1] * scale);
      arrow(g, u, v, u2, v2);
    }
  }
  g.fillStyle = "#1f2328";
  g.fillText(`iteration ${frame.step} of ${frame.iterations}` + (frame.k ? ` (+${frame.k} D steps)` : ""), 6, 14);
}

function gridLines(n) {
  const lines = [];
  for (let i = 0; i < n; i++) {
    lines.push([...Array(n).keys()].map((j) => i * n + j));
    lines.push([...Array(n).keys()].map((j) => j * n + i));
  }
  return lines;
}

function dots(g, xy, px, colour, alpha) {
  g.fillStyle = colour;
  g.globalAlpha = alpha;
  for (let i = 0; i < xy.length; i += 2) {
    const [u, v] = px(xy[i], xy[i + 1]);
    g.beginPath(); g.arc(u, v, 2, 0, 2 * Math.PI); g.fill();
  }
  g.globalAlpha = 1;
}

function arrow(g, x1, y1, x2, y2) {
  const len = Math.hypot(x2 - x1, y2 - y1);
  if (len < 1) return;
  const ux = (x2 - x1) / len, uy = (y2 - y1) / len, h = Math.min(5, len / 2);
  g.beginPath();
  g.moveTo(x1, y1); g.lineTo(x2, y2);
  g.moveTo(x2, y2); g.lineTo(x2 - h * ux + h * 0.5 * uy, y2 - h * uy - h * 0.5 * ux);
  g.moveTo(x2, y2); g.lineTo(x2 - h * ux - h * 0.5 * uy, y2 - h * uy + h * 0.5 * ux);
  g.stroke();
}

function drawNumbers(panel, frame, history) {
  const last = history[history.length - 1] || {};
  const rows = [
    ["iteration", frame ? `${frame.step} / ${frame.iterations}` : "–"],
    [label("d_loss"), fmt(last.d_loss)], [label("g_loss"), fmt(last.g_loss)],
  ];
  if (last.d_real !== undefined) rows.push(["mean D(real) / D(fake)", `${fmt(last.d_real)} / ${fmt(last.d_fake)}`]);
  if (last.w1_estimate !== undefined) rows.push([label("w1_estimate"), fmt(last.w1_estimate)]);
  if (last.js_from_d !== undefined) rows.push(["JS from D's loss", fmt(last.js_from_d)]);
  rows.push([label("w1"), fmt(last.w1)], ["JS (k-NN; log 2 = 0.693)", fmt(last.js)]);
  if (last.modes !== undefined) {
    rows.push(["modes", `${last.modes} of ${last.n_modes}`], ["high quality", `${fmt(100 * last.high_quality, 1)}%`]);
  }
  rows.push(["it/s", fmt(last.it_per_s, 0)]);
  panel.numbers.innerHTML = rows.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join("");
  panel.numbers.dataset.step = frame ? String(frame.step) : "";
  panel.numbers.dataset.w1 = last.w1 === undefined ? "" : String(last.w1);
}

function drawChart(canvas, history, series, hline, fixed) {
  const g = canvas.getContext("2d"), W = canvas.width, H = canvas.height, pad = 28, top = 18;
  g.clearRect(0, 0, W, H);
  const used = series.filter(([key]) => history.some((r) => typeof value(r, key) === "number"));
  if (!history.length || !used.length) return;
  const xs = history.map((r) => r.step);
  let y0 = Infinity, y1 = -Infinity;
  for (const [key] of used) for (const r of history) {
    const y = value(r, key);
    if (typeof y === "number" && isFinite(y)) { y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (fixed) [y0, y1] = fixed;
  if (hline !== undefined && used.some(([k]) => k === "js")) { y0 = Math.min(y0, 0); y1 = Math.max(y1, hline); }
  if (y1 - y0 < 1e-9) { y1 += 0.5; y0 -= 0.5; }
  const x0 = xs[0], x1 = Math.max(xs[xs.length - 1], x0 + 1);
  const px = (x, y) => [pad + ((x - x0) / (x1 - x0)) * (W - pad - 6), H - 14 - ((y - y0) / (y1 - y0)) * (H - 18 - top)];
  g.strokeStyle = "#d0d7de"; g.strokeRect(pad, top, W - pad - 6, H - 14 - top);
  g.fillStyle = "#667085"; g.font = "10px sans-serif";
  g.fillText(fmt(y1, 2), 0, top + 8); g.fillText(fmt(y0, 2), 0, H - 14); g.fillText(String(x1), W - 40, H - 2);
  if (hline !== undefined && used.some(([k]) => k === "js")) {
    const [, v] = px(x0, hline);
    g.setLineDash([4, 3]); g.strokeStyle = COLORS.limit; g.beginPath(); g.moveTo(pad, v); g.lineTo(W - 6, v); g.stroke();
    g.setLineDash([]); g.fillStyle = COLORS.limit; g.fillText("log 2", pad + 2, v - 2);
  }
  let lx = pad + 4;
  for (const [key, label, colour] of used) {
    g.strokeStyle = colour; g.lineWidth = 1.5; g.beginPath();
    let started = false;
    for (const r of history) {
      const y = value(r, key);
      if (typeof y !== "number" || !isFinite(y)) continue;
      const [u, v] = px(r.step, y);
      started ? g.lineTo(u, v) : g.moveTo(u, v);
      started = true;
    }
    g.stroke();
    g.fillStyle = colour; g.fillText(label, lx, 11); lx += g.measureText(label).width + 12;
  }
}

function drawHistogram(panel, frame) {
  const c = panel.histogram, g = c.getContext("2d"), W = c.width, H = c.height;
  if (!frame || !frame.histogram) return;
  const h = frame.histogram, n = h.counts.length, top = Math.max(...h.counts, 1);
  g.clearRect(0, 0, W, H);
  panel.histCaption.textContent = h.clip
    ? `critic weights over [-c, c], c = ${h.c}: clipping piles them at the walls`
    : "critic weights";
  g.fillStyle = COLORS.histogram;
  for (let i = 0; i < n; i++) {
    const bh = (h.counts[i] / top) * (H - 16);
    g.fillRect((i / n) * W + 1, H - 12 - bh, W / n - 2, bh);
  }
  g.fillStyle = "#667085"; g.font = "10px sans-serif";
  g.fillText(fmt(-h.edge, 3), 0, H - 1); g.fillText(fmt(h.edge, 3), W - 40, H - 1);
  if (h.clip) {
    g.strokeStyle = COLORS.limit;
    for (const s of [-1, 1]) {
      const u = ((s * h.c + h.edge) / (2 * h.edge)) * W;
      g.beginPath(); g.moveTo(u, 0); g.lineTo(u, H - 12); g.stroke();
    }
  }
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
