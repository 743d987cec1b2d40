// onnxruntime (the npm package onnxruntime-node, CPU) as a peer of mlc: it
// runs the same .onnx files as mlc, for two uses.
//
//   node ort.js run MODEL.onnx < request.json
//     Runs the model once on the inputs of the request,
//     {"inputs": {"x": {"shape": [2, 16], "data": [...]}}}, and prints
//     {"outputs": {"logits": {"shape": [...], "data": [...]}}}: a second
//     reference for mlc's outputs (onnx/ort_test.go). An input's element type
//     is the model's (int64 ids are sent as numbers).
//
//   node ort.js bench -model M.onnx -workload NAME -threads N [-reps R] [-dims batch=1]
//     Times session.run on random inputs of the model's types: warm-up calls,
//     then R repetitions of as many calls as fill about 0.3 s each, and
//     prints one JSON line in the peer runner's result form (seconds per
//     call of every repetition). intraOpNumThreads is N, inter-op 1,
//     sequential execution, all graph optimizations on (onnxruntime's
//     default). A second line gives the process's CPU time per call
//     (workload "NAME, CPU time"). Timed inside the process, so start-up and session creation
//     are not counted; the async call's own overhead (node → the native
//     binding → a worker thread → back) is, as every user of the package
//     pays it.
//
// Install (git ignores node_modules here):
//   npm install --prefix bench/ort --ignore-scripts --no-audit --no-fund onnxruntime-node
// (--ignore-scripts: the package's install script tries a download; the CPU
// libraries ship in the package.)
'use strict';

const fs = require('fs');
const path = require('path');

function fail(msg) {
  process.stderr.write('ort.js: ' + msg + '\n');
  process.exit(1);
}

function loadOrt() {
  try {
    return require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    fail('onnxruntime-node is not installed (npm install --prefix bench/ort --ignore-scripts onnxruntime-node): ' + e.message.split('\n')[0]);
  }
}

// The element type and shape of each input, from the session's metadata;
// symbolic dimensions are bound from dims (name → size).
function inputSpecs(session, dims) {
  const specs = {};
  const meta = session.inputMetadata;
  for (let i = 0; i < session.inputNames.length; i++) {
    const name = session.inputNames[i];
    const m = Array.isArray(meta) ? meta[i] : meta && meta[name];
    if (!m || !m.isTensor) fail('input ' + name + ': no tensor metadata');
    const shape = m.shape.map((d) => {
      if (typeof d === 'number' && d >= 0) return d;
      if (dims === null) return -1; // run: the request gives the shape
      if (typeof d === 'string' && dims[d] !== undefined) return dims[d];
      fail('input ' + name + ': bind the symbolic dimension ' + JSON.stringify(d) + ' with -dims ' + d + '=N');
    });
    specs[name] = { type: m.type, shape };
  }
  return specs;
}

function makeTensor(ort, type, shape, values) {
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) fail('input has ' + values.length + ' values, shape ' + JSON.stringify(shape) + ' needs ' + n);
  switch (type) {
    case 'float32': return new ort.Tensor('float32', Float32Array.from(values), shape);
    case 'float64': return new ort.Tensor('float64', Float64Array.from(values), shape);
    case 'int64': return new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(Math.round(v))), shape);
    case 'int32': return new ort.Tensor('int32', Int32Array.from(values), shape);
    case 'bool': return new ort.Tensor('bool', Uint8Array.from(values, (v) => (v ? 1 : 0)), shape);
    default: fail('unsupported input type ' + type);
  }
}

