// The page: controls, and the drawings of what the worker reports. All training happens in
// worker.js; this thread only draws, so the page stays responsive.
"use strict";

const $ = (id) => document.getElementById(id);
const ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "elu", "gelu", "softplus", "silu"];

// What a test (or a curious user, from the console) can read back.
const playground = (window.borelPlayground = {
  errors: [],
  firstStepLosses: null,
  epoch: 0,
  loss: null,
  trainSeconds: 0,
  steps: 0,
});
window.addEventListener("error", (e) => playground.errors.push(String(e.message)));

const worker = new Worker("worker.js");
let info = null; // from the last setup: layers, view, target grid, bound
let losses = [];
let running = false;
let resetTimer = null;

function status(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", !!isError);
}

// ---- controls ----------------------------------------------------------------------------

function layerRow(units, activation) {
  const row = document.createElement("div");
  row.className = "layer";
  const opts = ACTIVATIONS.map((a) => `<option${a === activation ? " selected" : ""}>${a}</option>`);
  row.innerHTML = `<span class="n"></span><input type="number" min="1" max="256" value="${units}">
    <select>${opts.join("")}</select><button title="remove this layer">×</button>`;
  row.querySelector("button").onclick = () => {
    row.remove();
    numberLayers();
    scheduleReset();
  };
  row.querySelectorAll("input, select").forEach((el) => el.addEventListener("change", scheduleReset));
  return row;
}

function numberLayers() {
  document.querySelectorAll("#layers .layer .n").forEach((el, i) => (el.textContent = `hidden ${i + 1}:`));
}

function setLayers(layers) {
  $("layers").replaceChildren(...layers.map((l) => layerRow(l.units, l.activation)));
  numberLayers();
}

function targetText() {
  return $("target").value === "custom" ? $("expr").value : $("target").value;
}

function config(preset) {
  const common = {
    target: targetText(),
    samples: Number($("samples").value),
    noise: Number($("noise").value),
    seed: Number($("seed").value),
  };
  if (preset) return { preset, ...common };
  const layers = [...document.querySelectorAll("#layers .layer")].map((row) => ({
    units: Number(row.querySelector("input").value),
    activation: row.querySelector("select").value,
  }));
  return {
    ...common,
    layers,
    optimizer: $("optimizer").value,
    lr: Number($("lr").value),
    batch: Number($("batch").value),
  };
}

function showConfig(c) {
  setLayers(c.layers);
  $("optimizer").value = c.optimizer;
  $("lr").value = c.lr;
  $("batch").value = c.batch;
}

function setup(preset) {
  clearTimeout(resetTimer);
  running = false;
  worker.postMessage({ type: "setup", config: config(preset) });
}

function scheduleReset() {
  clearTimeout(resetTimer);
  resetTimer = setTimeout(() => setup(null), 150);
}

function showExprError(msg) {
  const shown = msg !== null;
  $("expr-error").hidden = !shown;
  $("expr").classList.toggle("bad", shown);
  if (shown) $("expr-error").textContent = msg;
}

// The error with a caret under the place it names.
function exprError(text, err) {
  if (err.pos === null || err.pos === undefined) return err.error;
  return `${text}\n${" ".repeat(err.pos)}^\n${err.error}`;
}

function wireControls() {
  document.querySelectorAll("[data-preset]").forEach((b) => {
    b.onclick = () => {
      document.querySelectorAll("[data-preset]").forEach((o) => o.classList.toggle("chosen", o === b));
      setup(b.dataset.preset);
    };
  });
  $("target").onchange = () => {
    $("expr-row").hidden = $("target").value !== "custom";
    if ($("target").value === "custom") worker.postMessage({ type: "check", text: $("expr").value });
    else showExprError(null);
    scheduleReset();
  };
  $("expr").oninput = () => worker.postMessage({ type: "check", text: $("expr").value });
  for (const id of ["samples", "noise", "optimizer", "lr", "batch", "seed"]) $(id).onchange = scheduleReset;
  $("add-layer").onclick = () => {
    $("layers").append(layerRow(8, "tanh"));
    numberLayers();
    scheduleReset();
  };
  $("start").onclick = () => {
    if (running) worker.postMessage({ type: "pause" });
    else worker.postMessage({ type: "run", stopAt: Number($("stop-at").value) });
    running = !running;
    showRunning();
  };
  $("step").onclick = () => {
    running = false;
    showRunning();
    worker.postMessage({ type: "step" });
  };
  $("reset").onclick = () => setup(null);
}

function showRunning() {
  $("start").textContent = running ? "Pause" : "Start";
  status(running ? "Training…" : info ? "Ready." : $("status").textContent);
}

