// The shared test vectors (tests/vectors/*.json) against the JavaScript codec; the Python suite
// runs the same files (tests/test_vectors.py).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { payloadToError, ProtocolError, SerializeError, URI, wire } from "../src/index.js";
import { readCalls, unpackCall } from "../src/dispatch.js";
import { Daemon } from "../src/daemon.js";
import { SERIALIZERS, BY_ID } from "../src/serializers.js";
import { ROOT } from "./helpers.js";

const load = (name) => JSON.parse(readFileSync(join(ROOT, "tests", "vectors", name), "utf8"));
const FRAMES = load("frames.json");
const VALUES = load("values.json");
const MESSAGES = load("messages.json");
const FLAGS = { ONEWAY: wire.FLAG_ONEWAY, META: wire.FLAG_META, BATCH: wire.FLAG_BATCH, ANNOTATED: wire.FLAG_ANNOTATED, STREAM: wire.FLAG_STREAM, HANDSHAKE: wire.FLAG_HANDSHAKE, CREDIT: wire.FLAG_CREDIT };
const KINDS = Object.fromEntries(Object.entries(wire.KIND_NAMES).map(([k, v]) => [v, Number(k)]));

const unhex = (list) => list.map((h) => Buffer.from(h, "hex"));
const flagsOf = (names) => names.reduce((a, n) => a | FLAGS[n], 0);
// flags are per kind: bit 0x10 is HANDSHAKE on a CALL, STREAM on the others
const flagNames = (kind, flags) => {
  const other = kind === wire.CALL ? "STREAM" : "HANDSHAKE";
  return Object.keys(FLAGS).filter((n) => flags & FLAGS[n] && n !== other);
};

/** The files' JSON notation as a JavaScript value. */
function native(v) {
  if (Array.isArray(v)) return v.map(native);
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === "$bytes") return new Uint8Array(Buffer.from(v.$bytes, "hex"));
    if (keys.length === 1 && keys[0] === "$uri") return new URI(v.$uri);
    if (keys.length === 1 && keys[0] === "$set") return v.$set.map(native);
    return Object.fromEntries(keys.map((k) => [k, native(v[k])]));
  }
  return v;
}

/** A decoded JavaScript value in the files' notation. */
function tagged(v) {
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  if (v instanceof URI) return { $uri: String(v) };
  if (Array.isArray(v)) return v.map(tagged);
  if (v !== null && typeof v === "object") {
    if (typeof v.toJSON === "function" && !(v instanceof Date)) return v.toJSON(); // a zpyro Proxy
    return Object.fromEntries(Object.keys(v).map((k) => [k, tagged(v[k])]));
  }
  return v;
}

/** Compare, with {"$set": [...]} in `want` matching an array in any order. */
function same(got, want) {
  if (want !== null && typeof want === "object" && !Array.isArray(want) && Object.keys(want).length === 1 && "$set" in want) {
    const key = (x) => JSON.stringify(x);
    assert.deepEqual(got.map(key).sort(), want.$set.map(key).sort());
    return;
  }
  if (Array.isArray(want)) {
    assert.equal(got.length, want.length);
    want.forEach((w, i) => same(got[i], w));
  } else if (want !== null && typeof want === "object") {
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
    for (const k of Object.keys(want)) same(got[k], want[k]);
  } else {
    assert.equal(got, want);
  }
}

describe("frames.json", () => {
  for (const v of FRAMES.valid) {
    test(v.name, () => {
      const frames = unhex(v.frames);
      const m = v.message;
      const msg = wire.decode(frames);
      assert.equal(wire.KIND_NAMES[msg.kind], m.kind);
      assert.equal(msg.flags, flagsOf(m.flags));
      assert.equal(msg.serializer, m.serializer);
      assert.equal(msg.callId, m.call_id);
      assert.equal(msg.objectId, m.object);
      assert.equal(msg.method, m.method);
      assert.equal(Buffer.from(msg.payload).toString("hex"), m.payload);
      assert.deepEqual(msg.buffers.map((b) => Buffer.from(b).toString("hex")), m.buffers);
      const again = wire.encode(KINDS[m.kind], flagsOf(m.flags), m.serializer, m.call_id, m.object, m.method, Buffer.from(m.payload, "hex"), unhex(m.buffers));
      assert.deepEqual(again.map((f) => Buffer.from(f).toString("hex")), v.frames);
    });
  }
  for (const v of FRAMES.invalid) {
    test(`invalid: ${v.name}`, () => {
      const frames = unhex(v.frames);
      assert.throws(() => wire.decode(frames), (err) => err instanceof ProtocolError && err.message.toLowerCase().includes(v.match.toLowerCase()));
      assert.equal(wire.peekCallId(frames), v.call_id);
    });
  }
});

