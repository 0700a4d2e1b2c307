// Proxy: call methods of a remote zpyro object. `await Proxy.connect(uri)` gives a JavaScript
// Proxy object whose properties are the remote object's methods (from its metadata), plus
// call(), getAttr(), setAttr(), batch(), close() and a few settings. Calls are pipelined on one
// connection; replies are matched by call id.

import { config } from "./config.js";
import { Connection } from "./connection.js";
import { clientCurveOptions, loadPublicKey } from "./curve.js";
import { CommunicationError, MessageTooLargeError, ProtocolError, SerializeError, ZPyroError, payloadToError } from "./errors.js";
import { BY_ID, getSerializer, json as JSON_SERIALIZER, SERIALIZERS } from "./serializers.js";
import { URI } from "./uri.js";
import { registerClassToMap, registerMapToClass } from "./values.js";
import * as wire from "./wire.js";

export const DAEMON_OBJECT_ID = "Pyro.Daemon";
const NativeProxy = globalThis.Proxy;
const OWN = new Set([
  "call", "getAttr", "setAttr", "batch", "bind", "close", "metadata", "uri", "target",
  "timeout", "serializer", "connected", "toString", "toJSON", "constructor", "then",
]);
let resolveName = null; // naming.js plugs in resolve() for PYRONAME:/PYROMETA: (no import cycle)

/** @internal */
export function setResolver(fn) {
  resolveName = fn;
}

class RemoteObject {
  constructor(uri, options = {}) {
    this.uri = uri instanceof URI ? uri : new URI(String(uri));
    this.target = this.uri;
    this.timeout = options.timeout ?? config.COMMTIMEOUT; // seconds; 0 = none
    this.connectTimeout = options.connectTimeout ?? config.CONNECT_TIMEOUT;
    this.serializerSet = options.serializer !== undefined; // explicit: binding, never switched
    this.serializerName = options.serializer ?? config.SERIALIZER;
    getSerializer(this.serializerName);
    this.curveServerKey = options.curveServerKey ?? config.CURVE_SERVER_PUBLIC_KEY;
    this.curveSecretKey = options.curveSecretKey ?? config.CURVE_SECRET_KEY;
    this.oobThreshold = options.oobThreshold ?? config.OOB_THRESHOLD;
    this.meta = null; // {methods, oneway, attrs} as Sets, maxMessageSize, serializers
    this.conn = null;
    this.connecting = null;
    this.stubs = new Map();
    this.proxy = null;
  }

  // -- connection ---------------------------------------------------------------------------------

