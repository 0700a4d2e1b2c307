// One DEALER connection with many calls in flight, replies matched to calls by call id.
//
// zeromq.js lets one send() be in progress per socket, so calls go through this connection's own
// send queue; one receive loop hands each reply to its waiting call. Like zpyro's Python proxy,
// the socket never reconnects by itself (reconnectInterval -1): a lost or refused connection
// fails every call in flight and closes, and the proxy makes a new one for its next call.

import { Dealer } from "zeromq";
import { config, heartbeatOptions } from "./config.js";
import { CommunicationError, ConnectionClosedError, ProtocolError, SecurityError, TimeoutError } from "./errors.js";
import * as wire from "./wire.js";

const FLUSH_LINGER_MS = 200; // a closing proxy's goodbye (release_session) still gets out

export class Connection {
  /**
   * @param {string} endpoint zmq endpoint
   * @param {{connectTimeout?: number, curve?: object|null}} options curve: zeromq.js socket options
   */
  constructor(endpoint, { connectTimeout = config.CONNECT_TIMEOUT, curve = null } = {}) {
    this.endpoint = endpoint;
    this.connectTimeout = connectTimeout;
    this.pending = new Map(); // call id -> {resolve, reject, timer, signal, onAbort}
    this.closedReason = null;
    this.closedAs = ConnectionClosedError;
    this.connected = false;
    this.handshaken = false;
    this.curve = curve !== null;
    this._queue = [];
    this._sending = false;
    this._nextId = 1;
    this._connectTimer = null;
    const socket = new Dealer({
      linger: 0,
      sendHighWaterMark: 0, // bounded by MAX_PENDING_CALLS, never by a silent block
      receiveHighWaterMark: 0,
      reconnectInterval: -1,
      ipv6: endpoint.startsWith("tcp://["),
      ...heartbeatOptions(),
      ...(curve ?? {}),
    });
    this.socket = socket;
    const ev = socket.events;
    ev.on("connect", () => {
      this.connected = true;
      this._clearConnectTimer();
    });
    ev.on("handshake", () => {
      this.handshaken = true;
    });
    ev.on("disconnect", () => {
      this.connected = false;
      this._giveUp(this.handshaken ? new ConnectionClosedError(`connection to ${endpoint} lost`) : this._handshakeError());
    });
    ev.on("close", () => {
      if (!this.connected && this.closedReason === null) this._giveUp(new CommunicationError(`cannot connect to ${endpoint}: refused`));
    });
    ev.on("handshake:error:auth", () => this._giveUp(new SecurityError(`${endpoint} refused our credentials`)));
    ev.on("handshake:error:protocol", () => this._giveUp(this._handshakeError()));
    ev.on("handshake:error:other", () => this._giveUp(this._handshakeError()));
    try {
      socket.connect(endpoint);
    } catch (err) {
      socket.close();
      throw new CommunicationError(`cannot connect to ${endpoint}: ${err.message}`);
    }
    this._receiveLoop();
  }

  get closed() {
    return this.closedReason !== null;
  }

  nextCallId() {
    const id = this._nextId;
    this._nextId = id >= wire.MAX_CALL_ID ? 1 : id + 1;
    return id;
  }

