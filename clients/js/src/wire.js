// Frames <-> messages: the zpyro wire format (docs/PROTOCOL.md). Pure code, no sockets.
// decode() throws only ProtocolError, whatever it is given.

import { ProtocolError } from "./errors.js";

export const VERSION = 1;
export const SIGNATURE = Buffer.from([0x5a, 0x50, 0x59, VERSION]); // "ZPY" + version
export const HEADER_SIZE = 12;
export const MAX_CALL_ID = 0xffffffff;

export const CALL = 1;
export const RESULT = 2;
export const ERROR = 3;
export const PING = 4;
export const PONG = 5;
export const READY = 6;
export const DONE = 7;
export const BYE = 8;
export const CREDIT = 9; // oneway flow control (docs/PROTOCOL.md): room for more oneway calls
export const KIND_NAMES = {
  1: "CALL", 2: "RESULT", 3: "ERROR", 4: "PING", 5: "PONG", 6: "READY", 7: "DONE", 8: "BYE", 9: "CREDIT",
};

export const FLAG_ONEWAY = 0x01;
export const FLAG_META = 0x02;
export const FLAG_BATCH = 0x04;
export const FLAG_ANNOTATED = 0x08;
export const FLAG_STREAM = 0x10;
// Flags are per kind: the same bit means STREAM on a RESULT and HANDSHAKE on a CALL.
export const FLAG_HANDSHAKE = 0x10; // CALL: the connection handshake (PROTOCOL.md "Handshake")
export const FLAG_CREDIT = 0x80; // CALL with ONEWAY: the caller counts credit (flow control)
/** The flags each kind may carry; any other bit is a ProtocolError. */
export const ALLOWED_FLAGS = {
  [CALL]: FLAG_ONEWAY | FLAG_META | FLAG_BATCH | FLAG_ANNOTATED | FLAG_HANDSHAKE | FLAG_CREDIT,
  [RESULT]: FLAG_META | FLAG_BATCH | FLAG_ANNOTATED | FLAG_STREAM,
  [ERROR]: FLAG_ONEWAY, // a notice: a oneway call that could not be run
};

export const SERIALIZER_IDS = { serpent: 1, json: 2, msgpack: 3, marshal: 4, pickle: 5 };

const EMPTY = Buffer.alloc(0);
const utf8 = new TextDecoder("utf-8", { fatal: true });

function textBytes(text, what) {
  if (typeof text !== "string" || !text.isWellFormed()) {
    throw new ProtocolError(`${what} is not valid Unicode text`);
  }
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length > 0xffff) throw new ProtocolError(`${what} longer than 65535 bytes`);
  return bytes;
}

function u8(value, what) {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new ProtocolError(`header field out of range: ${what}`);
  return value;
}

/** The header frame of a message. */
export function encodeHeader(kind, flags, serializer, callId, objectId = "", method = "") {
  const obj = objectId ? textBytes(objectId, "object id") : EMPTY;
  const meth = method ? textBytes(method, "method name") : EMPTY;
  if (!Number.isInteger(callId) || callId < 0 || callId > MAX_CALL_ID) throw new ProtocolError("header field out of range: call id");
  const header = Buffer.allocUnsafe(HEADER_SIZE + obj.length + meth.length);
  header[0] = u8(kind, "kind");
  header[1] = u8(flags, "flags");
  header[2] = u8(serializer, "serializer");
  header[3] = 0;
  header.writeUInt32BE(callId, 4);
  header.writeUInt16BE(obj.length, 8);
  header.writeUInt16BE(meth.length, 10);
  obj.copy(header, HEADER_SIZE);
  meth.copy(header, HEADER_SIZE + obj.length);
  return header;
}

/** The frames of one message, ready to send. */
export function encode(kind, flags, serializer, callId, objectId = "", method = "", payload = EMPTY, buffers = []) {
  const header = encodeHeader(kind, flags, serializer, callId, objectId, method);
  return buffers.length ? [SIGNATURE, header, payload, ...buffers] : [SIGNATURE, header, payload];
}

/**
 * Parse the frames of one message (a ROUTER's identity frame already removed):
 * {kind, flags, serializer, callId, objectId, method, payload, buffers}.
 */
export function decode(frames) {
  if (!Array.isArray(frames) || frames.length < 3) {
    throw new ProtocolError(`message has ${frames?.length ?? 0} frames, at least 3 expected`);
  }
  const sig = frames[0];
  if (!(sig instanceof Uint8Array) || sig.length !== 4 || sig[0] !== 0x5a || sig[1] !== 0x50 || sig[2] !== 0x59) {
    throw new ProtocolError("not a zpyro message (bad signature frame)");
  }
  if (sig[3] !== VERSION) throw new ProtocolError(`unsupported protocol version ${sig[3]} (this is ${VERSION})`);
  const header = frames[1];
  if (!(header instanceof Uint8Array) || header.length < HEADER_SIZE) {
    throw new ProtocolError(`header frame too short (${header?.length ?? 0} bytes)`);
  }
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const kind = header[0];
  const flags = header[1];
  if (!(kind in KIND_NAMES)) throw new ProtocolError(`unknown message kind ${kind}`);
  if (flags & ~(ALLOWED_FLAGS[kind] ?? 0)) {
    throw new ProtocolError(`flags 0x${flags.toString(16).padStart(2, "0")} not valid on a ${KIND_NAMES[kind]} message`);
  }
  if (header[3]) throw new ProtocolError(`reserved header byte is 0x${header[3].toString(16).padStart(2, "0")}, must be 0`);
  const objLen = view.getUint16(8);
  const methLen = view.getUint16(10);
  if (header.length !== HEADER_SIZE + objLen + methLen) {
    throw new ProtocolError("header frame length does not match its string lengths");
  }
  let objectId;
  let method;
  try {
    objectId = objLen ? utf8.decode(header.subarray(HEADER_SIZE, HEADER_SIZE + objLen)) : "";
    method = methLen ? utf8.decode(header.subarray(HEADER_SIZE + objLen)) : "";
  } catch {
    throw new ProtocolError("object id or method is not valid UTF-8");
  }
  return {
    kind,
    flags,
    serializer: header[2],
    callId: view.getUint32(4),
    objectId,
    method,
    payload: frames[2],
    buffers: frames.length > 3 ? frames.slice(3) : [],
  };
}

/** The call id of a message that failed to decode, or 0 when even that is unreadable. */
export function peekCallId(frames) {
  const header = Array.isArray(frames) ? frames[1] : undefined;
  if (!(header instanceof Uint8Array) || header.length < HEADER_SIZE) return 0;
  return new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(4);
}

/** Total bytes of all frames (what MAX_MESSAGE_SIZE limits). */
export function messageSize(frames) {
  let total = 0;
  for (const f of frames) total += f.byteLength;
  return total;
}
