// Object addresses: PYRO:, PYRONAME: and PYROMETA: URIs <-> ZeroMQ endpoints (docs/PROTOCOL.md).

import { ZPyroError } from "./errors.js";

export const PROTOCOLS = ["PYRO", "PYRONAME", "PYROMETA"];
const IPC = "./u:";
const INPROC = "./inproc:";

function bad(text, why) {
  return new ZPyroError(`invalid URI '${text}': ${why}`);
}

function parsePort(text, port) {
  if (!/^[0-9]+$/.test(port) || +port < 1 || +port > 65535) throw bad(text, `port must be 1..65535, not '${port}'`);
  return +port;
}

/** An immutable, parsed object address; String(uri) is its canonical text. */
export class URI {
  constructor(textOrUri) {
    if (textOrUri instanceof URI) {
      Object.assign(this, textOrUri);
      Object.freeze(this);
      return;
    }
    if (typeof textOrUri !== "string") throw new TypeError("URI needs a string or URI");
    const text = textOrUri.trim();
    const colon = text.indexOf(":");
    const protocol = colon < 0 ? "" : text.slice(0, colon).toUpperCase();
    if (!PROTOCOLS.includes(protocol)) throw bad(text, "expected PYRO:, PYRONAME: or PYROMETA:");
    const rest = text.slice(colon + 1);
    if (/\s/.test(rest)) throw bad(text, "contains whitespace");
    const at = rest.indexOf("@");
    const object = at < 0 ? rest : rest.slice(0, at);
    const location = at < 0 ? null : rest.slice(at + 1);
    if (!object) throw bad(text, "empty object id");
    if (protocol === "PYROMETA" && !object.split(",").some((t) => t.trim())) throw bad(text, "no metadata tags");
    this.protocol = protocol;
    this.object = object;
    this.host = null;
    this.port = null;
    this.sockpath = null;
    this.inproc = null;
    if (location !== null) {
      if (location.startsWith(IPC)) {
        this.sockpath = location.slice(IPC.length);
        if (!this.sockpath) throw bad(text, "empty socket path");
      } else if (location.startsWith(INPROC)) {
        this.inproc = location.slice(INPROC.length);
        if (!this.inproc) throw bad(text, "empty inproc name");
      } else if (location.startsWith("[")) {
        const close = location.indexOf("]:");
        const host = close < 0 ? "" : location.slice(1, close);
        if (close < 0 || !host.includes(":") || /[[\]]/.test(host)) throw bad(text, "expected [ipv6-address]:port");
        this.host = host;
        this.port = parsePort(text, location.slice(close + 2));
      } else {
        const c = location.lastIndexOf(":");
        const host = c < 0 ? "" : location.slice(0, c);
        if (!host) throw bad(text, "expected host:port, ./u:path or ./inproc:name");
        if (/[:[\]/@]/.test(host)) throw bad(text, `bad host '${host}' (IPv6 addresses go in brackets)`);
        this.host = host;
        this.port = parsePort(text, location.slice(c + 1));
      }
    } else if (protocol === "PYRO") {
      throw bad(text, "PYRO: needs a location (@host:port, @./u:path or @./inproc:name)");
    }
    Object.freeze(this);
  }

  /** host:port, [ipv6]:port, ./u:path, ./inproc:name, or null (the configured name server). */
  get location() {
    if (this.sockpath !== null) return IPC + this.sockpath;
    if (this.inproc !== null) return INPROC + this.inproc;
    if (this.host === null) return null;
    return this.host.includes(":") ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  /** The ZeroMQ endpoint to connect to, or null for a location-less name. */
  get endpoint() {
    if (this.sockpath !== null) return `ipc://${this.sockpath}`;
    if (this.inproc !== null) return `inproc://${this.inproc}`;
    if (this.host === null) return null;
    return `tcp://${this.location}`;
  }

  /** The tags of a PYROMETA: URI. */
  get metadata() {
    if (this.protocol !== "PYROMETA") return [];
    return [...new Set(this.object.split(",").map((t) => t.trim()).filter(Boolean))].sort();
  }

  toString() {
    const loc = this.location;
    return loc ? `${this.protocol}:${this.object}@${loc}` : `${this.protocol}:${this.object}`;
  }

  toJSON() {
    return this.toString();
  }

  equals(other) {
    return String(this) === String(other);
  }
}

/** A ZeroMQ endpoint (tcp/ipc/inproc) as a URI location. */
export function endpointToLocation(endpoint) {
  const m = /^(tcp|ipc|inproc):\/\/(.+)$/.exec(endpoint);
  if (!m) throw new ZPyroError(`cannot turn zmq endpoint '${endpoint}' into a URI location`);
  const [, scheme, address] = m;
  if (scheme === "ipc") return IPC + address;
  if (scheme === "inproc") return INPROC + address;
  const c = address.lastIndexOf(":");
  const host = address.slice(0, c);
  return host.includes(":") && !host.startsWith("[") ? `[${host}]${address.slice(c)}` : address;
}
