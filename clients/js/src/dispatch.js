// One call in, one reply out, for the JavaScript daemon: check the call, find the object and
// member, run it, turn the outcome into RESULT or ERROR frames. No sockets here.

import { DaemonError, ProtocolError, RemoteError, SerializeError, errorToPayload } from "./errors.js";
import { BY_ID, json, NAMES } from "./serializers.js";
import * as wire from "./wire.js";

export const GETATTR = "__getattr__";
export const SETATTR = "__setattr__";
export const MAX_BATCH_CALLS = 1_000_000;

/** An error a Python caller sees as the builtin of that name. */
export function builtinError(name, message) {
  return new RemoteError(message, `builtins.${name}`);
}

/** What a registered object offers: public methods and accessor properties. */
export function membersOf(obj, { oneway = [], idempotent = [], methods = null } = {}) {
  const found = { methods: new Set(), attrs: new Set(), writable: new Set() };
  for (let o = obj; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name.startsWith("_") || name === "constructor" || found.methods.has(name) || found.attrs.has(name)) continue;
      const d = Object.getOwnPropertyDescriptor(o, name);
      if (d.get) {
        found.attrs.add(name);
        if (d.set) found.writable.add(name);
      } else if (typeof d.value === "function") {
        found.methods.add(name);
      }
    }
  }
  if (methods !== null) {
    for (const name of methods) if (!found.methods.has(name)) throw new DaemonError(`${name} is no method of the object`);
    found.methods = new Set(methods);
  }
  for (const name of [...oneway, ...idempotent]) {
    if (!found.methods.has(name)) throw new DaemonError(`${name} is no exposed method of the object`);
  }
  found.oneway = new Set(oneway);
  found.idempotent = new Set(idempotent);
  return found;
}

/** The metadata a proxy gets for an object. */
export function metadataOf(members, maxMessageSize, serializers) {
  const meta = {
    methods: [...members.methods].sort(),
    oneway: [...members.oneway].sort(),
    attrs: [...members.attrs].sort(),
    max_message_size: maxMessageSize,
    serializers: [...serializers],
  };
  if (members.idempotent.size) meta.idempotent = [...members.idempotent].sort();
  return meta;
}

/** [args, kwargs, annotations] of a CALL body; ProtocolError when it has another shape. */
export function unpackCall(body, flags) {
  const annotated = flags & wire.FLAG_ANNOTATED;
  if (!Array.isArray(body) || body.length !== (annotated ? 3 : 2)) {
    throw new ProtocolError("call payload is not [args, kwargs(, annotations)]");
  }
  const [args, kwargs, annotations = {}] = body;
  if (!Array.isArray(args) || !isMap(kwargs)) throw new ProtocolError("call payload is not [args, kwargs]");
  if (!isMap(annotations)) throw new ProtocolError("call annotations must be a dict");
  return [args, kwargs, annotations];
}

function isMap(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** Check a batch [count, methods, arity, arguments, keywords]: a list of [method, args, kwargs]. */
export function readCalls(body) {
  if (!Array.isArray(body) || body.length !== 5) throw new ProtocolError("a batch is [count, methods, arity, arguments, keywords]");
  const [count, methods, arity, args, keywords] = body;
  if (!Number.isInteger(count) || count < 0) throw new ProtocolError("batch call count is not a count");
  if (count > MAX_BATCH_CALLS) throw new ProtocolError(`a batch holds at most ${MAX_BATCH_CALLS} calls, not ${count}`);
  const column = (v) => Array.isArray(v) && v.length === count;
  if (typeof methods !== "string" && !column(methods)) throw new ProtocolError("batch methods are neither one name nor one name per call");
  let wanted;
  if (Number.isInteger(arity)) {
    if (arity < 0) throw new ProtocolError("batch arity is neither one count nor one count per call");
    wanted = arity * count;
  } else if (column(arity) && arity.every((a) => Number.isInteger(a) && a >= 0)) {
    wanted = arity.reduce((a, b) => a + b, 0);
  } else {
    throw new ProtocolError("batch arity is neither one count nor one count per call");
  }
  if (!Array.isArray(args) || args.length !== wanted) throw new ProtocolError(`batch arguments: ${wanted} expected`);
  if (!Array.isArray(keywords)) throw new ProtocolError("batch keywords are not a list");
  const named = new Map();
  for (const entry of keywords) {
    if (!Array.isArray(entry) || entry.length !== 2 || !Number.isInteger(entry[0]) || entry[0] < 0 || entry[0] >= count || !isMap(entry[1])) {
      throw new ProtocolError("batch keywords are not [index, {name: value}] pairs");
    }
    named.set(entry[0], entry[1]);
  }
  const calls = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const width = Number.isInteger(arity) ? arity : arity[i];
    calls.push([typeof methods === "string" ? methods : methods[i], args.slice(start, start + width), named.get(i) ?? {}]);
    start += width;
  }
  return calls;
}

/** ERROR frames for an error, in the caller's serializer when it is accepted, else json. */
export function errorReply(callId, err, serializer = json) {
  const body = errorToPayload(err);
  try {
    return wire.encode(wire.ERROR, 0, serializer.id, callId, "", "", serializer.dumps(body).payload);
  } catch {
    return wire.encode(wire.ERROR, 0, json.id, callId, "", "", json.dumps(body).payload);
  }
}

/** RESULT frames; a value that cannot be serialized becomes an ERROR. */
export function resultReply(msg, value, flags, serializer, oobThreshold) {
  try {
    const { payload, buffers } = serializer.dumps(value, oobThreshold);
    return wire.encode(wire.RESULT, flags, serializer.id, msg.callId, "", "", payload, buffers);
  } catch (err) {
    return errorReply(msg.callId, err, serializer);
  }
}

/** The SerializeError a call in a refused serializer gets (always sent in json). */
export function refusedSerializer(msg, accepted) {
  const name = NAMES[msg.serializer] ?? `id ${msg.serializer}`;
  return new SerializeError(`serializer ${name} is not accepted by this daemon (accepted: ${[...accepted].sort().join(", ")})`);
}

export function serializerFor(msg, accepted) {
  const s = BY_ID[msg.serializer];
  return s !== undefined && accepted.includes(s.name) ? s : null;
}

/** Whether a value travels as a stream: an iterator or async iterator (not a collection). */
export function isStream(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array) return false;
  if (value instanceof Map || value instanceof Set) return false;
  return typeof value.next === "function" && (Symbol.asyncIterator in value || Symbol.iterator in value);
}