  async connection() {
    if (this.conn !== null && !this.conn.closed) return this.conn;
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  async open() {
    let target = this.uri;
    if (target.protocol !== "PYRO") {
      if (resolveName === null) throw new ZPyroError("import zpyro's index to resolve names");
      target = await resolveName(target, { curveServerKey: this.curveServerKey, curveSecretKey: this.curveSecretKey });
    }
    this.target = target;
    const curve = this.curveServerKey ? clientCurveOptions(loadPublicKey(this.curveServerKey), this.curveSecretKey) : null;
    const conn = new Connection(target.endpoint, { connectTimeout: this.connectTimeout, curve });
    try {
      await this.fetchMetadata(conn);
    } catch (err) {
      conn.close();
      throw err;
    }
    this.conn = conn;
    return conn;
  }

  async fetchMetadata(conn) {
    let meta;
    try {
      meta = await this.daemonCall(conn, "get_metadata", [this.target.object], this.serializerName);
    } catch (err) {
      // a daemon that refuses our serializer still answers in json, and reads json
      if (!(err instanceof SerializeError) || this.serializerName === "json") throw err;
      meta = await this.daemonCall(conn, "get_metadata", [this.target.object], "json");
    }
    this.applyMetadata(meta);
  }

  applyMetadata(meta) {
    if (meta === null || typeof meta !== "object" || Array.isArray(meta)) throw new ProtocolError("daemon sent malformed metadata");
    const list = (v) => new Set(Array.isArray(v) ? v.filter((x) => typeof x === "string") : []);
    this.meta = {
      methods: list(meta.methods),
      oneway: list(meta.oneway),
      attrs: list(meta.attrs),
      maxMessageSize: Number.isFinite(meta.max_message_size) ? meta.max_message_size : config.MAX_MESSAGE_SIZE,
      serializers: Array.isArray(meta.serializers) ? meta.serializers.filter((x) => typeof x === "string") : null,
    };
    for (const name of this.stubs.keys()) if (!this.meta.methods.has(name)) this.stubs.delete(name);
    const accepted = this.meta.serializers;
    if (accepted && !accepted.includes(this.serializerName) && !this.serializerSet) {
      // the default serializer is a preference: take the first the daemon lists that we have
      const shared = accepted.find((name) => name in SERIALIZERS);
      if (shared) this.serializerName = shared;
    }
  }

  serializer() {
    const accepted = this.meta?.serializers;
    if (accepted && !accepted.includes(this.serializerName)) {
      throw new SerializeError(`${this.target} does not accept serializer ${this.serializerName} (it accepts ${accepted.join(", ")})`);
    }
    return getSerializer(this.serializerName);
  }

  // -- calling ------------------------------------------------------------------------------------

  /** Call `method` with args and kwargs; options: {timeout, signal, oneway}. */
  call(method, args = [], kwargs = {}, options = {}) {
    const conn = this.conn;
    if (conn !== null && !conn.closed) return this.callOn(conn, method, args, kwargs, options); // connected: no extra await
    return this.connection().then((c) => this.callOn(c, method, args, kwargs, options));
  }

  async callOn(conn, method, args, kwargs, options) {
    const oneway = options.oneway ?? this.meta.oneway.has(method);
    return this.send(conn, this.target.object, method, [args, kwargs], this.serializer(), oneway ? wire.FLAG_ONEWAY : 0, options);
  }

  async send(conn, objectId, method, body, serializer, flags, options = {}) {
    const { payload, buffers } = serializer.dumps(body, this.oobThreshold);
    const callId = conn.nextCallId();
    const frames = wire.encode(wire.CALL, flags, serializer.id, callId, objectId, method, payload, buffers);
    const limit = this.meta?.maxMessageSize ?? config.MAX_MESSAGE_SIZE;
    if (buffers.length || payload.length > limit / 2) {
      const size = wire.messageSize(frames);
      if (size > limit) throw new MessageTooLargeError(`call of ${size} bytes exceeds the daemon's limit of ${limit}`);
    }
    if (flags & wire.FLAG_ONEWAY) {
      await conn.send(frames);
      return undefined;
    }
    const reply = await conn.call(frames, callId, { timeout: options.timeout ?? this.timeout, signal: options.signal ?? null });
    return this.decode(reply, serializer);
  }

  async daemonCall(conn, method, args, serializerName = this.serializerName, { oneway = false, objectId = DAEMON_OBJECT_ID } = {}) {
    const timeout = Math.min(this.connectTimeout || Infinity, this.timeout || Infinity);
    const options = { timeout: method === "get_metadata" && Number.isFinite(timeout) ? timeout : this.timeout };
    return this.send(conn, objectId, method, [args, {}], getSerializer(serializerName), oneway ? wire.FLAG_ONEWAY : 0, options);
  }

  decode(reply, serializer) {
    const serId = reply.serializer;
    if (serId !== serializer.id && serId !== JSON_SERIALIZER.id) {
      throw new ProtocolError(`reply uses serializer id ${serId}, which was not asked for`);
    }
    const decoder = BY_ID[serId];
    if (reply.kind === wire.ERROR) throw payloadToError(decoder.loads(reply.payload));
    if (reply.kind !== wire.RESULT) throw new ProtocolError(`unexpected reply kind ${reply.kind}`);
    let value = decoder.loads(reply.payload, reply.buffers);
    const flags = reply.flags;
    if (flags & wire.FLAG_ANNOTATED) {
      [value, this.lastResponseAnnotations] = pair(value, "annotations");
    }
    if (flags & wire.FLAG_META) {
      let meta;
      [value, meta] = pair(value, "metadata");
      this.applyMetadata(meta);
    }
    if (flags & wire.FLAG_STREAM) {
      if (!Array.isArray(value) || value.length !== 4) throw new ProtocolError("stream reply is not [id, items, finished, error]");
      const [streamId, items, finished, error] = value;
      return new RemoteIterator(this, streamId, items, finished, error);
    }
    return value;
  }

  async getAttr(name) {
    return this.call("__getattr__", [name], {}, { oneway: false });
  }

  async setAttr(name, value) {
    await this.call("__setattr__", [name, value], {}, { oneway: false });
  }

  async close() {
    const conn = this.conn;
    this.conn = null;
    if (conn !== null && !conn.closed) {
      try {
        await this.daemonCall(conn, "release_session", [], this.serializerName, { oneway: true });
      } catch {
        // gone already: nothing to release
      }
      conn.close("proxy closed", { flush: true });
    }
  }

  // -- the JavaScript Proxy face ------------------------------------------------------------------

  face() {
    if (this.proxy !== null) return this.proxy;
    const remote = this;
    const own = {
      call: (method, args, kwargs, options) => remote.call(method, args, kwargs, options),
      getAttr: (name) => remote.getAttr(name),
      setAttr: (name, value) => remote.setAttr(name, value),
      batch: () => new BatchProxy(remote).face(),
      bind: async () => {
        await remote.connection();
        return remote.proxy;
      },
      close: () => remote.close(),
      toString: () => `<zpyro.Proxy for ${remote.uri}>`,
      toJSON: () => ({ __class__: "zpyro.Proxy", uri: String(remote.uri) }),
    };
    const handler = {
      get(target, prop) {
        if (typeof prop === "symbol") return prop === REMOTE ? remote : undefined;
        if (prop in own) return own[prop];
        switch (prop) {
          case "then": // not a thenable: `await proxy` gives the proxy
          case "constructor":
            return undefined;
          case "metadata":
            return remote.meta && { methods: [...remote.meta.methods], oneway: [...remote.meta.oneway], attrs: [...remote.meta.attrs], maxMessageSize: remote.meta.maxMessageSize, serializers: remote.meta.serializers };
          case "uri":
            return remote.uri;
          case "target":
            return remote.target;
          case "timeout":
            return remote.timeout;
          case "serializer":
            return remote.serializerName;
          case "connected":
            return remote.conn !== null && !remote.conn.closed;
          default:
            return remote.member(prop);
        }
      },
      set(target, prop, value) {
        if (prop === "timeout") remote.timeout = Number(value) || 0;
        else if (prop === "serializer") {
          getSerializer(value);
          remote.serializerName = value;
          remote.serializerSet = true;
        } else {
          throw new TypeError(`cannot set '${String(prop)}' on a zpyro proxy (remote properties: await proxy.setAttr(name, value))`);
        }
        return true;
      },
      has(target, prop) {
        return prop in own || (typeof prop === "string" && remote.meta !== null && (remote.meta.methods.has(prop) || remote.meta.attrs.has(prop)));
      },
    };
    this.proxy = new NativeProxy(Object.create(ZPyroProxyPrototype), handler);
    return this.proxy;
  }

  member(name) {
    const meta = this.meta;
    if (meta === null) return callableThenable(this, name); // not connected yet: either kind
    if (meta.attrs.has(name)) return withIterator(this.getAttr(name));
    if (!meta.methods.has(name)) return undefined;
    let stub = this.stubs.get(name);
    if (stub === undefined) {
      stub = methodStub(this, name);
      this.stubs.set(name, stub);
    }
    return stub;
  }
}

const REMOTE = Symbol("zpyro.remote");
const ZPyroProxyPrototype = {};

function methodStub(remote, name, options = {}) {
  const stub = (...args) => withIterator(remote.call(name, args, {}, options));
  stub.withOptions = (more) => methodStub(remote, name, { ...options, ...more });
  return stub;
}

function callableThenable(remote, name) {
  // before the metadata is known, a name may be a method (call it) or a property (await it)
  const fn = (...args) => withIterator(remote.call(name, args, {}));
  fn.then = (resolve, reject) => remote.connection().then(() => {
    if (remote.meta.attrs.has(name)) return remote.getAttr(name);
    throw new ZPyroError(`remote object '${remote.uri}' has no exposed property '${name}'`);
  }).then(resolve, reject);
  return fn;
}

/** A call's promise that `for await` can also iterate (a stream, or an array result). */
function withIterator(promise) {
  promise[Symbol.asyncIterator] = async function* () {
    const value = await promise;
    if (value !== null && typeof value === "object" && (Symbol.asyncIterator in value || Symbol.iterator in value)) {
      yield* value;
    } else {
      throw new TypeError("the call's result is not iterable");
    }
  };
  return promise;
}

function pair(value, what) {
  if (!Array.isArray(value) || value.length !== 2) throw new ProtocolError(`reply with ${what} is not [value, ${what}]`);
  return value;
}

/** The caller's side of a remote generator: fetches chunks as it runs dry; `break` closes it. */
export class RemoteIterator {
  constructor(remote, streamId, items, finished, error) {
    this.remote = remote;
    this.streamId = String(streamId);
    this.items = Array.isArray(items) ? items : [];
    this.index = 0;
    this.finished = Boolean(finished);
    this.error = error ?? null;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  get objectId() {
    const slash = this.streamId.lastIndexOf("/");
    return slash < 0 ? DAEMON_OBJECT_ID : `${DAEMON_OBJECT_ID}:${this.streamId.slice(0, slash)}`;
  }

  async next() {
    while (this.index >= this.items.length) {
      if (this.error !== null) {
        const err = this.error;
        this.error = null;
        this.finished = true;
        throw payloadToError(err);
      }
      if (this.finished) return { value: undefined, done: true };
      const conn = this.remote.conn;
      if (conn === null || conn.closed) throw new CommunicationError("the stream's connection is gone");
      const chunk = await this.remote.daemonCall(conn, "stream_next", [this.streamId], this.remote.serializerName, { objectId: this.objectId });
      if (!Array.isArray(chunk) || chunk.length !== 3) throw new ProtocolError("stream chunk is not [items, finished, error]");
      [this.items, this.finished, this.error] = [chunk[0], Boolean(chunk[1]), chunk[2] ?? null];
      this.index = 0;
    }
    return { value: this.items[this.index++], done: false };
  }

  /** Stop early (`break` in `for await` calls this): the daemon drops its generator. */
  async return() {
    if (!this.finished) {
      this.finished = true;
      this.items = [];
      const conn = this.remote.conn;
      if (conn !== null && !conn.closed) {
        await this.remote.daemonCall(conn, "stream_close", [this.streamId], this.remote.serializerName, { oneway: true, objectId: this.objectId }).catch(() => {});
      }
    }
    return { value: undefined, done: true };
  }
}

/** Many calls on one object as one message each way (docs/PROTOCOL.md, "Batches"). */
class BatchProxy {
  constructor(remote) {
    this.remote = remote;
    this.calls = [];
  }

