// gankit explore: the page's drawing. Every picture is drawn from the server's frames and state (explore.js keeps
// them in `state`); loaded before explore.js, it defines functions only.
"use strict";

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

function heatBytes(frame) {
  return Uint8Array.from(atob(frame.heat), (ch) => ch.charCodeAt(0));
}

function drawView(panel, frame) {
  const c = panel.view, g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if ($("#data").value === "draw" && panel.name === "a") {
    drawDrawing(g, c.width, c.height);
    return;
  }
  panel.caption.textContent = frame ? caption(frame) : "";
  c.dataset.dim = String(state.dim);
  if (!frame) return;
  if (state.dim === 1) drawView1d(g, c.width, c.height, frame);
  else drawView2d(g, c.width, c.height, frame);
  g.fillStyle = "#1f2328";
  g.fillText(`iteration ${frame.step} of ${frame.iterations}` + (frame.k ? ` (+${frame.k} D steps)` : ""), 6, 14);
}

function drawDrawing(g, W, H) {
  const [lo, hi] = drawBounds();
  g.fillStyle = "#111";
  for (const [x, y] of state.drawn) {
    const u = ((x - lo[0]) / (hi[0] - lo[0])) * W, v = H - ((y - lo[1]) / (hi[1] - lo[1])) * H;
    g.fillRect(u - 2, v - 2, 4, 4);
  }
  g.fillStyle = "#667085";
  g.fillText("drawing: [-2, 2] x [-2, 2]", 6, 14);
}

// What the view shows, in words: D or the critic, the 1-D layout, and a packed critic's other slots.
function caption(frame) {
  const [lo, hi] = frame.heat_range;
  const m = frame.pack, others = m > 1 ? `, x₂, …, x${subscript(m)}` : "";
  const score = frame.probabilistic ? `D(x${others}), the probability D gives ${m > 1 ? "the pack" : "x"} of being real`
    : `the critic's f(x${others}), scaled to its range [${lo.toPrecision(3)}, ${hi.toPrecision(3)}]`;
  const view = state.dim === 1
    ? `1-D: the real density (green) and the generated one (purple, a kernel estimate of the 500 samples); ${score} `
      + "as the dashed curve over its colour band; under them the samples with G's push, then lines from z to x = G(z)"
    : `heat: ${score}`;
  if (m === 1) return `${view}.`;
  return `Packed critic: D sees m = ${m} samples at once, so the map shows it with x in the first slot and `
    + `x₂ … x${subscript(m)} fixed: the generated samples of the first ${m - 1} fixed noise vectors (ringed), `
    + `i.e. what one more sample does to a pack of fakes. ${view}.`;
}

function subscript(n) {
  return String(n).replace(/[0-9]/g, (d) => "₀₁₂₃₄₅₆₇₈₉"[d]);
}

function drawHeat2d(g, W, H, frame) {
  const bytes = heatBytes(frame);
  const HEAT = frame.heat_size;
  heatCanvas.width = heatCanvas.height = HEAT;
  const hg = heatCanvas.getContext("2d");
  const img = hg.createImageData(HEAT, HEAT);
  for (let i = 0; i < HEAT; i++) {
    for (let j = 0; j < HEAT; j++) {
      const o = ((HEAT - 1 - i) * HEAT + j) * 4; // row 0 of the mesh is the lowest y
      const [r, gg, b] = heatColour(bytes[i * HEAT + j]);
      img.data[o] = r; img.data[o + 1] = gg; img.data[o + 2] = b; img.data[o + 3] = 255;
    }
  }
  hg.putImageData(img, 0, 0);
  g.imageSmoothingEnabled = true;
  g.drawImage(heatCanvas, 0, 0, W, H);
}

function drawView2d(g, W, H, frame) {
  const [lo, hi] = state.bounds || [[-2, -2], [2, 2]];
  const px = (x, y) => [((x - lo[0]) / (hi[0] - lo[0])) * W, H - ((y - lo[1]) / (hi[1] - lo[1])) * H];
  if (state.views.heat) drawHeat2d(g, W, H, frame);
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
  if (frame.pack_others) rings(g, floats(frame.pack_others), 2, (i, xy) => px(xy[i], xy[i + 1]));
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
}

