// ONNX Runtime peer benchmark: median latency of session.run on one model at
// a given batch size and intra-op thread count. Prints one JSON line.
//   node ort_bench.js MODEL.onnx BATCH THREADS [SECONDS]
// The input shape is read from the model (symbolic batch dim set to BATCH).
// Binding overhead (N-API, tensor wrapping) is included in these figures;
// measure it with the one-node Identity model and subtract it.
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, batchArg, threadsArg, secondsArg] = process.argv.slice(2);
  const batch = parseInt(batchArg || '1', 10);
  const threads = parseInt(threadsArg || '1', 10);
  const seconds = parseFloat(secondsArg || '2');
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const inputName = session.inputNames[0];
  const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === inputName) : null;
  let dims = meta && meta.shape ? meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : batch)) : null;
  if (!dims) throw new Error('cannot read input shape');
  dims[0] = batch;
  const size = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; ++i) data[i] = Math.sin(i * 0.37) * 0.5;
  const feeds = { [inputName]: new ort.Tensor('float32', data, dims) };
  for (let i = 0; i < 20; ++i) await session.run(feeds);  // warm-up
  const times = [];
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < end || times.length < 10) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  console.log(JSON.stringify({ peer: 'onnxruntime', version: ort.env.versions ? ort.env.versions.common : '',
    model: modelPath, batch, threads, runs: times.length, median_us: q(0.5), p10_us: q(0.1), p90_us: q(0.9) }));
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
