// Daemon: serves JavaScript objects to zpyro proxies (Python or JavaScript), directly on a ROUTER
// or attached to a broker as a pooled daemon (docs/BROKER.md: READY, PING/PONG, DONE, BYE).
// It accepts msgpack and json (there is no serpent for JavaScript); its metadata says so, and
// zpyro's proxies switch to one of them (docs/PROTOCOL.md, "Agreeing on a serializer").

import { randomBytes, randomUUID } from "node:crypto";
import { Dealer, Router } from "zeromq";
import { config, heartbeatOptions } from "./config.js";
import { loadKeyPair } from "./curve.js";
import { DaemonError, MessageTooLargeError, ProtocolError, errorToPayload } from "./errors.js";
import {
  GETATTR, SETATTR, builtinError, errorReply, isStream, membersOf, metadataOf, readCalls,
  refusedSerializer, resultReply, serializerFor, unpackCall,
} from "./dispatch.js";
import { json } from "./serializers.js";
import { URI, endpointToLocation } from "./uri.js";
import * as wire from "./wire.js";

export const DAEMON_OBJECT_ID = "Pyro.Daemon";
const CHUNK_ITEMS = 200;
const BYE_LINGER_MS = 200;

/** One socket's sends, one at a time (zeromq.js allows no more), in order. */
class SendQueue {
  constructor(socket, onError) {
    this.socket = socket;
    this.onError = onError;
    this.queue = [];
    this.sending = false;
    this.idle = null;
  }

  push(frames) {
    this.queue.push(frames);
    if (!this.sending) this.drain();
  }

  async drain() {
    this.sending = true;
    while (this.queue.length) {
      const frames = this.queue.shift();
      try {
        await this.socket.send(frames);
      } catch (err) {
        this.onError(err, frames);
      }
    }
    this.sending = false;
    this.idle?.();
  }

  flushed() {
    return this.sending ? new Promise((resolve) => (this.idle = resolve)) : Promise.resolve();
  }
}

/** Remote iterators handed out by this daemon, fetched in chunks by their one caller. */
class Streams {
  constructor(prefix = "") {
    this.prefix = prefix;
    this.streams = new Map(); // id -> {iterator, client, lastUsed}
  }

  async open(iterable, client) {
    const id = this.prefix + randomUUID().replaceAll("-", "");
    const iterator = Symbol.asyncIterator in iterable ? iterable[Symbol.asyncIterator]() : iterable[Symbol.iterator]();
    const stream = { iterator, client, lastUsed: Date.now() };
    const [items, finished, error] = await this.take(stream);
    if (!finished) this.streams.set(id, stream);
    return [id, items, finished, error];
  }

  async next(id, client) {
    const stream = this.streams.get(id);
    if (stream === undefined || !stream.client.equals(client)) throw new DaemonError(`stream '${id}' is unknown, closed or expired`);
    stream.lastUsed = Date.now();
    const chunk = await this.take(stream);
    if (chunk[1]) this.streams.delete(id);
    return chunk;
  }

  close(id) {
    const stream = this.streams.get(id);
    this.streams.delete(id);
    stream?.iterator.return?.()?.catch?.(() => {});
  }

  dropClient(client) {
    for (const [id, s] of this.streams) if (s.client.equals(client)) this.close(id);
  }

  sweep(lingerSeconds) {
    const cutoff = Date.now() - lingerSeconds * 1000;
    for (const [id, s] of this.streams) if (s.lastUsed < cutoff) this.close(id);
  }

  async take(stream) {
    const items = [];
    try {
      while (items.length < CHUNK_ITEMS) {
        const { value, done } = await stream.iterator.next();
        if (done) return [items, true, null];
        items.push(value);
      }
    } catch (err) {
      return [items, true, errorToPayload(err)]; // reaches the caller after the items before it
    }
    return [items, false, null];
  }
}

