// The name server (the broker's Pyro.NameServer): locateNS(), resolve() for PYRONAME:/PYROMETA:.

import { config } from "./config.js";
import { CommunicationError, NamingError } from "./errors.js";
import { Proxy, setResolver } from "./proxy.js";
import { URI } from "./uri.js";

export const NAMESERVER_NAME = "Pyro.NameServer";

function location(host, port) {
  host ||= config.NS_HOST;
  port ||= config.NS_PORT;
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A proxy for the name server at host:port (default ZPYRO_NS_HOST:ZPYRO_NS_PORT, localhost:9090),
 * checked alive; NamingError when it does not answer. Its methods are the name server's:
 * register, lookup, list, yplookup, set_metadata, remove, count, ping, snapshot.
 */
export async function locateNS({ host, port, ...options } = {}) {
  const uri = `PYRO:${NAMESERVER_NAME}@${location(host, port)}`;
  let ns;
  try {
    ns = await Proxy.connect(uri, { timeout: config.CONNECT_TIMEOUT, ...options });
    await ns.ping();
    ns.timeout = options.timeout ?? config.COMMTIMEOUT;
  } catch (err) {
    await ns?.close();
    if (err instanceof CommunicationError) throw new NamingError(`failed to locate the name server at ${uri}: ${err.message}`, { cause: err });
    throw err;
  }
  return ns;
}

/** The PYRO: URI of a PYRO:, PYRONAME: or PYROMETA: URI (the latter two ask the name server). */
export async function resolve(uri, options = {}) {
  uri = uri instanceof URI ? uri : new URI(String(uri));
  if (uri.protocol === "PYRO") return uri;
  const ns = await locateNS({ host: uri.host, port: uri.port, ...options });
  try {
    if (uri.protocol === "PYRONAME") {
      const found = await ns.lookup(uri.object);
      return found instanceof URI ? found : new URI(String(found));
    }
    const tags = uri.metadata;
    const matches = await ns.call("list", [], { metadata_all: tags, return_metadata: false });
    const uris = Object.values(matches ?? {}).map(String).sort();
    if (!uris.length) throw new NamingError(`no object carries all of the metadata ${tags.join(", ")}`);
    return new URI(uris[Math.floor(Math.random() * uris.length)]);
  } finally {
    await ns.close();
  }
}

setResolver(resolve);
