// The name server and pools through a real zpyro broker: Python and JavaScript daemons in one
// pool, called from JavaScript (and the JavaScript daemon from Python).

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Daemon, NamingError, Proxy, URI, locateNS, resolve } from "../src/index.js";
import { HERE, broker, pythonDaemon, runPython, scaled } from "./helpers.js";

const T = { timeout: scaled(60000) };
const FAST = { ZPYRO_HEARTBEAT_INTERVAL: "0.2", ZPYRO_HEARTBEAT_TIMEOUT: "1.0" };

class JsWorker {
  echo(value) {
    return value;
  }

  whoami() {
    return "javascript";
  }

  *numbers(n) {
    for (let i = 0; i < n; i++) yield i;
  }
}

describe("through the broker", T, () => {
  let b;
  let pyPooled;
  let ns;
  before(async () => {
    b = await broker(FAST);
    pyPooled = await pythonDaemon(["--broker", b.endpoint], FAST);
    ns = await locateNS({ host: b.host, port: b.port });
  });
  after(async () => {
    await ns?.close();
    await pyPooled?.proc.stop();
    await b?.proc.stop();
  });

  test("locateNS and the name server's methods", async () => {
    assert.equal(await ns.ping(), null);
    await ns.register("js.example", "PYRO:thing@127.0.0.1:5555", false, ["lang:js"]);
    const found = await ns.lookup("js.example");
    assert.ok(found instanceof URI);
    assert.equal(String(found), "PYRO:thing@127.0.0.1:5555");
    const [uri, tags] = await ns.lookup("js.example", true);
    assert.equal(String(uri), "PYRO:thing@127.0.0.1:5555");
    assert.deepEqual(tags, ["lang:js"]);
    const listed = await ns.call("list", [], { prefix: "js." });
    assert.deepEqual(listed, { "js.example": "PYRO:thing@127.0.0.1:5555" });
    assert.ok((await ns.count()) >= 3);
    assert.equal(await ns.remove("js.example"), 1);
    await assert.rejects(ns.lookup("js.example"), NamingError);
    await assert.rejects(locateNS({ host: "127.0.0.1", port: 1 }), NamingError);
  });

  test("PYRONAME: and PYROMETA: proxies, and resolve()", async () => {
    const byName = await Proxy.connect(`PYRONAME:test.pool@${b.host}:${b.port}`);
    assert.equal(await byName.whoami(), "python");
    assert.equal(String(byName.target), `PYRO:test.pool@${b.host}:${b.port}`);
    await byName.close();
    const byMeta = await Proxy.connect(`PYROMETA:lang:py@${b.host}:${b.port}`);
    assert.equal(await byMeta.add(20, 22), 42);
    await byMeta.close();
    assert.equal(String(await resolve(`PYRONAME:test.pool@${b.host}:${b.port}`)), `PYRO:test.pool@${b.host}:${b.port}`);
    await assert.rejects(resolve(`PYRONAME:no.such.name@${b.host}:${b.port}`), NamingError);
    await assert.rejects(resolve(`PYROMETA:lang:cobol@${b.host}:${b.port}`), NamingError);
  });

  test("a pooled Python daemon works like a direct one: calls, streams, batches", async () => {
    const p = await Proxy.connect(`PYRONAME:test.pool@${b.host}:${b.port}`);
    const values = await Promise.all(Array.from({ length: 500 }, (_, i) => p.echo(i)));
    assert.equal(values[499], 499);
    let sum = 0;
    for await (const n of p.numbers(450)) sum += n; // three chunks, fetched from that one daemon
    assert.equal(sum, (449 * 450) / 2);
    const batch = p.batch();
    batch.add(1, 2);
    batch.echo("x");
    assert.deepEqual(await batch(), [3, "x"]);
    await p.close();
  });

  test("a JavaScript daemon attached to the broker joins a pool, called from JS and Python", async () => {
    const d = new Daemon({ broker: b.endpoint, capacity: 4 });
    await d.start();
    const uri = d.register(new JsWorker(), "js.pool", { metadata: ["lang:js"] });
    assert.equal(String(uri), `PYRO:js.pool@${b.host}:${b.port}`);
    await d.waitAttached();
    try {
      assert.equal(String(await ns.lookup("js.pool")), String(uri));
      const p = await Proxy.connect(`PYRONAME:js.pool@${b.host}:${b.port}`);
      assert.equal(await p.whoami(), "javascript");
      const got = await Promise.all(Array.from({ length: 100 }, (_, i) => p.echo(i))); // beyond capacity: queued
      assert.equal(got[99], 99);
      const items = [];
      for await (const n of p.numbers(250)) items.push(n);
      assert.equal(items.length, 250);
      await p.close();
      const script = join(HERE, "fixtures", "py_pool_client.py");
      const { code, output } = await runPython([script, `PYRONAME:js.pool@${b.host}:${b.port}`]);
      assert.equal(code, 0, output);
      assert.match(output, /^whoami: javascript$/m);
      assert.match(output, /^serializer: msgpack$/m);
      assert.match(output, /^stream: 300 items$/m);
    } finally {
      await d.close();
    }
  });
});
