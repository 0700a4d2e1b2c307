// The zpyro error tree (docs/PROTOCOL.md, "Error map"), and remote errors <-> error maps.
//
//   ZPyroError
//    ├── CommunicationError
//    │    ├── ConnectionClosedError
//    │    ├── TimeoutError
//    │    ├── ProtocolError
//    │    └── HandshakeError   (a daemon refused the connection's handshake)
//    ├── NamingError, DaemonError, SecurityError, SerializeError, MessageTooLargeError
//    └── RemoteError        (.remoteType: the remote exception's "module.QualName")
//
// Every error that came from a peer carries .remoteType and .remoteTraceback (array of lines).

export class ZPyroError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}
export class CommunicationError extends ZPyroError {}
export class ConnectionClosedError extends CommunicationError {}
export class TimeoutError extends CommunicationError {}
export class ProtocolError extends CommunicationError {}
export class HandshakeError extends CommunicationError {}
export class NamingError extends ZPyroError {}
export class DaemonError extends ZPyroError {}
export class SecurityError extends ZPyroError {}
export class SerializeError extends ZPyroError {}
export class MessageTooLargeError extends ZPyroError {}
export class RemoteError extends ZPyroError {
  constructor(message, remoteType = "", options) {
    super(message, options);
    this.remoteType = remoteType;
  }
}

const OWN = {
  ZPyroError, CommunicationError, ConnectionClosedError, TimeoutError, ProtocolError, HandshakeError,
  NamingError, DaemonError, SecurityError, SerializeError, MessageTooLargeError, RemoteError,
};
const OWN_PREFIX = "zpyro.errors.";
// JavaScript errors whose meaning a Python builtin shares: a Python caller gets that type.
const TO_BUILTIN = { TypeError: "builtins.TypeError", RangeError: "builtins.ValueError" };

function simple(value) {
  const t = typeof value;
  if (value === null || t === "string" || t === "boolean") return value;
  if (t === "number") return Number.isFinite(value) ? value : String(value);
  if (t === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : String(value);
  return String(value);
}

/** The error map of docs/PROTOCOL.md for a thrown value. */
export function errorToPayload(err) {
  if (!(err instanceof Error)) {
    return { type: "js.Error", message: String(err), args: [String(err)], traceback: [] };
  }
  let type;
  if (err instanceof RemoteError && err.remoteType) type = err.remoteType;
  else if (err instanceof ZPyroError && OWN[err.constructor.name] === err.constructor) {
    type = OWN_PREFIX + err.constructor.name;
  } else type = err.remoteType || TO_BUILTIN[err.constructor.name] || `js.${err.name || "Error"}`;
  const lines = String(err.stack || `${err.name}: ${err.message}`).split("\n").map((l) => `${l}\n`);
  const previous = err.remoteTraceback;
  if (Array.isArray(previous) && previous.length) {
    lines.push(" +--- Remote traceback of the previous hop:\n", ...previous);
  }
  const args = Array.isArray(err.remoteArgs) ? err.remoteArgs.map(simple) : [err.message];
  return { type, message: String(err.message), args, traceback: lines };
}

/** Rebuild an error from an error map; a malformed map gives ProtocolError. */
export function payloadToError(payload) {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    return new ProtocolError("remote error payload is not a map");
  }
  const { type, message, args, traceback } = payload;
  if (typeof type !== "string" || !type) return new ProtocolError("remote error payload: 'type' must be a non-empty string");
  if (typeof message !== "string") return new ProtocolError("remote error payload: 'message' must be a string");
  if (!Array.isArray(args)) return new ProtocolError("remote error payload: 'args' must be a list");
  if (!Array.isArray(traceback) || !traceback.every((l) => typeof l === "string")) {
    return new ProtocolError("remote error payload: 'traceback' must be a list of strings");
  }
  let err;
  const own = type.startsWith(OWN_PREFIX) ? OWN[type.slice(OWN_PREFIX.length)] : undefined;
  if (own === RemoteError || own === undefined) {
    const remoteType = own === RemoteError && typeof payload.remote_type === "string" ? payload.remote_type : type;
    err = new RemoteError(own === RemoteError ? message : `${type}: ${message}`, remoteType);
  } else {
    err = new own(message);
  }
  err.remoteType = err instanceof RemoteError ? err.remoteType : type;
  err.remoteTraceback = traceback;
  err.remoteArgs = args;
  return err;
}

/** The remote traceback lines an error carries (empty when it did not come from a peer). */
export function getRemoteTraceback(err) {
  return Array.isArray(err?.remoteTraceback) ? [...err.remoteTraceback] : [];
}
