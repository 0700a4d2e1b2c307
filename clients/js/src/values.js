// Values on the wire (docs/PROTOCOL.md, "Values" and "Markers"): what a JavaScript value becomes
// before msgpack/json encode it, and what a decoded value becomes again. Pure code.
//
// Out: big binary values become out-of-band markers {"__zpyro_oob__": n} (the buffer travels as
// its own frame), a one-entry map whose key looks like a marker's gets one more leading "_"
// (escaped), URIs and proxies become their class maps, Sets arrays, Maps maps, Dates ISO text.
// In: markers are read, escaped maps lose their extra "_", class maps of registered classes are
// rebuilt, 64-bit integers that fit a JS number become numbers.

import { SerializeError } from "./errors.js";
import { URI } from "./uri.js";

export const OOB_THRESHOLD = 32 * 1024;
export const OOB_KEY = "__zpyro_oob__";
export const OOB_SET_KEY = "__zpyro_oobset__";
export const BYTES_KEY = "__zpyro_bytes__";

const classToMap = new Map(); // constructor -> (value) => map with "__class__"
const mapToClass = new Map(); // "__class__" name -> (map) => value

/** Send instances of `cls` as `convert(value)` (a map; "__class__" is added when missing). */
export function registerClassToMap(cls, convert) {
  classToMap.set(cls, convert);
}
/** On receipt, turn a map whose "__class__" is `name` into `convert(map)`. */
export function registerMapToClass(name, convert) {
  mapToClass.set(name, convert);
}
registerClassToMap(URI, (uri) => ({ __class__: "zpyro.URI", uri: String(uri) }));
registerMapToClass("zpyro.URI", (map) => new URI(map.uri));

/** A key a one-entry map may not carry as it is: a marker's, or an escaped one. */
export function reservedKey(key) {
  return typeof key === "string" && key.startsWith("__") && key.replace(/^_+/, "").startsWith("zpyro_");
}

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function bytesOf(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return null;
}

/**
 * `value` as it travels: {value, buffers}. `json` writes bytes as their marker and refuses
 * what JSON cannot carry exactly; `threshold` is the out-of-band size.
 */
export function toWire(value, { json = false, threshold = OOB_THRESHOLD } = {}) {
  const buffers = [];
  const seen = new Set();
  const out = walkOut(value, json, threshold, buffers, seen);
  return { value: out, buffers };
}

const U32 = 4294967296;
const I32 = -2147483648;

/** True for a primitive that travels as it is (no conversion, no check needed). */
function asIs(v, t, json) {
  if (t === "string" || t === "boolean") return true;
  if (t !== "number") return false;
  return json ? Number.isFinite(v) : v < U32 && v >= I32;
}

