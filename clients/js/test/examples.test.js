// examples/js runs on its own, exits 0 and prints what it is meant to show.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { PYTHON, ROOT, scaled } from "./helpers.js";

test("examples/js/run.mjs: the greeting example across languages, both ways", { timeout: scaled(90000) }, () => {
  const result = spawnSync(process.execPath, [join(ROOT, "examples/js/run.mjs")], {
    cwd: ROOT,
    env: { ...process.env, ZPYRO_PYTHON: PYTHON },
    encoding: "utf8",
    timeout: scaled(80000),
  });
  assert.equal(result.status, 0, result.stdout + result.stderr);
  for (const line of [
    /^Python server \(pid \d+\): PYRO:obj_[0-9a-f]+@127\.0\.0\.1:\d+$/m,
    /^Node client: What is the zpyro uri of the greeting object\?$/m,
    /^Behold the warranty -- the bold print giveth and the fine print taketh away\.$/m,
    /^stopped Python greeting server \(pid \d+\)$/m,
    /^Node server \(pid \d+\): PYRO:obj_[0-9a-f]+@127\.0\.0\.1:\d+$/m,
    /^Python client: What is the zpyro uri of the greeting object\?$/m,
    /^Tomorrow's lucky number is 12345678\.$/m,
    /^stopped Node greeting server \(pid \d+\)$/m,
  ]) assert.match(result.stdout, line);
  assert.doesNotMatch(result.stderr, /refused call/); // the serializer agreement is quiet
});