export class Daemon {
  /**
   * @param {object} options host/port (tcp), unixsocket (ipc), or broker ("tcp://host:port" or
   *   true: ZPYRO_NS_HOST:ZPYRO_NS_PORT); capacity (calls a broker may give at once);
   *   serializers (accepted, preferred first); maxMessageSize; curveSecretKey (a .key_secret file).
   */
  constructor(options = {}) {
    const known = ["host", "port", "unixsocket", "broker", "capacity", "serializers", "maxMessageSize", "curveSecretKey", "curveServerKey", "oobThreshold"];
    for (const key of Object.keys(options)) {
      if (!known.includes(key)) throw new DaemonError(`unsupported Daemon option '${key}' (supported: ${known.join(", ")})`);
    }
    this.options = options;
    this.serializers = options.serializers ?? ["msgpack", "json"];
    for (const name of this.serializers) {
      if (name !== "msgpack" && name !== "json") throw new DaemonError(`the JavaScript daemon cannot accept serializer '${name}' (msgpack, json)`);
    }
    this.maxMessageSize = options.maxMessageSize ?? config.MAX_MESSAGE_SIZE;
    this.oobThreshold = options.oobThreshold ?? config.OOB_THRESHOLD;
    this.capacity = options.capacity ?? 32;
    this.objects = new Map(); // object id -> {obj, members, listed, tags}
    this.streams = new Streams();
    this.socket = null;
    this.location = null;
    this.brokered = Boolean(options.broker);
    this.closed = false;
    this.epoch = null;
    this.attached = false;
    this.inflight = 0;
    this._timers = [];
    this._attachedWaiters = [];
  }

  /** Bind (or connect to the broker) and start serving. */
  async start() {
    if (this.socket !== null) return this;
    const opts = this.options;
    if (this.brokered) {
      const endpoint = brokerEndpoint(opts.broker);
      this.identity = `D${randomBytes(16).toString("hex")}`;
      this.route = Buffer.from(this.identity).toString("hex");
      this.streams.prefix = `${this.route}/`;
      const curve = opts.curveServerKey || config.CURVE_SERVER_PUBLIC_KEY;
      const { clientCurveOptions, loadPublicKey } = await import("./curve.js");
      this.socket = new Dealer({
        linger: 0, routingId: this.identity, sendHighWaterMark: 0, receiveHighWaterMark: 0,
        ipv6: endpoint.startsWith("tcp://["), ...heartbeatOptions(),
        ...(curve ? clientCurveOptions(loadPublicKey(curve), opts.curveSecretKey || config.CURVE_SECRET_KEY) : {}),
      });
      this.socket.connect(endpoint);
      this.location = endpointToLocation(endpoint);
      this.daemonIds = [DAEMON_OBJECT_ID, `${DAEMON_OBJECT_ID}:${this.route}`];
    } else {
      const secret = opts.curveSecretKey || config.CURVE_SECRET_KEY;
      const keys = secret ? loadKeyPair(secret) : null;
      this.socket = new Router({
        linger: 0, mandatory: true, sendHighWaterMark: 0, receiveHighWaterMark: 0,
        maxMessageSize: this.maxMessageSize + 65536, ...heartbeatOptions(),
        ...(keys ? { curveServer: true, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey } : {}),
      });
      let endpoint;
      if (opts.unixsocket) endpoint = `ipc://${opts.unixsocket}`;
      else {
        let host = opts.host ?? config.HOST;
        if (host.includes(":")) {
          this.socket.ipv6 = true;
          host = `[${host}]`;
        }
        endpoint = `tcp://${host}:${opts.port || "*"}`;
      }
      try {
        await this.socket.bind(endpoint);
      } catch (err) {
        this.socket.close();
        throw new DaemonError(`cannot bind ${endpoint}: ${err.message}`);
      }
      const bound = this.socket.lastEndpoint;
      this.endpoint = opts.unixsocket ? bound : `${endpoint.slice(0, endpoint.lastIndexOf(":"))}:${bound.slice(bound.lastIndexOf(":") + 1)}`;
      this.location = endpointToLocation(this.endpoint);
      this.daemonIds = [DAEMON_OBJECT_ID];
    }
    this.sender = new SendQueue(this.socket, (err, frames) => {
      // ROUTER_MANDATORY: the caller went away; nobody is left to tell
      if (!this.closed) console.warn(`zpyro daemon: reply to ${frames[0].toString("hex")} dropped: ${err.message}`);
    });
    const sweep = setInterval(() => this.streams.sweep(config.ITER_STREAM_LINGER), 1000);
    sweep.unref();
    this._timers.push(sweep);
    if (this.brokered) {
      const beat = setInterval(() => this._control(wire.PING), Math.max(50, config.HEARTBEAT_INTERVAL * 1000));
      beat.unref();
      this._timers.push(beat);
      this._sendReady();
    }
    this._loop = this._receiveLoop();
    return this;
  }