// ---- drawing -----------------------------------------------------------------------------

// Viridis, sampled at five stops.
const STOPS = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];
function color(t) {
  const x = Math.min(Math.max(t, 0), 1) * (STOPS.length - 1);
  const i = Math.min(Math.floor(x), STOPS.length - 2);
  const f = x - i;
  return STOPS[i].map((c, k) => Math.round(c + f * (STOPS[i + 1][k] - c)));
}

function fmt(v) {
  if (v === null || !isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 1 ? v.toFixed(3) : v.toPrecision(3);
}

// A heat map of `values` (grid x grid, top row first), colored on the scale [lo, hi].
function heatMap(canvas, values, lo, hi) {
  const ctx = canvas.getContext("2d");
  const n = info.grid;
  const img = new ImageData(n, n);
  values.forEach((v, i) => {
    const [r, g, b] = color((v - lo) / (hi - lo || 1));
    img.data.set([r, g, b, 255], 4 * i);
  });
  const off = new OffscreenCanvas(n, n);
  off.getContext("2d").putImageData(img, 0, 0);
  const [W, H] = [canvas.width, canvas.height];
  const box = { x: 34, y: 6, w: W - 80, h: H - 26 };
  ctx.clearRect(0, 0, W, H);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, box.x, box.y, box.w, box.h);
  ctx.fillStyle = "#444";
  ctx.font = "11px sans-serif";
  const [[a, b], [c, d]] = info.view;
  ctx.fillText(`x1 ${a} … ${b}`, box.x + box.w / 2 - 30, H - 6);
  ctx.save();
  ctx.translate(12, box.y + box.h / 2 + 30);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(`x2 ${c} … ${d}`, 0, 0);
  ctx.restore();
  for (let k = 0; k < 40; k++) {
    ctx.fillStyle = `rgb(${color(1 - k / 39).join(",")})`;
    ctx.fillRect(W - 40, box.y + (k * box.h) / 40, 10, box.h / 40 + 1);
  }
  ctx.fillStyle = "#444";
  ctx.fillText(fmt(hi), W - 28, box.y + 9);
  ctx.fillText(fmt(lo), W - 28, box.y + box.h);
}

function lossCurve() {
  const canvas = $("loss-curve");
  const ctx = canvas.getContext("2d");
  const [W, H] = [canvas.width, canvas.height];
  const box = { x: 48, y: 8, w: W - 60, h: H - 30 };
  ctx.clearRect(0, 0, W, H);
  const all = losses.filter((v) => v > 0 && isFinite(v)).concat(info && info.bound > 0 ? [info.bound] : []);
  if (!all.length) return;
  const lmin = Math.log10(Math.min(...all)) - 0.1;
  const lmax = Math.log10(Math.max(...all)) + 0.1;
  const xs = Math.max(losses.length, Number($("stop-at").value) || 1);
  const X = (i) => box.x + (box.w * i) / Math.max(xs - 1, 1);
  const Y = (v) => box.y + box.h * (1 - (Math.log10(v) - lmin) / (lmax - lmin));
  ctx.strokeStyle = "#ccc";
  ctx.fillStyle = "#555";
  ctx.font = "11px sans-serif";
  const ticks = [];
  for (let p = Math.floor(lmin); p <= Math.ceil(lmax); p++) ticks.push(10 ** p, 2 * 10 ** p, 5 * 10 ** p);
  for (const v of ticks.filter((v) => Math.log10(v) >= lmin && Math.log10(v) <= lmax)) {
    ctx.beginPath();
    ctx.moveTo(box.x, Y(v));
    ctx.lineTo(box.x + box.w, Y(v));
    ctx.stroke();
    ctx.fillText(String(Number(v.toPrecision(3))), 4, Y(v) + 4);
  }
  ctx.fillText(`epoch ${xs}`, box.x + box.w - 50, H - 6);
  if (info && info.bound > 0) {
    ctx.setLineDash([5, 4]);
    ctx.strokeStyle = "#c62828";
    ctx.beginPath();
    ctx.moveTo(box.x, Y(info.bound));
    ctx.lineTo(box.x + box.w, Y(info.bound));
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.strokeStyle = "#1565c0";
  ctx.lineWidth = 2;
  ctx.beginPath();
  losses.forEach((v, i) => (i ? ctx.lineTo(X(i), Y(v)) : ctx.moveTo(X(i), Y(v))));
  ctx.stroke();
  ctx.lineWidth = 1;
}

const MAX_NODES = 12;

// Layers as columns of nodes (at most MAX_NODES drawn per layer), edges colored by sign and
// shaded by size relative to the layer's largest weight.
function network(kernels) {
  const canvas = $("network");
  const ctx = canvas.getContext("2d");
  const [W, H] = [canvas.width, canvas.height];
  ctx.clearRect(0, 0, W, H);
  const sizes = info.layers;
  const colX = (l) => 40 + ((W - 80) * l) / (sizes.length - 1);
  const shown = (l) => Math.min(sizes[l], MAX_NODES);
  const nodeY = (l, i) => 20 + ((H - 60) * (i + 0.5)) / shown(l);
  kernels.forEach(([nin, nout, w], l) => {
    const big = Math.max(...w.map(Math.abs)) || 1;
    for (let i = 0; i < shown(l); i++) {
      for (let j = 0; j < shown(l + 1); j++) {
        const v = w[i * nout + j];
        ctx.strokeStyle = v > 0 ? `rgba(239,108,0,${Math.abs(v) / big})` : `rgba(21,101,192,${Math.abs(v) / big})`;
        ctx.beginPath();
        ctx.moveTo(colX(l), nodeY(l, i));
        ctx.lineTo(colX(l + 1), nodeY(l + 1, j));
        ctx.stroke();
      }
    }
  });
  ctx.font = "11px sans-serif";
  sizes.forEach((n, l) => {
    for (let i = 0; i < shown(l); i++) {
      ctx.fillStyle = "#37474f";
      ctx.beginPath();
      ctx.arc(colX(l), nodeY(l, i), 4, 0, 2 * Math.PI);
      ctx.fill();
    }
    const act = l === 0 ? "input" : l === sizes.length - 1 ? "linear" : info.activations[l - 1];
    ctx.fillStyle = "#333";
    ctx.fillText(`${n}${n > MAX_NODES ? ` (${MAX_NODES} shown)` : ""}`, colX(l) - 14, H - 26);
    ctx.fillText(act, colX(l) - 14, H - 12);
  });
}

function targetScale() {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of info.target) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return [lo, hi];
}

