// Run the greeting example across languages, both ways:
//   1. examples/greeting/server.py (Python) called by greeting_client.mjs (Node);
//   2. greeting_server.mjs (Node) called by examples/greeting/client.py (a default Python proxy).
// Everything it starts it stops, by pid.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const PYTHON = process.env.ZPYRO_PYTHON || join(ROOT, ".venv/bin/python");
const ENV = { ...process.env, PYTHONPATH: ROOT, PYTHONUNBUFFERED: "1", ZPYRO_HOST: "127.0.0.1" };

function start(label, command, args) {
  const proc = spawn(command, args, { cwd: ROOT, env: ENV, stdio: ["pipe", "pipe", "inherit"] });
  const ready = new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${label}: no uri within 20 s`)), 20000);
    proc.stdout.on("data", (chunk) => {
      out += chunk;
      const m = /Ready\. Object uri = (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on("exit", () => reject(new Error(`${label} ended early`)));
  });
  return { proc, ready, label };
}

function client(command, args, input) {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { cwd: ROOT, env: ENV, stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    proc.stdout.on("data", (chunk) => (out += chunk));
    proc.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`client exited ${code}: ${out}`))));
    proc.stdin.end(input);
  });
}

async function stop(server) {
  const exited = new Promise((r) => server.proc.on("exit", r));
  server.proc.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill("SIGKILL");
  console.log(`stopped ${server.label} (pid ${server.proc.pid})`);
}

const pyServer = start("Python greeting server", PYTHON, [join(ROOT, "examples/greeting/server.py")]);
try {
  const uri = await pyServer.ready;
  console.log(`Python server (pid ${pyServer.proc.pid}): ${uri}`);
  const out = await client(process.execPath, [join(HERE, "greeting_client.mjs")], `${uri}\nIrmen\n`);
  console.log("Node client:", out.replaceAll("? ", "?\n").trimEnd());
} finally {
  await stop(pyServer);
}

const jsServer = start("Node greeting server", process.execPath, [join(HERE, "greeting_server.mjs")]);
try {
  const uri = await jsServer.ready;
  console.log(`Node server (pid ${jsServer.proc.pid}): ${uri}`);
  const out = await client(PYTHON, [join(ROOT, "examples/greeting/client.py")], `${uri}\nIrmen\n`);
  console.log("Python client:", out.replaceAll("? ", "?\n").trimEnd());
} finally {
  await stop(jsServer);
}