  /** Serve `obj` as `objectId` (random if omitted); returns its URI. Options: oneway,
   * idempotent (method names), methods (the exposed ones; default all public), metadata (tags,
   * brokered only). A brokered daemon names objects registered with an id in the name server. */
  register(obj, objectId = null, options = {}) {
    if (this.closed) throw new DaemonError("daemon is closed");
    if (this.location === null) throw new DaemonError("start() the daemon before registering objects");
    const id = objectId ?? `obj_${randomUUID().replaceAll("-", "")}`;
    if (this.objects.has(id) || this.daemonIds.includes(id)) throw new DaemonError(`object id '${id}' is already registered`);
    const members = membersOf(obj, options);
    this.objects.set(id, { obj, members, listed: objectId !== null, tags: options.metadata ? [...options.metadata].sort() : null });
    if (this.brokered) this._sendReady();
    return this.uriFor(id);
  }

  unregister(objectId) {
    if (this.objects.delete(objectId) && this.brokered) this._sendReady();
  }

  uriFor(objectId) {
    return new URI(`PYRO:${objectId}@${this.location}`);
  }

  /** Brokered: resolves once the broker has taken this daemon's objects. */
  waitAttached() {
    if (!this.brokered) return Promise.reject(new DaemonError("this daemon is not brokered"));
    return this.attached ? Promise.resolve() : new Promise((resolve) => this._attachedWaiters.push(resolve));
  }

  async close() {
    if (this.closed || this.socket === null) return;
    this.closed = true;
    for (const t of this._timers) clearInterval(t);
    for (const id of [...this.streams.streams.keys()]) this.streams.close(id);
    if (this.brokered) {
      this._control(wire.BYE);
      this.socket.linger = BYE_LINGER_MS;
    }
    await this.sender.flushed();
    this.socket.close();
    await this._loop;
  }

  // -- serving ------------------------------------------------------------------------------------

  async _receiveLoop() {
    try {
      for await (const frames of this.socket) {
        const [client, ...body] = frames;
        if (this.brokered && client.length === 0) this._onControl(body);
        else this._serve(client, body); // not awaited: calls run concurrently
      }
    } catch (err) {
      if (!this.closed) console.error(`zpyro daemon: receive loop failed: ${err.message}`);
    }
  }

  _reply(client, frames) {
    if (frames !== null && !this.closed) this.sender.push([client, ...frames]);
  }

  async _serve(client, body) {
    if (wire.messageSize(body) > this.maxMessageSize) {
      const err = new MessageTooLargeError(`message of ${wire.messageSize(body)} bytes exceeds this daemon's MAX_MESSAGE_SIZE of ${this.maxMessageSize}`);
      this._reply(client, errorReply(wire.peekCallId(body), err));
      return;
    }
    let msg;
    try {
      msg = wire.decode(body);
    } catch (err) {
      this._reply(client, errorReply(wire.peekCallId(body), err));
      return;
    }
    if (msg.kind === wire.PING) {
      this._reply(client, wire.encode(wire.PONG, 0, 0, msg.callId));
      return;
    }
    if (msg.kind !== wire.CALL) {
      this._reply(client, errorReply(msg.callId, new ProtocolError(`unexpected message kind ${msg.kind} sent to a daemon`)));
      return;
    }
    this.inflight++;
    try {
      this._reply(client, await this._call(client, msg));
    } finally {
      this.inflight--;
    }
  }