// A packed critic's other slots: a ring around each (coordinates every `step` numbers of xy).
function rings(g, xy, step, at) {
  g.strokeStyle = COLORS.fake;
  g.lineWidth = 2;
  for (let i = 0; i < xy.length; i += step) {
    const [u, v] = at(i, xy);
    g.beginPath(); g.arc(u, v, 6, 0, 2 * Math.PI); g.stroke();
  }
}

// ------------------------------------------------------------------ the 1-D view (Goodfellow et al. 2014, Fig. 1)

// Heights on the 420-pixel canvas: the plot of the densities and D, the rows of real and generated samples, and
// the x and z lines the map z -> x = G(z) joins.
const ROWS_1D = { top: 24, bottom: 232, real: 248, fake: 262, x: 296, z: 392, margin: 8 };

function drawView1d(g, W, H, frame) {
  const R = ROWS_1D;
  const lo = state.bounds[0][0], hi = state.bounds[1][0];
  const ux = (x) => R.margin + ((x - lo) / (hi - lo)) * (W - 2 * R.margin);
  const bytes = heatBytes(frame), n = frame.heat_size;
  const gridX = (i) => lo + (i / (n - 1)) * (hi - lo);
  if (state.views.heat) heatBand(g, bytes, ux, gridX);
  const fakeDensity = floats(frame.density);
  const peak = 1.2 * Math.max(...state.density, 1e-12); // the real density's top at 83% of the plot
  const toY = (d) => R.bottom - Math.min(d / peak, 1) * (R.bottom - R.top);
  if (state.views.real) curve(g, n, (i) => ux(gridX(i)), (i) => toY(state.density[i]), COLORS.real, 2, true);
  if (state.views.fake) curve(g, n, (i) => ux(gridX(i)), (i) => toY(fakeDensity[i]), COLORS.fake, 2, false);
  if (state.views.heat) scoreCurve(g, bytes, frame, (i) => ux(gridX(i)), W);
  g.strokeStyle = "#98a2b3"; g.lineWidth = 1;
  g.beginPath(); g.moveTo(R.margin, R.bottom); g.lineTo(W - R.margin, R.bottom); g.stroke();
  if (state.views.modes && state.mixture) modeSpans(g, ux);
  if (state.views.real && state.real) ticks(g, state.real, ux, R.real, COLORS.real, 0.5);
  const fake = floats(frame.fake);
  if (state.views.fake) ticks(g, fake, ux, R.fake, COLORS.fake, 0.7);
  if (frame.pack_others) rings(g, floats(frame.pack_others), 1, (i, x) => [ux(x[i]), R.fake]);
  if (state.views.arrows) pushes(g, fake, floats(frame.arrows), ux, hi - lo);
  xLine(g, W, lo, hi);
  drawMapping(g, W, frame, ux);
}

function xLine(g, W, lo, hi) {
  const y = ROWS_1D.x;
  g.strokeStyle = "#98a2b3"; g.lineWidth = 1;
  g.beginPath(); g.moveTo(ROWS_1D.margin, y); g.lineTo(W - ROWS_1D.margin, y); g.stroke();
  g.fillStyle = "#667085"; g.font = "10px sans-serif";
  g.fillText(`x ${fmt(lo, 2)}`, ROWS_1D.margin, y + 12);
  g.fillText(fmt(hi, 2), W - 36, y + 12);
}

// D(x) (or f(x)) as columns of the heat map's colours behind the plot.
function heatBand(g, bytes, ux, gridX) {
  const R = ROWS_1D, n = bytes.length;
  for (let i = 0; i < n; i++) {
    const left = ux(gridX(Math.max(i - 0.5, 0))), right = ux(gridX(Math.min(i + 0.5, n - 1)));
    const [r, gg, b] = heatColour(bytes[i]);
    g.fillStyle = `rgb(${r},${gg},${b})`;
    g.fillRect(left, R.top, right - left + 0.5, R.bottom - R.top);
  }
}