// ---- messages from the worker ------------------------------------------------------------

function onSetup(m) {
  info = m;
  losses = [];
  running = false;
  showConfig(m.config);
  $("params").textContent = m.params.toLocaleString("en");
  $("bound").textContent = fmt(m.bound);
  $("epoch").textContent = "0";
  $("loss").textContent = "–";
  $("speed").textContent = "–";
  Object.assign(playground, { epoch: 0, loss: null, trainSeconds: 0, steps: 0, firstStepLosses: null, bound: m.bound });
  heatMap($("map-target"), m.target, ...targetScale());
  for (const id of ["start", "step", "reset"]) $(id).disabled = false;
  if ($("target").value === "custom") showExprError(null);
  showRunning();
  status("Ready.");
}

function onReport(m) {
  losses.push(...m.losses);
  running = m.running;
  const loss = losses.length ? losses[losses.length - 1] : null;
  Object.assign(playground, { epoch: m.epoch, loss, trainSeconds: m.trainSeconds, steps: m.steps });
  if (m.stepLosses) playground.firstStepLosses = m.stepLosses;
  $("epoch").textContent = String(m.epoch);
  $("loss").textContent = loss === null ? "–" : fmt(loss);
  if (m.trainSeconds > 0) $("speed").textContent = Math.round(m.steps / m.trainSeconds).toLocaleString("en");
  heatMap($("map-pred"), m.pred, ...targetScale());
  lossCurve();
  network(m.kernels);
  showRunning();
}

function onError(m) {
  running = false;
  showRunning();
  if (m.where === "setup" && $("target").value === "custom" && m.pos !== undefined) {
    showExprError(exprError($("expr").value, m));
    status("Fix the expression to train.", true);
  } else {
    status(m.error, true);
  }
}

worker.onmessage = (e) => {
  const m = e.data;
  if (m.type === "ready") setup("sigmoid");
  else if (m.type === "setup") onSetup(m);
  else if (m.type === "report") onReport(m);
  else if (m.type === "error") onError(m);
  else if (m.type === "check") {
    if (m.text !== $("expr").value) return;
    showExprError(m.ok ? null : exprError(m.text, m));
    if (m.ok && $("target").value === "custom") scheduleReset();
  } else if (m.type === "fatal") {
    playground.errors.push(m.error);
    console.error(m.error);
    status(m.error, true);
  }
};
worker.onerror = (e) => {
  playground.errors.push(String(e.message));
  status("The worker failed: " + e.message, true);
};

wireControls();
document.querySelector('[data-preset="sigmoid"]').classList.add("chosen");