  add(method, args = [], kwargs = {}) {
    this.calls.push([method, args, kwargs]);
  }

  body() {
    const count = this.calls.length;
    const names = this.calls.map((c) => c[0]);
    const arities = this.calls.map((c) => c[1].length);
    const keywords = [];
    this.calls.forEach((c, i) => {
      if (Object.keys(c[2]).length) keywords.push([i, c[2]]);
    });
    const one = (list) => count > 0 && list.every((x) => x === list[0]);
    return [count, one(names) ? names[0] : names, one(arities) ? arities[0] : arities, this.calls.flatMap((c) => c[1]), keywords];
  }

  /** Run the queued calls: their results in order. A failed call rejects (err.batchResults:
   * the results of the calls before it; the calls after it did not run); {oneway: true} waits
   * for nothing. */
  async run({ oneway = false, timeout, signal } = {}) {
    const body = this.body();
    this.calls = [];
    const remote = this.remote;
    const conn = await remote.connection();
    const flags = wire.FLAG_BATCH | (oneway ? wire.FLAG_ONEWAY : 0);
    const reply = await remote.send(conn, remote.target.object, "", [[body], {}], remote.serializer(), flags, { timeout, signal });
    if (oneway) return undefined;
    if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[0])) throw new ProtocolError("batch reply is not [values, error]");
    const [values, error] = reply;
    if (error !== null && error !== undefined) {
      const err = payloadToError(error);
      err.batchResults = values;
      throw err;
    }
    return values;
  }

