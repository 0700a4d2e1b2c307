// msgpack (id 3, the default) and json (id 2) behind one dumps/loads interface.
// dumps(value) -> {payload, buffers}; loads(payload, buffers) -> value. Failures: SerializeError.

import { Decoder, Encoder } from "@msgpack/msgpack";
import { SerializeError } from "./errors.js";
import { fromWire, needsWalk, OOB_THRESHOLD, toWire } from "./values.js";

const encoder = new Encoder({ useBigInt64: true, ignoreUndefined: false });
const decoder = new Decoder({ useBigInt64: true });
const EMPTY_BUFFERS = [];

function asBuffer(bytes) {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function wrap(name, what, fn) {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SerializeError) {
      err.message = `${name}: ${err.message}`;
      throw err;
    }
    throw new SerializeError(`${name} cannot ${what}: ${err?.message ?? err}`, { cause: err });
  }
}

export const msgpack = {
  name: "msgpack",
  id: 3,
  dumps(value, threshold = OOB_THRESHOLD) {
    return wrap("msgpack", "serialize", () => {
      const { value: wire, buffers } = toWire(value, { threshold });
      const bytes = encoder.encode(wire);
      return { payload: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), buffers };
    });
  },
  loads(payload, buffers = EMPTY_BUFFERS) {
    return wrap("msgpack", "deserialize", () => {
      payload = asBuffer(payload);
      const value = decoder.decode(payload);
      return buffers.length || needsWalk(payload, true) ? fromWire(value, buffers) : value;
    });
  },
};

export const json = {
  name: "json",
  id: 2,
  dumps(value, threshold = OOB_THRESHOLD) {
    return wrap("json", "serialize", () => {
      const { value: wire, buffers } = toWire(value, { json: true, threshold });
      return { payload: Buffer.from(JSON.stringify(wire), "utf8"), buffers };
    });
  },
  loads(payload, buffers = EMPTY_BUFFERS) {
    return wrap("json", "deserialize", () => {
      payload = asBuffer(payload);
      const text = new TextDecoder("utf-8", { fatal: true }).decode(payload);
      const value = JSON.parse(text);
      return buffers.length || needsWalk(payload, false) ? fromWire(value, buffers) : value;
    });
  },
};

export const SERIALIZERS = { msgpack, json };
export const BY_ID = { 2: json, 3: msgpack };
export const NAMES = { 1: "serpent", 2: "json", 3: "msgpack", 4: "marshal", 5: "pickle" };

/** The serializer with that name; others (serpent, marshal, pickle are Python only) throw. */
export function getSerializer(name) {
  const s = SERIALIZERS[name];
  if (!s) throw new SerializeError(`unknown serializer '${name}'; this client has msgpack and json`);
  return s;
}
