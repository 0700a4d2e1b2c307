// Type declarations for zpyro (Node.js). The protocol: docs/PROTOCOL.md of the zpyro repository.

/// <reference types="node" />

// -- errors ---------------------------------------------------------------------------------------

export class ZPyroError extends Error {
  /** The remote exception's "module.QualName", when the error came from a peer. */
  remoteType?: string;
  /** The remote traceback lines, when the error came from a peer. */
  remoteTraceback?: string[];
  /** The remote exception's args (strings, numbers, booleans, null). */
  remoteArgs?: unknown[];
  /** For a failed batch call: the results of the calls before it. */
  batchResults?: unknown[];
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
  constructor(message: string, remoteType?: string, options?: ErrorOptions);
  remoteType: string;
}

/** The error map of docs/PROTOCOL.md for a thrown value. */
export function errorToPayload(err: unknown): ErrorMap;
/** Rebuild an error from an error map (a malformed one gives ProtocolError). */
export function payloadToError(payload: unknown): ZPyroError;
/** The remote traceback lines an error carries (empty when it did not come from a peer). */
export function getRemoteTraceback(err: unknown): string[];

export interface ErrorMap {
  type: string;
  message: string;
  args: unknown[];
  traceback: string[];
}

// -- URIs -----------------------------------------------------------------------------------------

export class URI {
  constructor(text: string | URI);
  readonly protocol: "PYRO" | "PYRONAME" | "PYROMETA";
  readonly object: string;
  readonly host: string | null;
  readonly port: number | null;
  readonly sockpath: string | null;
  readonly inproc: string | null;
  /** host:port, [ipv6]:port, ./u:path, ./inproc:name, or null (the configured name server). */
  readonly location: string | null;
  /** The ZeroMQ endpoint, or null for a location-less name. */
  readonly endpoint: string | null;
  /** The tags of a PYROMETA: URI. */
  readonly metadata: string[];
  toString(): string;
  toJSON(): string;
  equals(other: URI | string): boolean;
}

// -- calling --------------------------------------------------------------------------------------

export interface ProxyOptions {
  /** Seconds to wait for any reply; 0 = no limit (default ZPYRO_COMMTIMEOUT or 0). */
  timeout?: number;
  /** Seconds to wait for the connection (default ZPYRO_CONNECT_TIMEOUT or 5). */
  connectTimeout?: number;
  /** "msgpack" (default: a preference the daemon may overrule) or "json" (binding). */
  serializer?: "msgpack" | "json";
  /** CURVE: the server's public key (40 z85 characters or a .key file). */
  curveServerKey?: string;
  /** CURVE: this client's .key_secret file (default: a fresh key pair per process). */
  curveSecretKey?: string;
  /** Binary values at least this big travel as their own frames (default 32 KiB). */
  oobThreshold?: number;
}

export interface CallOptions {
  /** Seconds; overrides the proxy's timeout for this call. */
  timeout?: number;
  /** Abort the wait (the call is forgotten; a late reply is dropped). */
  signal?: AbortSignal;
  /** Send without waiting for any reply (default: as the metadata says). */
  oneway?: boolean;
}

/** A call's result: a promise that `for await` can also iterate (streams, arrays). */
export type CallResult<T = any> = Promise<T> & AsyncIterable<any>;

export interface RemoteMethod {
  (...args: any[]): CallResult;
  /** The same method with per-call options: `p.slow.withOptions({signal})(1)`. */
  withOptions(options: CallOptions): RemoteMethod;
}

export interface ProxyMetadata {
  methods: string[];
  oneway: string[];
  attrs: string[];
  maxMessageSize: number;
  serializers: string[] | null;
}

export interface BatchProxy {
  /** Run the queued calls: their results in order (a failing call rejects; err.batchResults). */
  (options?: { oneway?: boolean; timeout?: number; signal?: AbortSignal }): Promise<unknown[] | undefined>;
  /** Queue a call with keyword arguments. */
  call(method: string, args?: unknown[], kwargs?: Record<string, unknown>): void;
  readonly length: number;
  /** Any other name queues a call of that method. */
  [method: string]: any;
}

export interface ProxyMembers {
  /** Call any method explicitly, with keyword arguments and options. */
  call(method: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: CallOptions): Promise<any>;
  /** Read a remote property (also: `await proxy.name`). */
  getAttr(name: string): Promise<any>;
  /** Write a remote property. */
  setAttr(name: string, value: unknown): Promise<void>;
  /** Queue calls, run them in one message each way. */
  batch(): BatchProxy;
  /** Connect now and fetch the metadata. */
  bind(): Promise<RemoteProxy>;
  /** Release the connection (the daemon drops this proxy's streams). */
  close(): Promise<void>;
  readonly metadata: ProxyMetadata | null;
  readonly uri: URI;
  /** The PYRO: URI connected to (what a PYRONAME:/PYROMETA: resolved to). */
  readonly target: URI;
  readonly connected: boolean;
  timeout: number;
  serializer: "msgpack" | "json";
}

/** A proxy: its members, plus every remote method (a RemoteMethod) and property (a Promise). */
export type RemoteProxy = ProxyMembers & { [name: string]: any };

export const Proxy: {
  /** A proxy that connects on first use. */
  new (uri: string | URI, options?: ProxyOptions): RemoteProxy;
  /** A connected proxy, metadata fetched. */
  connect(uri: string | URI, options?: ProxyOptions): Promise<RemoteProxy>;
};

/** The caller's side of a remote generator (bounded memory; `break` closes the daemon's side). */
export class RemoteIterator<T = unknown> implements AsyncIterableIterator<T> {
  next(): Promise<IteratorResult<T>>;
  return(): Promise<IteratorResult<T>>;
  [Symbol.asyncIterator](): this;
}