describe("values.json", () => {
  for (const v of VALUES.valid) {
    test(v.name, () => {
      const ser = SERIALIZERS[v.serializer];
      const payload = Buffer.from(v.payload, "hex");
      same(tagged(ser.loads(payload, unhex(v.buffers))), v.value);
      if (v.encode) {
        const out = ser.dumps(native(v.value), v.threshold);
        assert.equal(out.payload.toString("hex"), v.payload);
        assert.deepEqual(out.buffers.map((b) => Buffer.from(b).toString("hex")), v.buffers);
      }
    });
  }
  for (const v of VALUES.invalid) {
    test(`invalid: ${v.name}`, () => {
      const ser = SERIALIZERS[v.serializer];
      assert.throws(() => ser.loads(Buffer.from(v.payload, "hex"), unhex(v.buffers)), (err) => err instanceof SerializeError && err.message.toLowerCase().includes(v.match.toLowerCase()));
    });
  }
});

/** What a message means, read with the JavaScript package's own pieces. */
function meaningOf(frames) {
  const msg = wire.decode(frames);
  const ser = msg.payload.length ? BY_ID[msg.serializer] : null;
  const out = { kind: wire.KIND_NAMES[msg.kind], flags: flagNames(msg.kind, msg.flags), serializer: ser ? ser.name : null, call_id: msg.callId, object: msg.objectId, method: msg.method };
  if (msg.kind === wire.CALL) {
    const [args, kwargs, annotations] = unpackCall(ser.loads(msg.payload, msg.buffers), msg.flags);
    if (msg.flags & wire.FLAG_BATCH) {
      const calls = readCalls(args[0]);
      out.batch = { count: calls.length, methods: calls.map((c) => c[0]), args: calls.map((c) => c[1]), kwargs: calls.map((c) => c[2]) };
    } else {
      Object.assign(out, { args, kwargs });
      if (msg.flags & wire.FLAG_ANNOTATED) out.annotations = annotations;
    }
  } else if (msg.kind === wire.RESULT) {
    let value = ser.loads(msg.payload, msg.buffers);
    if (msg.flags & wire.FLAG_ANNOTATED) [value, out.annotations] = value;
    if (msg.flags & wire.FLAG_META) [value, out.metadata] = value;
    if (msg.flags & wire.FLAG_STREAM) {
      const [id, items, finished, error] = value;
      out.stream = { id, items, finished, error };
    } else if (msg.flags & wire.FLAG_BATCH) out.batch_result = { values: value[0], error: value[1] };
    else out.value = value;
  } else if (msg.kind === wire.ERROR) {
    out.error = ser.loads(msg.payload);
    assert.equal(payloadToError(out.error).remoteType, out.error.type, "a well-formed error map");
  }
  return tagged(out);
}

describe("messages.json", () => {
  for (const v of MESSAGES.valid) {
    test(v.name, () => same(meaningOf(unhex(v.frames)), v.meaning));
  }
});

describe("messages.json: calls a daemon refuses", () => {
  class Calc {
    echo(x) {
      return x;
    }
  }
  for (const v of MESSAGES.invalid_calls) {
    test(v.name, async () => {
      const daemon = new Daemon({ host: "127.0.0.1" });
      daemon.location = "127.0.0.1:1"; // no socket: only its dispatch is used
      daemon.daemonIds = ["Pyro.Daemon"];
      daemon.register(new Calc(), "calc");
      const msg = wire.decode(unhex(v.frames));
      const reply = wire.decode(await daemon._call(Buffer.from("peer"), msg));
      assert.equal(reply.kind, wire.ERROR);
      assert.equal(reply.callId, msg.callId);
      const body = BY_ID[reply.serializer].loads(reply.payload);
      assert.equal(body.type, `zpyro.errors.${v.error}`);
      assert.ok(body.message.toLowerCase().includes(v.match.toLowerCase()), body.message);
    });
  }
});