  /** The reply frames of one CALL (null: none is due). */
  async _call(client, msg) {
    const oneway = Boolean(msg.flags & wire.FLAG_ONEWAY);
    const silent = oneway && !(msg.flags & wire.FLAG_META);
    const quiet = () => (this.brokered ? wire.encode(wire.DONE, 0, 0, msg.callId) : null);
    const serializer = serializerFor(msg, this.serializers);
    if (serializer === null) {
      const err = refusedSerializer(msg, this.serializers);
      // (a Python proxy's first handshake or get_metadata comes in serpent: that refusal is how
      // it learns what this daemon accepts, not worth a warning; a refused oneway call always is)
      const connecting = msg.flags & wire.FLAG_HANDSHAKE || msg.method === "get_metadata";
      if (!connecting || silent) console.warn(`zpyro daemon: refused call ${msg.objectId}.${msg.method}: ${err.message}`);
      return silent ? quiet() : errorReply(msg.callId, err, json);
    }
    if (msg.flags & wire.FLAG_HANDSHAKE) return this._handshake(msg, serializer, silent);
    let result;
    let entry;
    try {
      const [args, kwargs] = unpackCall(serializer.loads(msg.payload, msg.buffers), msg.flags);
      entry = this._find(msg.objectId);
      if (msg.flags & wire.FLAG_BATCH) {
        if (args.length !== 1) throw new ProtocolError("a batch carries one argument: the calls");
        result = await this._runBatch(entry, readCalls(args[0]));
      } else {
        const target = this._member(entry, msg.method, args);
        const callArgs = Object.keys(kwargs).length ? [...args, kwargs] : args; // keyword arguments: one last object
        result = await target(client, callArgs);
      }
    } catch (err) {
      return silent ? quiet() : errorReply(msg.callId, err, serializer);
    }
    if (silent) return quiet();
    let flags = msg.flags & wire.FLAG_BATCH;
    if (oneway) result = null;
    try {
      if (isStream(result)) {
        result = await this.streams.open(result, client);
        flags |= wire.FLAG_STREAM;
      }
      if (msg.flags & wire.FLAG_META) {
        result = [result, this._metadata(msg.objectId)];
        flags |= wire.FLAG_META;
      }
    } catch (err) {
      return errorReply(msg.callId, err, serializer);
    }
    return resultReply(msg, result, flags, serializer, this.oobThreshold);
  }

  /** A proxy's connection handshake (PROTOCOL.md "Handshake"): this daemon validates none, so
   * it answers Pyro's "hello" with the object's metadata. */
  _handshake(msg, serializer, silent) {
    if (silent) return null; // a broker passes handshakes on only to daemons that validate them
    try {
      const [args] = unpackCall(serializer.loads(msg.payload, msg.buffers), msg.flags);
      if (args.length !== 1) throw new ProtocolError("a handshake carries one argument: its data");
      return resultReply(msg, { handshake: "hello", meta: this._metadata(msg.objectId) }, 0, serializer, this.oobThreshold);
    } catch (err) {
      return errorReply(msg.callId, err, serializer);
    }
  }

  _find(objectId) {
    if (this.daemonIds.includes(objectId)) return { obj: null, daemon: true };
    const entry = this.objects.get(objectId);
    if (entry === undefined) throw new DaemonError(`unknown object '${objectId}'`);
    return entry;
  }

  /** (client, args) => result for a method or property of an entry. */
  _member(entry, method, args) {
    if (entry.daemon) return this._daemonMethod(method);
    const { obj, members } = entry;
    if (method === GETATTR || method === SETATTR) {
      const name = args[0];
      if (typeof name !== "string" || !members.attrs.has(name)) throw builtinError("AttributeError", `no exposed attribute '${name}' on ${obj.constructor?.name}`);
      if (method === SETATTR && !members.writable.has(name)) throw builtinError("AttributeError", `attribute '${name}' of ${obj.constructor?.name} is read-only`);
      return method === GETATTR ? () => obj[name] : (_client, a) => {
        obj[name] = a[1];
        return null;
      };
    }
    if (typeof method !== "string" || !members.methods.has(method)) {
      throw builtinError("AttributeError", `no exposed method '${method}' on ${obj.constructor?.name}`);
    }
    return (_client, a) => obj[method](...a);
  }

