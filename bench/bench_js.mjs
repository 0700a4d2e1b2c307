// The JavaScript client against the same zpyro (Python) daemon as the Python proxy, in one run:
// sync echo calls/s and pipelined calls/s (2,000 in flight), next to the Python proxy's sync and
// futures rows. Usage (from the repository root): make bench-js, or
//   ZPYRO_PYTHON=.venv/bin/python node bench/bench_js.mjs [--seconds 3] [--json out.json]

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Proxy } from "../clients/js/src/index.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");
const PYTHON = process.env.ZPYRO_PYTHON || join(ROOT, ".venv/bin/python");
const PIPELINE = 2000;
const args = process.argv.slice(2);
const SECONDS = Number(args[args.indexOf("--seconds") + 1] || 3) || 3;
const JSON_OUT = args.includes("--json") ? args[args.indexOf("--json") + 1] : null;

function python(argv) {
  const proc = spawn(PYTHON, [join(HERE, "js_peer.py"), ...argv], {
    cwd: ROOT,
    env: { ...process.env, PYTHONPATH: ROOT, PYTHONUNBUFFERED: "1" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  const lines = [];
  const waiting = [];
  proc.stdout.on("data", (chunk) => {
    out += chunk;
    const parts = out.split("\n");
    out = parts.pop();
    for (const line of parts) {
      lines.push(line);
      waiting.splice(0).forEach((w) => w());
    }
  });
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  const nextLine = async (ms = 60000) => {
    const deadline = Date.now() + ms;
    while (!lines.length) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error("python helper gave no answer");
      await new Promise((r) => {
        waiting.push(r);
        setTimeout(r, 200);
      });
    }
    return lines.shift();
  };
  return { proc, nextLine, exited };
}

async function rate(run) {
  await run(); // warm up
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while ((elapsed = (performance.now() - start) / 1000) < SECONDS) calls += await run();
  return calls / elapsed;
}

const server = python(["serve"]);
try {
  const uri = (await server.nextLine()).split(/\s+/)[1];
  const rows = [];
  const p = await Proxy.connect(uri);
  rows.push({
    row: "JS proxy, sync echo [msgpack]",
    rate: await rate(async () => {
      for (let i = 0; i < 200; i++) await p.echo("hello");
      return 200;
    }),
  });
  rows.push({
    row: `JS proxy, ${PIPELINE} in flight [msgpack]`,
    rate: await rate(async () => {
      const calls = new Array(PIPELINE);
      for (let i = 0; i < PIPELINE; i++) calls[i] = p.echo(i);
      await Promise.all(calls);
      return PIPELINE;
    }),
  });
  await p.close();
  const client = python(["client", uri, String(SECONDS)]);
  rows.push(...JSON.parse(await client.nextLine(SECONDS * 30000)));
  await client.exited;
  const by = (name) => rows.find((r) => r.row.startsWith(name)).rate;
  const width = Math.max(...rows.map((r) => r.row.length));
  console.log(`zpyro: JavaScript vs Python proxies, one Python daemon, ${SECONDS} s per row, Node ${process.version}`);
  for (const r of rows) console.log(`${r.row.padEnd(width)}  ${Math.round(r.rate).toLocaleString("en").padStart(9)} calls/s`);
  const syncRatio = by("JS proxy, sync") / by("Python proxy, sync echo [serpent]");
  const pipeRatio = by(`JS proxy, ${PIPELINE}`) / by(`Python futures, ${PIPELINE} in flight [serpent]`);
  console.log(`JS sync / Python sync [serpent]: ${syncRatio.toFixed(2)} (target >= 0.8)`);
  console.log(`JS pipelined / Python futures [serpent]: ${pipeRatio.toFixed(2)} (target >= 1.0)`);
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ seconds: SECONDS, rows, syncRatio, pipeRatio }, null, 1));
} finally {
  server.proc.stdin.end();
  await Promise.race([server.exited, new Promise((r) => setTimeout(r, 5000))]);
  if (server.proc.exitCode === null) server.proc.kill();
}
