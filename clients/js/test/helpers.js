// Test helpers: Python and broker subprocesses that are ready (their READY line read) before a
// test goes on, stopped by pid; bounded waits scaled by ZPYRO_TEST_TIMESCALE.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(HERE, "..", "..", "..");
export const SCALE = Number(process.env.ZPYRO_TEST_TIMESCALE || 1);
export const PYTHON = process.env.ZPYRO_PYTHON || (existsSync(join(ROOT, ".venv/bin/python")) ? join(ROOT, ".venv/bin/python") : "python3");

export function scaled(ms) {
  return ms * SCALE;
}

/** A subprocess whose output lines are collected; waitFor(marker) resolves with the first line
 * containing it (rejects after the bound or when the process ends). */
export class Spawned {
  constructor(command, args, env = {}) {
    this.output = [];
    this.waiters = [];
    this.proc = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, PYTHONUNBUFFERED: "1", PYTHONPATH: ROOT, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) => this.proc.on("exit", (code) => resolve(code)));
    let partial = "";
    const onData = (chunk) => {
      partial += chunk.toString();
      const lines = partial.split("\n");
      partial = lines.pop();
      for (const line of lines) {
        this.output.push(line);
        for (const w of [...this.waiters]) w(line);
      }
    };
    this.proc.stdout.on("data", onData);
    this.proc.stderr.on("data", onData);
  }

  waitFor(marker, ms = 20000) {
    const seen = this.output.find((l) => l.includes(marker));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no '${marker}' within ${scaled(ms)} ms; output:\n${this.output.join("\n")}`)), scaled(ms));
      const check = (line) => line.includes(marker) && done(null, line);
      const done = (err, line) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        this.exited.then(() => {}, () => {});
        if (err) reject(err);
        else resolve(line);
      };
      this.waiters.push(check);
      this.exited.then((code) => done(new Error(`process ended (${code}) before '${marker}'; output:\n${this.output.join("\n")}`)));
    });
  }

  /** Stop by pid: close stdin (our fixtures end then), then SIGTERM, then SIGKILL. */
  async stop() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.stdin.end();
    const bounded = (ms) => Promise.race([this.exited, new Promise((r) => setTimeout(() => r("timeout"), scaled(ms)))]);
    if ((await bounded(3000)) !== "timeout") return;
    this.proc.kill("SIGTERM");
    if ((await bounded(5000)) !== "timeout") return;
    this.proc.kill("SIGKILL");
    await this.exited;
  }

  kill() {
    this.proc.kill("SIGKILL");
    return this.exited;
  }
}

/** A zpyro Python daemon (fixtures/py_daemon.py); resolves {proc, uri}. */
export async function pythonDaemon(args = [], env = {}) {
  const proc = new Spawned(PYTHON, [join(HERE, "fixtures", "py_daemon.py"), ...args], env);
  const line = await proc.waitFor("READY");
  return { proc, uri: line.split(/\s+/)[1] };
}

/** The zpyro broker (python -m zpyro.broker) on free ports; resolves {proc, uri, host, port, endpoint}. */
export async function broker(env = {}) {
  const proc = new Spawned(PYTHON, ["-m", "zpyro.broker", "--host", "127.0.0.1", "--port", "0", "--pub-port", "0"], env);
  const line = await proc.waitFor("READY");
  const uri = line.split(/\s+/)[1];
  const location = uri.split("@")[1];
  const port = Number(location.slice(location.lastIndexOf(":") + 1));
  return { proc, uri, host: "127.0.0.1", port, endpoint: `tcp://${location}` };
}

/** Run a Python script to its end; resolves {code, output}. */
export async function runPython(args, env = {}, ms = 30000) {
  const proc = new Spawned(PYTHON, args, env);
  const code = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r("timeout"), scaled(ms)))]);
  if (code === "timeout") await proc.kill();
  return { code, output: proc.output.join("\n") };
}

/** Poll `predicate` (async) until it is true, for at most `ms` (scaled): only for state nothing
 * signals, such as a daemon-side counter. */
export async function eventually(predicate, ms, what) {
  const deadline = Date.now() + scaled(ms);
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`not within ${scaled(ms)} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