async function session(ort, model, threads) {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

async function runCmd(ort, model) {
  const req = JSON.parse(fs.readFileSync(0, 'utf8'));
  const s = await session(ort, model, 1);
  const specs = inputSpecs(s, null);
  const feeds = {};
  for (const name of s.inputNames) {
    const v = req.inputs && req.inputs[name];
    if (!v) fail('the request has no input ' + name);
    feeds[name] = makeTensor(ort, specs[name].type, v.shape, v.data);
  }
  const res = await s.run(feeds);
  const outputs = {};
  for (const name of s.outputNames) {
    const t = res[name];
    outputs[name] = { shape: t.dims.map(Number), data: Array.from(t.data, Number) };
  }
  process.stdout.write(JSON.stringify({ outputs }) + '\n');
}

// A small deterministic generator, so every run feeds the same inputs.
function lcg(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function parseFlags(argv) {
  const f = { threads: 1, reps: 7, dims: {}, vocab: 0 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (v === undefined) fail('flag ' + k + ' needs a value');
    i++;
    switch (k.replace(/^--?/, '')) {
      case 'model': f.model = v; break;
      case 'workload': f.workload = v; break;
      case 'threads': f.threads = parseInt(v, 10); break;
      case 'reps': f.reps = parseInt(v, 10); break;
      case 'vocab': f.vocab = parseInt(v, 10); break; // ids are drawn below this
      case 'dims':
        for (const kv of v.split(',').filter((s) => s)) {
          const [dk, dv] = kv.split('=');
          f.dims[dk] = parseInt(dv, 10);
        }
        break;
      default: fail('unknown flag ' + k);
    }
  }
  if (!f.model || !f.workload) fail('bench needs -model and -workload');
  if (!(f.threads >= 1) || !(f.reps >= 1)) fail('-threads and -reps must be positive');
  return f;
}

async function benchCmd(ort, argv) {
  const f = parseFlags(argv);
  const s = await session(ort, f.model, f.threads);
  const specs = inputSpecs(s, f.dims);
  const rnd = lcg(1);
  const feeds = {};
  for (const name of s.inputNames) {
    const { type, shape } = specs[name];
    const n = shape.reduce((a, b) => a * b, 1);
    const vals = new Array(n);
    for (let i = 0; i < n; i++) {
      vals[i] = type.startsWith('int') ? Math.floor(rnd() * (f.vocab || 2)) : rnd() * 2 - 1;
    }
    feeds[name] = makeTensor(ort, type, shape, vals);
  }
  const call = () => s.run(feeds);
  // Warm-up: at least 20 calls and 0.2 s.
  let t0 = process.hrtime.bigint();
  let warm = 0;
  while (warm < 20 || Number(process.hrtime.bigint() - t0) < 2e8) {
    await call();
    warm++;
  }
  // One repetition is as many calls as take about 0.3 s.
  t0 = process.hrtime.bigint();
  await call();
  const one = Math.max(Number(process.hrtime.bigint() - t0), 1);
  const inner = Math.max(1, Math.round(3e8 / one));
  const times = [];
  const cpu = [];
  for (let r = 0; r < f.reps; r++) {
    const c = process.cpuUsage();
    const a = process.hrtime.bigint();
    for (let i = 0; i < inner; i++) await call();
    times.push(Number(process.hrtime.bigint() - a) / 1e9 / inner);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1e6 / inner);
  }
  const version = require(path.join(__dirname, 'node_modules', 'onnxruntime-node', 'package.json')).version;
  process.stdout.write(JSON.stringify({
    workload: f.workload, tool: 'onnxruntime', threads: f.threads, unit: 'call', times_s: times,
    note: 'onnxruntime-node ' + version + ', intraOpNumThreads ' + f.threads + ', ' + inner + ' calls per repetition',
  }) + '\n');
  // The process's user+system CPU time per call (every thread: node's,
  // the binding's worker, onnxruntime's pool), which other processes'
  // load does not inflate as it does the wall time.
  process.stdout.write(JSON.stringify({
    workload: f.workload + ', CPU time', tool: 'onnxruntime', threads: f.threads, unit: 'call', times_s: cpu,
    note: 'process.cpuUsage() over the same calls',
  }) + '\n');
}

async function main() {
  const [cmd, ...rest] = process.argv.slice(2);
  const ort = loadOrt();
  if (cmd === 'run' && rest.length === 1) return runCmd(ort, rest[0]);
  if (cmd === 'bench') return benchCmd(ort, rest);
  fail('usage: node ort.js run MODEL.onnx < request.json | node ort.js bench -model M -workload NAME -threads N [-reps R] [-dims k=v,...] [-vocab V]');
}

main().catch((e) => fail(String(e && e.message ? e.message : e).split('\n')[0]));