  async _runBatch(entry, calls) {
    const values = [];
    for (const [method, args, kwargs] of calls) {
      try {
        const target = this._member(entry, method, args);
        values.push(await target(null, Object.keys(kwargs).length ? [...args, kwargs] : args));
      } catch (err) {
        return [values, errorToPayload(err)];
      }
    }
    return [values, null];
  }

  _metadata(objectId) {
    if (this.daemonIds.includes(objectId)) {
      return metadataOf(membersOf(DAEMON_METHODS, { oneway: ["stream_close", "release_session"] }), this.maxMessageSize, this.serializers);
    }
    const entry = this.objects.get(objectId);
    if (entry === undefined) throw new DaemonError(`unknown object '${objectId}'`);
    return metadataOf(entry.members, this.maxMessageSize, this.serializers);
  }

  _daemonMethod(method) {
    const own = {
      ping: () => null,
      registered: () => [...this.daemonIds, ...this.objects.keys()],
      info: () => `${this.location} - ${this.objects.size} objects (zpyro for JavaScript)`,
      get_metadata: (_c, [objectId]) => this._metadata(objectId),
      stream_next: (client, [id]) => this.streams.next(String(id), client),
      stream_close: (_c, [id]) => this.streams.close(String(id)),
      release_session: (client) => this.streams.dropClient(client),
    };
    const fn = own[method];
    if (fn === undefined) throw builtinError("AttributeError", `no exposed method '${method}' on DaemonObject`);
    return (client, args) => fn(client, args);
  }

  // -- the broker link ----------------------------------------------------------------------------

  _control(kind, body = null) {
    if (this.closed && kind !== wire.BYE) return;
    const payload = body === null ? Buffer.alloc(0) : json.dumps(body).payload;
    this.sender.push([Buffer.alloc(0), ...wire.encode(kind, 0, body === null ? 0 : json.id, 0, "", "", payload)]);
  }

  _sendReady() {
    const objects = {};
    const tags = {};
    for (const [id, entry] of this.objects) {
      objects[id] = metadataOf(entry.members, this.maxMessageSize, this.serializers);
      if (entry.tags) tags[id] = entry.tags;
    }
    const listed = [...this.objects].filter(([, e]) => e.listed).map(([id]) => id).sort();
    this._control(wire.READY, { capacity: this.capacity, objects, listed, tags, pid: process.pid });
  }

  _onControl(body) {
    let msg;
    let info;
    try {
      msg = wire.decode(body);
      info = msg.payload.length ? JSON.parse(Buffer.from(msg.payload).toString("utf8")) : {};
    } catch (err) {
      console.warn(`zpyro daemon: bad control message from the broker: ${err.message}`);
      return;
    }
    if (msg.kind !== wire.PONG || info === null || typeof info !== "object") return;
    const known = info.known !== false;
    if (this.epoch === null && known) {
      this.epoch = info.epoch;
      this._setAttached();
    } else if (info.epoch !== this.epoch || !known) {
      this.epoch = info.epoch; // a restarted broker (or one that forgot us): say READY again
      this._sendReady();
    } else {
      this._setAttached();
    }
  }

  _setAttached() {
    this.attached = true;
    for (const resolve of this._attachedWaiters.splice(0)) resolve();
  }
}

// the daemon object's members, for its metadata
const DAEMON_METHODS = {
  ping() {}, registered() {}, info() {}, get_metadata() {}, stream_next() {}, stream_close() {}, release_session() {},
};

function brokerEndpoint(broker) {
  if (broker === true) {
    const host = config.NS_HOST.includes(":") ? `[${config.NS_HOST}]` : config.NS_HOST;
    return `tcp://${host}:${config.NS_PORT}`;
  }
  if (typeof broker !== "string" || !broker) throw new DaemonError(`broker must be true or 'tcp://host:port', not ${broker}`);
  if (broker.includes("://")) return broker;
  if (broker.toUpperCase().startsWith("PYRO")) return new URI(broker).endpoint;
  return `tcp://${broker}`;
}
