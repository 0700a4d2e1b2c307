// The JavaScript daemon: served to a default-configured Python proxy, to the JS client, and
// surviving the bad input zpyro's Python daemon survives.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Dealer } from "zeromq";
import { Daemon, DaemonError, Proxy, RemoteError, SecurityError, wire } from "../src/index.js";
import { HERE, PYTHON, pythonDaemon, runPython, scaled } from "./helpers.js";
import { msgpack, json } from "../src/serializers.js";

const T = { timeout: scaled(60000) };

class Greeter {
  constructor() {
    this._motto = "carpe diem";
    this._remembered = [];
  }

  get_fortune(name) {
    return `Hello, ${name}. Here is your fortune message`;
  }

  add(a, b) {
    return a + b;
  }

  greet(name, kwargs = {}) {
    return `${kwargs.greeting ?? "Hello"}, ${name}`;
  }

  echo(value) {
    return value;
  }

  async later(value) {
    await new Promise((r) => setTimeout(r, 10));
    return value;
  }

  *count(n) {
    for (let i = 0; i < n; i++) yield i;
  }

  async *ticks(n) {
    for (let i = 0; i < n; i++) yield `tick ${i}`;
  }

  remember(line) {
    this._remembered.push(line);
  }

  recall() {
    return this._remembered;
  }

  fail(message) {
    throw new Error(message);
  }

  get motto() {
    return this._motto;
  }

  set motto(value) {
    this._motto = value;
  }
}

describe("the JavaScript daemon", T, () => {
  let d;
  let uri;
  before(async () => {
    d = new Daemon({ host: "127.0.0.1" });
    await d.start();
    uri = d.register(new Greeter(), "greeter", { oneway: ["remember"] });
  });
  after(() => d?.close());

  test("a default-configured Python proxy calls it (and switches to msgpack)", async () => {
    const { code, output } = await runPython([join(HERE, "fixtures", "py_client.py"), String(uri)]);
    assert.equal(code, 0, output);
    for (const line of [
      /^fortune: Hello, Irmen\. Here is your fortune message$/m,
      /^serializer: msgpack$/m,
      /^sum: 5$/m,
      /^kwargs: Hi, Ann$/m,
      /^bytes: True 100000$/m,
      /^stream: \[0, 1, 2, 3, 4\]$/m,
      /^motto: carpe diem$/m,
      /^motto now: changed$/m,
      /^remembered: \['oneway line'\]$/m,
      /^error: RemoteError js\.Error: broken$/m,
      /^batch: \[2, 4\]$/m,
      /^missing: AttributeError$/m,
      /^pinned serpent: SerializeError$/m,
      /^DONE$/m,
    ]) assert.match(output, line);
  });

  test("the JavaScript client calls it: async methods, async generators, errors", async () => {
    const p = await Proxy.connect(uri);
    assert.equal(await p.later(5), 5);
    const ticks = [];
    for await (const t of p.ticks(3)) ticks.push(t);
    assert.deepEqual(ticks, ["tick 0", "tick 1", "tick 2"]);
    await assert.rejects(p.fail("no"), (err) => err instanceof RemoteError && err.remoteType === "js.Error");
    await assert.rejects(p.call("nothing"), (err) => err.remoteType === "builtins.AttributeError");
    await assert.rejects(p.call("_private"), (err) => err.remoteType === "builtins.AttributeError");
    await p.close();
    await assert.rejects(Proxy.connect(`PYRO:nobody@${d.location}`), DaemonError);
  });

  test("callbacks: Python calls back into a Node object", async () => {
    const py = await pythonDaemon();
    try {
      const p = await Proxy.connect(py.uri);
      const me = await Proxy.connect(uri); // a proxy travels as {"__class__": "zpyro.Proxy", ...}
      assert.deepEqual(await p.call_back(me, [1, "two"]), [1, "two"]);
      await me.close();
      await p.close();
    } finally {
      await py.proc.stop();
    }
  });

  test("unsupported options raise", () => {
    assert.throws(() => new Daemon({ curveAllowedClients: "/tmp" }), DaemonError);
    assert.throws(() => new Daemon({ serializers: ["serpent"] }), DaemonError);
  });
});