// -- the name server -----------------------------------------------------------------------------

export const NAMESERVER_NAME: "Pyro.NameServer";

/** The name server's proxy: register, lookup, list, yplookup, set_metadata, remove, count, ping, snapshot. */
export interface NameServerProxy extends ProxyMembers {
  register(name: string, uri: string | URI, safe?: boolean, metadata?: string[]): Promise<null>;
  lookup(name: string, returnMetadata?: false): Promise<URI>;
  lookup(name: string, returnMetadata: true): Promise<[URI, string[]]>;
  remove(name?: string | null, prefix?: string | null, regex?: string | null): Promise<number>;
  count(): Promise<number>;
  ping(): Promise<null>;
  [name: string]: any;
}

export function locateNS(options?: { host?: string; port?: number } & ProxyOptions): Promise<NameServerProxy>;
/** The PYRO: URI of a PYRO:, PYRONAME: or PYROMETA: URI. */
export function resolve(uri: string | URI, options?: ProxyOptions): Promise<URI>;

// -- serving --------------------------------------------------------------------------------------

export interface DaemonOptions {
  host?: string;
  port?: number;
  unixsocket?: string;
  /** Attach to a broker ("tcp://host:port", or true: ZPYRO_NS_HOST:ZPYRO_NS_PORT) as a pooled daemon. */
  broker?: string | true;
  /** Calls a broker may give this daemon at once (default 32). */
  capacity?: number;
  /** Accepted serializers, preferred first (default ["msgpack", "json"]). */
  serializers?: Array<"msgpack" | "json">;
  maxMessageSize?: number;
  /** CURVE: this daemon's .key_secret file (direct), or this client's (brokered). */
  curveSecretKey?: string;
  /** Brokered: the broker's CURVE public key. */
  curveServerKey?: string;
  oobThreshold?: number;
}

export interface RegisterOptions {
  /** Methods that send no reply. */
  oneway?: string[];
  /** Methods a broker may re-run on another daemon of the pool if this one dies. */
  idempotent?: string[];
  /** The exposed methods (default: every public method: no leading underscore). */
  methods?: string[];
  /** Brokered: name-server tags. */
  metadata?: string[];
}

export class Daemon {
  constructor(options?: DaemonOptions);
  /** Bind (or connect to the broker) and serve. */
  start(): Promise<this>;
  /** Serve an object; returns its URI (call start() first). */
  register(obj: object, objectId?: string | null, options?: RegisterOptions): URI;
  unregister(objectId: string): void;
  uriFor(objectId: string): URI;
  /** Brokered: resolves once the broker has taken this daemon's objects. */
  waitAttached(): Promise<void>;
  close(): Promise<void>;
  readonly location: string | null;
}

// -- values and settings --------------------------------------------------------------------------

export const OOB_THRESHOLD: number;
/** Send instances of `cls` as `convert(value)` (a map; "__class__" is added when missing). */
export function registerClassToMap(cls: Function, convert: (value: any) => Record<string, unknown>): void;
/** On receipt, turn a map whose "__class__" is `name` into `convert(map)`. */
export function registerMapToClass(name: string, convert: (map: Record<string, any>) => unknown): void;

export interface Serializer {
  readonly name: "msgpack" | "json";
  readonly id: number;
  dumps(value: unknown, oobThreshold?: number): { payload: Buffer; buffers: Uint8Array[] };
  loads(payload: Uint8Array, buffers?: Uint8Array[]): unknown;
}
export const SERIALIZERS: { msgpack: Serializer; json: Serializer };

export const config: {
  NS_HOST: string;
  NS_PORT: number;
  HOST: string;
  SERIALIZER: string;
  COMMTIMEOUT: number;
  CONNECT_TIMEOUT: number;
  MAX_MESSAGE_SIZE: number;
  OOB_THRESHOLD: number;
  HEARTBEAT_INTERVAL: number;
  HEARTBEAT_TIMEOUT: number;
  MAX_PENDING_CALLS: number;
  CURVE_SECRET_KEY: string;
  CURVE_SERVER_PUBLIC_KEY: string;
  ITER_STREAM_LINGER: number;
};

export namespace wire {
  const VERSION: number;
  const SIGNATURE: Buffer;
  const HEADER_SIZE: number;
  const CALL: 1, RESULT: 2, ERROR: 3, PING: 4, PONG: 5, READY: 6, DONE: 7, BYE: 8, CREDIT: 9;
  const FLAG_ONEWAY: 0x01, FLAG_META: 0x02, FLAG_BATCH: 0x04, FLAG_ANNOTATED: 0x08, FLAG_STREAM: 0x10;
  /** Flags are per kind: 0x10 is STREAM on a RESULT and HANDSHAKE on a CALL. */
  const FLAG_HANDSHAKE: 0x10, FLAG_CREDIT: 0x80;
  const ALLOWED_FLAGS: Record<number, number>;
  const KIND_NAMES: Record<number, string>;
  interface Message {
    kind: number;
    flags: number;
    serializer: number;
    callId: number;
    objectId: string;
    method: string;
    payload: Uint8Array;
    buffers: Uint8Array[];
  }
  function encode(kind: number, flags: number, serializer: number, callId: number, objectId?: string, method?: string, payload?: Uint8Array, buffers?: Uint8Array[]): Uint8Array[];
  function encodeHeader(kind: number, flags: number, serializer: number, callId: number, objectId?: string, method?: string): Buffer;
  function decode(frames: Uint8Array[]): Message;
  function peekCallId(frames: Uint8Array[]): number;
  function messageSize(frames: Uint8Array[]): number;
}