function walkOut(value, json, threshold, buffers, seen) {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (json && !Number.isFinite(value)) throw new SerializeError(`cannot carry ${value} (use msgpack)`);
      // msgpack: a 64-bit integer, as Python writes it (the encoder would write a float)
      if (!json && Number.isSafeInteger(value) && (value >= U32 || value < I32)) return BigInt(value);
      return value;
    case "bigint":
      if (json) {
        if (Number.isSafeInteger(Number(value))) return Number(value);
        throw new SerializeError(`cannot carry the integer ${value} exactly (use msgpack)`);
      }
      return value;
    case "undefined":
      return null;
    case "function":
    case "symbol":
      throw new SerializeError(`cannot serialize a ${typeof value}`);
    default:
      break;
  }
  if (value === null) return null;
  const bytes = bytesOf(value);
  if (bytes !== null) {
    if (bytes.byteLength >= threshold) {
      buffers.push(bytes);
      return { [OOB_KEY]: buffers.length - 1 };
    }
    if (json) return { [BYTES_KEY]: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") };
    return bytes;
  }
  if (seen.has(value)) throw new SerializeError("cannot serialize a value that contains itself");
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      let out = null;
      for (let i = 0; i < value.length; i++) {
        const v = value[i];
        if (asIs(v, typeof v, json)) continue;
        const w = walkOut(v, json, threshold, buffers, seen);
        if (w !== v) {
          if (out === null) out = value.slice();
          out[i] = w;
        }
      }
      return out ?? value;
    }
    if (value instanceof Set) return walkOut([...value], json, threshold, buffers, seen);
    if (value instanceof Date) return value.toISOString();
    if (value instanceof Map) {
      const out = {};
      for (const [k, v] of value) out[mapKey(k)] = v;
      return walkOut(out, json, threshold, buffers, seen);
    }
    if (!isPlainObject(value)) {
      for (let cls = value.constructor; cls && cls !== Object; cls = Object.getPrototypeOf(cls)) {
        const convert = classToMap.get(cls);
        if (convert) {
          const map = convert(value);
          return walkOut("__class__" in map ? map : { __class__: cls.name, ...map }, json, threshold, buffers, seen);
        }
      }
      if (typeof value.toJSON === "function") return walkOut(value.toJSON(), json, threshold, buffers, seen);
      return walkOut({ __class__: `js.${value.constructor?.name ?? "Object"}`, ...value }, json, threshold, buffers, seen);
    }
    const keys = Object.keys(value);
    if (keys.length === 1 && reservedKey(keys[0])) {
      // a user's map shaped like a marker: escaped, so it arrives as data
      return { [`_${keys[0]}`]: walkOut(value[keys[0]], json, threshold, buffers, seen) };
    }
    let out = null;
    for (const k of keys) {
      const v = value[k];
      if (asIs(v, typeof v, json)) continue;
      const w = walkOut(v, json, threshold, buffers, seen);
      if (w !== v || v === undefined) {
        if (out === null) out = { ...value };
        out[k] = w;
      }
    }
    return out ?? value;
  } finally {
    seen.delete(value);
  }
}

function mapKey(key) {
  if (typeof key === "string") return key;
  if (typeof key === "number" || typeof key === "bigint" || typeof key === "boolean") return String(key);
  throw new SerializeError(`map keys must be strings or numbers, not ${typeof key}`);
}

/** Whether a decoded payload needs the inbound walk (markers, class maps or 64-bit integers). */
export function needsWalk(payload, msgpack) {
  if (payload.indexOf("zpyro_") >= 0 || (mapToClass.size && payload.indexOf("__class__") >= 0)) return true;
  return msgpack && (payload.indexOf(0xcf) >= 0 || payload.indexOf(0xd3) >= 0);
}

/** A decoded value with markers read, escapes undone, class maps rebuilt (in place). */
export function fromWire(value, buffers) {
  return walkIn(value, buffers);
}

function walkIn(value, buffers) {
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (v !== null && (typeof v === "object" || typeof v === "bigint")) value[i] = walkIn(v, buffers);
    }
    return value;
  }
  const keys = Object.keys(value);
  if (keys.length === 1 && reservedKey(keys[0])) {
    return readMarker(keys[0], walkIn(value[keys[0]], buffers), buffers);
  }
  for (const k of keys) {
    const v = value[k];
    if (v !== null && (typeof v === "object" || typeof v === "bigint")) value[k] = walkIn(v, buffers);
  }
  const name = value.__class__;
  if (typeof name === "string") {
    const convert = mapToClass.get(name);
    if (convert) return convert(value);
  }
  return value;
}

function readMarker(key, value, buffers) {
  if (key[2] === "_") return { [key.slice(1)]: value }; // escaped by its sender: a user's map
  if (key === OOB_KEY) {
    if (!Number.isInteger(value) || value < 0 || value >= buffers.length) {
      throw new SerializeError(`bad out-of-band buffer reference ${JSON.stringify(value) ?? String(value)} (${buffers.length} buffers)`);
    }
    const b = buffers[value];
    return b instanceof Uint8Array ? b : new Uint8Array(b);
  }
  if (key === BYTES_KEY) {
    if (typeof value !== "string") throw new SerializeError("bytes marker holds no base64 text");
    return new Uint8Array(Buffer.from(value, "base64"));
  }
  if (key === OOB_SET_KEY) {
    if (!Array.isArray(value)) throw new SerializeError("set marker holds no list");
    return value; // JavaScript keeps a set of values as an array, as json and msgpack do
  }
  throw new SerializeError(`unknown marker '${key}'`);
}