describe("bad input to the JavaScript daemon", T, () => {
  let d;
  let sock;
  let uri;
  before(async () => {
    d = new Daemon({ host: "127.0.0.1", maxMessageSize: 100000 });
    await d.start();
    uri = d.register(new Greeter(), "greeter", { oneway: ["remember"] });
    sock = new Dealer({ linger: 0, receiveTimeout: scaled(5000) });
    sock.connect(`tcp://${d.location}`);
  });
  after(async () => {
    sock?.close();
    await d?.close();
  });

  async function ask(frames) {
    await sock.send(frames);
    const reply = wire.decode(await sock.receive());
    const body = reply.payload.length ? (reply.serializer === json.id ? json : msgpack).loads(reply.payload) : null;
    return { reply, body };
  }

  const call = (callId, body, { ser = msgpack, flags = 0, object = "greeter", method = "add" } = {}) =>
    wire.encode(wire.CALL, flags, ser.id, callId, object, method, ser.dumps(body).payload);

  test("malformed frames get a ProtocolError addressed to their call", async () => {
    const good = call(7, [[1, 2], {}]);
    const cases = [
      [[good[0], good[1]], "frames"],
      [[Buffer.from("ZPY\x02", "latin1"), good[1], good[2]], "version"],
      [[Buffer.from("junk"), good[1], good[2]], "signature"],
      [[good[0], good[1].subarray(0, 11), good[2]], "short"],
      [[good[0], Buffer.concat([Buffer.from([9]), good[1].subarray(1)]), good[2]], "kind"],
      [[good[0], Buffer.concat([good[1].subarray(0, 1), Buffer.from([0x40]), good[1].subarray(2)]), good[2]], "flags"],
      [[good[0], Buffer.concat([good[1].subarray(0, 3), Buffer.from([1]), good[1].subarray(4)]), good[2]], "reserved"],
    ];
    for (const [frames, fragment] of cases) {
      const { reply, body } = await ask(frames);
      assert.equal(reply.kind, wire.ERROR);
      assert.equal(body.type, "zpyro.errors.ProtocolError");
      assert.ok(body.message.includes(fragment), `${fragment}: ${body.message}`);
      assert.equal(reply.callId, fragment === "short" ? 0 : 7);
    }
  });

  test("a refused serializer gets a json SerializeError; the payload is never read", async () => {
    const serpent = wire.encode(wire.CALL, 0, 1, 8, "greeter", "add", Buffer.from("(1, 2)"));
    const { reply, body } = await ask(serpent);
    assert.equal(reply.serializer, json.id);
    assert.equal(body.type, "zpyro.errors.SerializeError");
    assert.match(body.message, /serpent is not accepted .*json, msgpack/);
  });

  test("undecodable payloads, wrong call shapes, unknown objects and methods", async () => {
    let r = await ask(wire.encode(wire.CALL, 0, msgpack.id, 9, "greeter", "add", Buffer.from([0xc1])));
    assert.equal(r.body.type, "zpyro.errors.SerializeError");
    r = await ask(call(10, { not: "a call" }));
    assert.equal(r.body.type, "zpyro.errors.ProtocolError");
    r = await ask(call(11, [[1], {}], { object: "nobody" }));
    assert.equal(r.body.type, "zpyro.errors.DaemonError");
    r = await ask(call(12, [[], {}], { method: "constructor" }));
    assert.equal(r.body.type, "builtins.AttributeError");
    r = await ask(call(13, [[1, 2], {}], { flags: wire.FLAG_BATCH, method: "" })); // a batch is one argument
    assert.equal(r.body.type, "zpyro.errors.ProtocolError");
    r = await ask(wire.encode(wire.RESULT, 0, msgpack.id, 14, "", "", msgpack.dumps(1).payload));
    assert.equal(r.body.type, "zpyro.errors.ProtocolError");
    r = await ask(wire.encode(wire.CALL, 0, msgpack.id, 15, "greeter", "echo", Buffer.from("81ad5f5f7a7079726f5f6f6f625f5f07", "hex")));
    assert.equal(r.body.type, "zpyro.errors.SerializeError"); // a marker with no buffer
  });

  test("a message over the limit gets MessageTooLargeError", async () => {
    // (a frame far over the limit makes libzmq drop the connection, as with the Python daemon)
    const big = wire.encode(wire.CALL, 0, msgpack.id, 16, "greeter", "echo", Buffer.alloc(120000));
    const { body, reply } = await ask(big);
    assert.equal(reply.callId, 16);
    assert.equal(body.type, "zpyro.errors.MessageTooLargeError");
  });

  test("PING gets PONG; after all that, calls still work", async () => {
    await sock.send(wire.encode(wire.PING, 0, 0, 17));
    const pong = wire.decode(await sock.receive());
    assert.equal(pong.kind, wire.PONG);
    assert.equal(pong.callId, 17);
    const p = await Proxy.connect(uri);
    assert.equal(await p.add(40, 2), 42);
    await p.close();
  });
});

describe("CURVE with zpyro-keygen's key files", T, () => {
  let dir;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zpyro-js-curve-"));
    for (const name of ["server", "client"]) {
      const { code, output } = await runPython(["-m", "zpyro.security", name, "--dir", dir]);
      assert.equal(code, 0, output);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the JS client talks to a CURVE Python daemon only with the right server key", async () => {
    const py = await pythonDaemon(["--curve", join(dir, "server.key_secret")]);
    try {
      const p = await Proxy.connect(py.uri, { curveServerKey: join(dir, "server.key"), curveSecretKey: join(dir, "client.key_secret") });
      assert.equal(await p.add(1, 2), 3);
      await p.close();
      await assert.rejects(Proxy.connect(py.uri, { curveServerKey: join(dir, "client.key"), connectTimeout: 3 }), SecurityError);
      await assert.rejects(Proxy.connect(py.uri, { connectTimeout: 3 }), (err) => err.name === "CommunicationError" || err instanceof SecurityError);
    } finally {
      await py.proc.stop();
    }
  });

  test("a CURVE JS daemon, called by the JS client", async () => {
    const d = new Daemon({ host: "127.0.0.1", curveSecretKey: join(dir, "server.key_secret") });
    await d.start();
    const uri = d.register(new Greeter(), "greeter");
    try {
      const p = await Proxy.connect(uri, { curveServerKey: join(dir, "server.key") });
      assert.equal(await p.add(2, 2), 4);
      await p.close();
    } finally {
      await d.close();
    }
  });
});