function curve(g, n, u, v, colour, width, filled) {
  g.beginPath();
  for (let i = 0; i < n; i++) i ? g.lineTo(u(i), v(i)) : g.moveTo(u(i), v(i));
  g.strokeStyle = colour; g.lineWidth = width; g.stroke();
  if (!filled) return;
  g.lineTo(u(n - 1), ROWS_1D.bottom); g.lineTo(u(0), ROWS_1D.bottom); g.closePath();
  g.globalAlpha = 0.12; g.fillStyle = colour; g.fill(); g.globalAlpha = 1;
}

// D(x) over [0, 1] (a dashed line at 1/2) or f(x) over its range, on the plot's own scale, labelled at the right.
function scoreCurve(g, bytes, frame, u, W) {
  const R = ROWS_1D, span = R.bottom - R.top;
  const v = (i) => R.bottom - (bytes[i] / 255) * span;
  g.setLineDash([6, 3]);
  curve(g, bytes.length, u, v, COLORS.discriminator, 2, false);
  if (frame.probabilistic) {
    g.setLineDash([2, 3]); g.lineWidth = 1;
    g.beginPath(); g.moveTo(R.margin, R.bottom - span / 2); g.lineTo(W - R.margin, R.bottom - span / 2); g.stroke();
  }
  g.setLineDash([]);
  const [lo, hi] = frame.heat_range;
  g.fillStyle = COLORS.discriminator; g.font = "10px sans-serif";
  const name = frame.probabilistic ? "D(x)" : "f(x)";
  g.fillText(`${name} ${hi.toPrecision(3)}`, W - 76, R.top + 10);
  g.fillText(lo.toPrecision(3), W - 46, R.bottom - 3);
}

function modeSpans(g, ux) {
  g.strokeStyle = "rgba(21,128,61,0.7)"; g.lineWidth = 3;
  state.mixture.means.forEach(([m], k) => {
    const s = 3 * state.mixture.stds[k];
    g.beginPath(); g.moveTo(ux(m - s), ROWS_1D.bottom + 4); g.lineTo(ux(m + s), ROWS_1D.bottom + 4); g.stroke();
  });
}

function ticks(g, xs, ux, y, colour, alpha) {
  g.strokeStyle = colour; g.globalAlpha = alpha; g.lineWidth = 1;
  g.beginPath();
  for (const x of xs) { const u = ux(x); g.moveTo(u, y - 5); g.lineTo(u, y + 5); }
  g.stroke();
  g.globalAlpha = 1;
}

// G's push on each fake, along x (the longest 7% of the frame).
function pushes(g, fake, a, ux, width) {
  let longest = 1e-12;
  for (const d of a) longest = Math.max(longest, Math.abs(d));
  const scale = (0.07 * width) / longest, y = ROWS_1D.fake + 10;
  g.strokeStyle = COLORS.arrow; g.lineWidth = 1.2;
  for (let i = 0; i < a.length; i++) arrow(g, ux(fake[i]), y, ux(fake[i] + a[i] * scale), y);
}

// The x line, the z line and lines from z to x = G(z) (1-D noise), as Fig. 1 of Goodfellow et al. 2014 draws them.
function drawMapping(g, W, frame, ux) {
  const R = ROWS_1D;
  g.fillStyle = "#667085"; g.font = "11px sans-serif";
  if (!frame.z_range) {
    g.fillText("the map z → x = G(z) is drawn with noise dim 1", R.margin, R.z);
    return;
  }
  const [zlo, zhi] = frame.z_range, xs = floats(frame.manifold), n = xs.length;
  const uz = (z) => R.margin + ((z - zlo) / (zhi - zlo)) * (W - 2 * R.margin);
  g.strokeStyle = "#98a2b3"; g.lineWidth = 1;
  g.beginPath(); g.moveTo(R.margin, R.z); g.lineTo(W - R.margin, R.z); g.stroke();
  g.strokeStyle = COLORS.mapping; g.globalAlpha = 0.7;
  for (let i = 0; i < n; i += 3) {
    const z = zlo + (i / (n - 1)) * (zhi - zlo);
    if (isFinite(xs[i])) arrow(g, uz(z), R.z, ux(xs[i]), R.x);
  }
  g.globalAlpha = 1;
  g.fillText(`z ∈ [${zlo}, ${zhi}]`, R.margin, R.z + 14);
  g.fillText("x = G(z)", W - 60, R.z + 14);
}

// ------------------------------------------------------------------ shared pieces

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