  face() {
    // callable: `await batch()` runs it (as Python's `b()`); any other name queues a call
    const batch = this;
    return new NativeProxy(function zpyroBatch() {}, {
      apply(target, self, [options]) {
        return batch.run(options);
      },
      get(target, prop) {
        if (typeof prop === "symbol" || prop === "then") return undefined;
        if (prop === "call") return (method, args, kwargs) => batch.add(method, args, kwargs);
        if (prop === "length") return batch.calls.length;
        return (...args) => batch.add(prop, args, {});
      },
    });
  }
}

/**
 * A proxy for the remote object at `uri`: `new Proxy(uri)` connects on first use,
 * `await Proxy.connect(uri)` connects and fetches the metadata now.
 */
export class Proxy {
  constructor(uri, options = {}) {
    return new RemoteObject(uri, options).face();
  }

  static async connect(uri, options = {}) {
    const face = new Proxy(uri, options);
    await face.bind();
    return face;
  }

  static [Symbol.hasInstance](value) {
    return value !== null && typeof value === "object" && Object.getPrototypeOf(value) === ZPyroProxyPrototype;
  }
}

/** The RemoteObject behind a proxy (tests and the daemon use it). @internal */
export function remoteOf(proxy) {
  return proxy?.[REMOTE];
}

// proxies travel as {"__class__": "zpyro.Proxy", "uri": ...} and arrive as (unconnected) proxies
registerMapToClass("zpyro.Proxy", (map) => new Proxy(String(map.uri)));
registerClassToMap(RemoteObject, (remote) => ({ __class__: "zpyro.Proxy", uri: String(remote.uri) }));