  /** Send a request; resolves with the decoded reply message. */
  call(frames, callId, { timeout = 0, signal = null } = {}) {
    return new Promise((resolve, reject) => {
      if (this.closedReason !== null) {
        reject(new this.closedAs(this.closedReason));
        return;
      }
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      if (this.pending.size >= config.MAX_PENDING_CALLS) {
        reject(new CommunicationError(`${this.pending.size} calls already wait for replies on this connection (MAX_PENDING_CALLS); wait for some before sending more`));
        return;
      }
      const entry = { resolve, reject, timer: null, signal, onAbort: null };
      if (timeout > 0) {
        entry.timer = setTimeout(() => this._settle(callId, null, new TimeoutError(`no reply within ${timeout} s`)), timeout * 1000);
      }
      if (signal) {
        entry.onAbort = () => this._settle(callId, null, signal.reason);
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
      this.pending.set(callId, entry);
      this._send(frames);
    });
  }

  /** Send without waiting for a reply; resolves once the message is queued. */
  send(frames) {
    if (this.closedReason !== null) return Promise.reject(new this.closedAs(this.closedReason));
    return new Promise((resolve, reject) => this._send(frames, resolve, reject));
  }

  /** Fail what is pending and close. With `flush`, what was just sent still goes out. */
  close(reason = "connection closed by the proxy", { flush = false } = {}) {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this._failAll(new ConnectionClosedError(reason));
    this._clearConnectTimer();
    const finish = () => {
      try {
        if (flush) this.socket.linger = FLUSH_LINGER_MS;
        this.socket.close();
      } catch {
        // already closed
      }
    };
    if (flush && this._sending) this._afterQueue = finish;
    else finish();
  }

  // -- internals ----------------------------------------------------------------------------------

  _send(frames, resolve = null, reject = null) {
    this._queue.push([frames, resolve, reject]);
    if (!this.connected && this._connectTimer === null && this.connectTimeout > 0) {
      this._connectTimer = setTimeout(() => {
        this._connectTimer = null;
        if (!this.connected && this.pending.size) {
          this._giveUp(new CommunicationError(`cannot connect to ${this.endpoint} within ${this.connectTimeout} s`));
        }
      }, this.connectTimeout * 1000);
      this._connectTimer.unref?.();
    }
    if (!this._sending) this._drain();
  }

  async _drain() {
    this._sending = true;
    const queue = this._queue;
    while (queue.length) {
      const [frames, resolve, reject] = queue.shift();
      if (this.socket.closed) {
        reject?.(new this.closedAs(this.closedReason ?? "connection closed"));
        continue;
      }
      try {
        await this.socket.send(frames);
        resolve?.();
      } catch (err) {
        const failure = new ConnectionClosedError(`cannot send to ${this.endpoint}: ${err.message}`);
        reject?.(failure);
        if (!this.socket.closed) this._giveUp(failure);
      }
    }
    this._sending = false;
    const after = this._afterQueue;
    this._afterQueue = null;
    after?.();
  }

  async _receiveLoop() {
    try {
      for await (const frames of this.socket) this._deliver(frames);
    } catch (err) {
      if (this.closedReason === null) this._giveUp(new ConnectionClosedError(`connection to ${this.endpoint} failed: ${err.message}`));
    }
  }

  _deliver(frames) {
    let msg;
    try {
      msg = wire.decode(frames);
    } catch (err) {
      // the call it answers (when its id can be read) fails with the reason: never a hang
      const callId = wire.peekCallId(frames);
      if (callId) this._settle(callId, null, new ProtocolError(`undecodable reply: ${err.message}`));
      return;
    }
    this._settle(msg.callId, msg, null);
  }

  _settle(callId, msg, error) {
    const entry = this.pending.get(callId);
    if (entry === undefined) return; // a late reply (its caller gave up) or an unknown id
    this.pending.delete(callId);
    if (entry.timer !== null) clearTimeout(entry.timer);
    if (entry.onAbort !== null) entry.signal.removeEventListener("abort", entry.onAbort);
    if (error !== null) entry.reject(error);
    else entry.resolve(msg);
  }

  _failAll(error) {
    for (const callId of [...this.pending.keys()]) this._settle(callId, null, error);
  }

  _giveUp(error) {
    if (this.closedReason !== null) return;
    this.closedAs = error.constructor;
    this._failAll(error);
    this.close(error.message);
  }

  _handshakeError() {
    if (this.curve) return new SecurityError(`CURVE handshake with ${this.endpoint} failed (wrong server public key?)`);
    return new CommunicationError(`handshake with ${this.endpoint} failed (is it going away, or does it require CURVE?)`);
  }

  _clearConnectTimer() {
    if (this._connectTimer !== null) {
      clearTimeout(this._connectTimer);
      this._connectTimer = null;
    }
  }
}
