// The JavaScript client against a real zpyro (Python) daemon in a subprocess.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  CommunicationError, ConnectionClosedError, MessageTooLargeError, NamingError, Proxy, RemoteError,
  SerializeError, TimeoutError, getRemoteTraceback,
} from "../src/index.js";
import { eventually, pythonDaemon, scaled } from "./helpers.js";

const T = { timeout: scaled(30000) };

describe("a JavaScript proxy calling a Python daemon", T, () => {
  let daemon;
  let p;
  before(async () => {
    daemon = await pythonDaemon();
    p = await Proxy.connect(daemon.uri);
  });
  after(async () => {
    await p?.close();
    await daemon?.proc.stop();
  });

  test("methods from the metadata, and call() with keyword arguments", async () => {
    assert.equal(await p.add(2, 3), 5);
    assert.equal(await p.call("greet", ["Irmen"], { greeting: "Hi" }), "Hi, Irmen");
    assert.deepEqual(await p.echo({ a: [1, "two", null], b: true }), { a: [1, "two", null], b: true });
    assert.ok(p.metadata.methods.includes("echo"));
    assert.ok(p.metadata.serializers.includes("msgpack"));
    assert.equal(p.serializer, "msgpack");
    assert.equal(p.nonexistent, undefined);
  });

  test("integers: 64-bit, and beyond a JS number as BigInt", async () => {
    assert.equal(await p.echo(2 ** 40), 2 ** 40);
    assert.equal(await p.echo(-(2 ** 40)), -(2 ** 40));
    assert.equal(await p.echo(2n ** 63n - 1n), 2n ** 63n - 1n);
    assert.equal(await p.add(2 ** 52, 2 ** 52), 2n ** 53n); // past Number.MAX_SAFE_INTEGER
  });

  test("properties", async () => {
    assert.equal(await p.motto, "hello");
    await p.setAttr("motto", "changed");
    assert.equal(await p.getAttr("motto"), "changed");
    assert.throws(() => {
      p.motto = "x";
    }, TypeError);
  });

  test("oneway methods from the metadata", async () => {
    assert.equal(await p.log("one"), undefined);
    await p.log("two");
    assert.deepEqual(await p.lines(), ["one", "two"]);
  });

  test("remote errors are Error subclasses with the remote type and traceback", async () => {
    await assert.rejects(p.fail("boom"), (err) => {
      assert.ok(err instanceof RemoteError);
      assert.equal(err.remoteType, "builtins.ValueError");
      assert.match(err.message, /boom/);
      assert.ok(getRemoteTraceback(err).some((l) => l.includes("raise ValueError")));
      return true;
    });
    await assert.rejects(p.fail_naming(), NamingError);
  });

  test("many calls in flight on one connection (pipelined)", async () => {
    const values = await Promise.all(Array.from({ length: 2000 }, (_, i) => p.echo(i)));
    assert.deepEqual(values, Array.from({ length: 2000 }, (_, i) => i));
  });

  test("per-call and per-proxy timeouts, and an AbortSignal", async () => {
    await assert.rejects(p.call("sleep", [2], {}, { timeout: 0.2 }), TimeoutError);
    const slow = await Proxy.connect(daemon.uri, { timeout: 0.2 });
    await assert.rejects(slow.sleep(2), (err) => err instanceof TimeoutError && err instanceof CommunicationError);
    assert.equal(await slow.add(1, 1), 2); // the connection is still fine
    await slow.close();
    const ac = new AbortController();
    const call = p.call("sleep", [2], {}, { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(call, { name: "AbortError" });
    const stub = p.sleep.withOptions({ signal: AbortSignal.timeout(100) });
    await assert.rejects(stub(2), { name: "TimeoutError" });
  });

  test("bytes as Uint8Array; big ones as out-of-band frames", async () => {
    const small = await p.echo(new Uint8Array([0, 1, 254]));
    assert.ok(small instanceof Uint8Array);
    assert.deepEqual([...small], [0, 1, 254]);
    const big = await p.blob(200000);
    assert.equal(big.length, 200000);
    assert.equal(big[255], 255);
    assert.equal(await p.length(Buffer.alloc(100000, 1)), 100000);
    assert.deepEqual(await p.echo({ __zpyro_oob__: 0 }), { __zpyro_oob__: 0 }); // data, not a marker
  });

  test("batches: one message each way", async () => {
    const b = p.batch();
    b.add(1, 2);
    b.greet("x");
    b.add(3, 4);
    b.call("greet", ["y"], { greeting: "Hi" });
    assert.equal(b.length, 4);
    assert.deepEqual(await b(), [3, "Hello, x", 7, "Hi, y"]);
    const failing = p.batch();
    failing.add(1, 1);
    failing.fail("in a batch");
    failing.add(2, 2);
    await assert.rejects(failing(), (err) => err.remoteType === "builtins.ValueError" && err.batchResults.length === 1);
    const quiet = p.batch();
    quiet.log("batched");
    assert.equal(await quiet({ oneway: true }), undefined);
  });

  test("streams are async iterators; break frees the daemon's generator", async () => {
    let count = 0;
    let sum = 0;
    for await (const n of p.numbers(1000)) {
      count++;
      sum += n;
    }
    assert.equal(count, 1000);
    assert.equal(sum, 499500);
    const closedBefore = await p.streams_closed();
    for await (const n of p.numbers(1e9)) if (n >= 500) break; // a billion: only chunks are fetched
    // the daemon closes the generator in its producer thread: soon after the close, not before
    await eventually(async () => (await p.streams_closed()) === closedBefore + 1, 5000, "the generator closed");
    assert.equal(await p.streams_closed(), closedBefore + 1);
  });

  test("json selectable", async () => {
    const j = await Proxy.connect(daemon.uri, { serializer: "json" });
    assert.equal(j.serializer, "json");
    assert.deepEqual(await j.echo({ b: new Uint8Array([1, 2]) }), { b: new Uint8Array([1, 2]) });
    await assert.rejects(j.echo(2n ** 60n), SerializeError);
    await j.close();
  });

  test("a message over the daemon's limit is refused locally", async () => {
    const limited = await pythonDaemon([], { ZPYRO_MAX_MESSAGE_SIZE: "100000" });
    const q = await Proxy.connect(limited.uri);
    await assert.rejects(q.length(Buffer.alloc(200000)), MessageTooLargeError);
    assert.equal(await q.length(Buffer.alloc(1000)), 1000);
    await q.close();
    await limited.proc.stop();
  });

  test("a lost connection fails every call in flight", async () => {
    const doomed = await pythonDaemon();
    const q = await Proxy.connect(doomed.uri);
    const calls = [q.sleep(30), q.sleep(30), q.sleep(30)];
    const settled = Promise.allSettled(calls);
    await q.add(1, 1); // the sleeps are in flight (the daemon runs them in its pool)
    await doomed.proc.kill();
    const outcomes = await settled;
    for (const o of outcomes) assert.ok(o.status === "rejected" && o.reason instanceof ConnectionClosedError, String(o.reason));
    await assert.rejects(q.add(1, 1), CommunicationError); // nobody listens any more
    await q.close();
  });

  test("a daemon that is not there: CommunicationError, never a hang", async () => {
    await assert.rejects(Proxy.connect("PYRO:x@127.0.0.1:1", { connectTimeout: 2 }), CommunicationError);
  });
});

describe("serializer agreement with a Python daemon that accepts json only", T, () => {
  test("the default (msgpack) gives way; an explicit choice does not", async () => {
    const daemon = await pythonDaemon(["--serializers", "json"]);
    try {
      const p = await Proxy.connect(daemon.uri);
      assert.equal(p.serializer, "json");
      assert.equal(await p.add(1, 2), 3);
      await p.close();
      const pinned = await Proxy.connect(daemon.uri, { serializer: "msgpack" });
      await assert.rejects(pinned.add(1, 2), SerializeError);
      await assert.rejects(pinned.log("oneway too"), SerializeError); // never silent
      await pinned.close();
    } finally {
      await daemon.proc.stop();
    }
  });
});
