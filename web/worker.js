// Runs Borel (compiled to WebAssembly) off the main thread: sets up runs, trains in slices
// of a few tens of milliseconds, and posts what the page draws several times a second.
"use strict";

const GRID = 48;
const SLICE_MS = 30;
const REPORT_MS = 120;
const FIRST_STEPS = 100;

let wasm = null;
let running = false;
let stopAt = Infinity;
let epoch = 0;
let steps = 0;
let sentLosses = 0;
let firstStepsSent = false;
let trainSeconds = 0;
let lastReport = 0;
const tick = new MessageChannel();

const enc = new TextEncoder();
const dec = new TextDecoder();

function out() {
  const ptr = wasm.borel_out_ptr();
  const len = wasm.borel_out_len();
  return JSON.parse(dec.decode(new Uint8Array(wasm.memory.buffer, ptr, len)));
}

// Calls an export that takes one text argument (written into the module's memory).
function withText(fn, text, ...rest) {
  const bytes = enc.encode(text);
  const ptr = wasm.borel_alloc(bytes.length);
  new Uint8Array(wasm.memory.buffer, ptr, bytes.length).set(bytes);
  const rc = fn(ptr, bytes.length, ...rest);
  wasm.borel_free(ptr, bytes.length);
  return { ok: rc === 0, value: out() };
}

async function load() {
  const imports = {
    env: {
      borel_panic(ptr, len) {
        const msg = dec.decode(new Uint8Array(wasm.memory.buffer, ptr, len));
        postMessage({ type: "fatal", error: "Borel panicked: " + msg });
      },
    },
  };
  const bytes = await (await fetch("borel_web.wasm")).arrayBuffer();
  const { instance } = await WebAssembly.instantiate(bytes, imports);
  wasm = instance.exports;
}

function report(final) {
  const wantSteps = !firstStepsSent && steps >= FIRST_STEPS ? FIRST_STEPS : 0;
  if (wasm.borel_report(GRID, sentLosses, wantSteps) !== 0) {
    postMessage({ type: "error", where: "train", ...out() });
    return;
  }
  const r = out();
  sentLosses += r.losses.length;
  if (wantSteps) firstStepsSent = true;
  else delete r.stepLosses;
  lastReport = performance.now();
  postMessage({ type: "report", running: running && !final, trainSeconds, ...r });
}

// Trains whole epochs for about SLICE_MS, then yields so messages (pause) get through.
function slice() {
  if (!running) return;
  const t0 = performance.now();
  let failed = false;
  while (performance.now() - t0 < SLICE_MS && epoch < stopAt) {
    if (wasm.borel_train(0, 1) !== 0) {
      failed = true;
      break;
    }
    epoch += 1;
  }
  const t1 = performance.now();
  trainSeconds += (t1 - t0) / 1000;
  steps = stepsDone();
  if (failed) {
    running = false;
    postMessage({ type: "error", where: "train", ...out() });
    report(true);
    return;
  }
  const done = epoch >= stopAt;
  if (done) running = false;
  if (done || t1 - lastReport >= REPORT_MS) report(done);
  if (!done) tick.port2.postMessage(null);
}
tick.port1.onmessage = slice;

let batchesPerEpoch = 1;
function stepsDone() {
  return epoch * batchesPerEpoch;
}

function setup(config) {
  running = false;
  const { ok, value } = withText(wasm.borel_setup, JSON.stringify(config), GRID);
  if (!ok) {
    postMessage({ type: "error", where: "setup", ...value });
    return;
  }
  epoch = 0;
  steps = 0;
  sentLosses = 0;
  firstStepsSent = false;
  trainSeconds = 0;
  batchesPerEpoch = value.batchesPerEpoch;
  postMessage({ type: "setup", ...value });
  report(true);
}

const handlers = {
  setup: (m) => setup(m.config),
  check: (m) => {
    const { ok, value } = withText(wasm.borel_check, m.text);
    postMessage({ type: "check", text: m.text, ok, ...(ok ? {} : value) });
  },
  run: (m) => {
    stopAt = m.stopAt;
    if (running || epoch >= stopAt) return;
    running = true;
    slice();
  },
  pause: () => {
    running = false;
    report(true);
  },
  step: () => {
    running = false;
    stopAt = Math.max(stopAt, epoch + 1);
    const t0 = performance.now();
    const rc = wasm.borel_train(0, 1);
    trainSeconds += (performance.now() - t0) / 1000;
    if (rc !== 0) postMessage({ type: "error", where: "train", ...out() });
    else epoch += 1;
    steps = stepsDone();
    report(true);
  },
};

const ready = load();
onmessage = async (e) => {
  try {
    await ready;
    handlers[e.data.type](e.data);
  } catch (err) {
    running = false;
    postMessage({ type: "fatal", error: String(err && err.stack ? err.stack : err) });
  }
};
ready.then(
  () => postMessage({ type: "ready" }),
  (err) => postMessage({ type: "fatal", error: "could not load borel_web.wasm: " + err }),
);
