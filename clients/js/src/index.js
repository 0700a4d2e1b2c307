// zpyro for Node.js: client (Proxy, batches, streams, name server) and Daemon.
// The protocol is docs/PROTOCOL.md of the zpyro repository.

export * from "./errors.js";
export { URI } from "./uri.js";
export { Proxy, RemoteIterator } from "./proxy.js";
export { locateNS, resolve, NAMESERVER_NAME } from "./naming.js";
export { Daemon } from "./daemon.js";
export { config } from "./config.js";
export { registerClassToMap, registerMapToClass, OOB_THRESHOLD } from "./values.js";
export { SERIALIZERS } from "./serializers.js";
export * as wire from "./wire.js";
