// mpc-client.js — the conformance kit's own JavaScript client of the mpc-websocket protocol
// (PROTOCOL.md), as a browser wallet speaks it: JSON-RPC 2.0 over the browser's WebSocket.
// Classic script: defines the global MpcClient.
"use strict";

class MpcError extends Error {
  // An error response (§2.3): code, message and the optional data string.
  constructor(method, error) {
    super(`${method}: error ${error.code} ${error.message}${error.data ? " (" + error.data + ")" : ""}`);
    this.code = error.code;
    this.data = error.data;
  }
}

class MpcClient {
  // name labels this connection in the log; log collects every frame {t, conn, dir, data}.
  constructor(url, { name = "A", timeoutMs = 5000, log = [], t0 = performance.now() } = {}) {
    this.url = url;
    this.name = name;
    this.timeoutMs = timeoutMs;
    this.log = log;
    this.t0 = t0;
    this.nextId = 1; // §2.1: clients use positive integer ids; 0 is the events' id (§2.4)
    this.pending = new Map(); // id -> {resolve, reject, method}
    this.events = []; // [{name, payload, taken}]
    this.waiters = new Set(); // re-checked on every event
    this.closed = null; // why the connection ended, once it did
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve(this);
      this.ws.onerror = () => {}; // the close that follows carries the code
      this.ws.onclose = (ev) => {
        this.closed = `closed (code ${ev.code}${ev.reason ? ", " + ev.reason : ""})`;
        reject(new Error(`WebSocket ${url} did not open: ${this.closed}`));
        for (const p of this.pending.values()) p.reject(new Error(`${p.method}: connection ${this.name} ${this.closed}`));
        this.pending.clear();
        for (const w of this.waiters) w.check();
      };
    });
    this.ws.onmessage = (ev) => this.receive(ev.data);
  }

  // connect opens a connection and waits until it is open (bounded by the timeout).
  static async connect(url, opts) {
    const c = new MpcClient(url, opts);
    await withTimeout(c.opened, c.timeoutMs, `WebSocket ${url} open on ${c.name}`);
    return c;
  }

  record(dir, data) {
    this.log.push({ t: performance.now() - this.t0, conn: this.name, dir, data });
  }

  receive(data) {
    if (typeof data !== "string") return; // §1.2: text frames only
    this.record("←", data);
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (msg.id === 0 && Array.isArray(msg.result)) { // §2.4 event: ["<name>", payload]
      this.events.push({ name: msg.result[0], payload: msg.result[1], taken: false });
      for (const w of this.waiters) w.check();
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error) p.reject(new MpcError(p.method, msg.error));
    else p.resolve(msg.result === undefined ? null : msg.result); // §2.2: omitted result = null
  }

  // call sends a request and resolves with its result (rejects with MpcError or on timeout).
  call(method, params) {
    if (this.closed) return Promise.reject(new Error(`${method}: connection ${this.name} ${this.closed}`));
    const id = this.nextId++;
    const frame = JSON.stringify({ jsonrpc: "2.0", id, method, params });
    const answer = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, method }));
    this.record("→", frame);
    this.ws.send(frame);
    return withTimeout(answer, this.timeoutMs, `a response to ${method} on ${this.name}`)
      .finally(() => this.pending.delete(id));
  }

  // collect resolves with the payloads of the first n unconsumed events named name for which
  // match holds, consuming them; it rejects when fewer arrive within the timeout.
  collect(name, n, match = () => true) {
    let waiter;
    const got = [];
    const done = new Promise((resolve, reject) => {
      waiter = {
        check: () => {
          for (const ev of this.events) {
            if (got.length < n && !ev.taken && ev.name === name && match(ev.payload)) {
              ev.taken = true;
              got.push(ev.payload);
            }
          }
          if (got.length === n) resolve(got);
          else if (this.closed) reject(new Error(`connection ${this.name} ${this.closed} with ${got.length} of ${n} ${name} events`));
        },
      };
    });
    this.waiters.add(waiter);
    waiter.check();
    const what = () => `${n} ${name} event(s) on ${this.name} (got ${got.length}: ${JSON.stringify(got).slice(0, 300)})`;
    return withTimeout(done, this.timeoutMs, what).finally(() => this.waiters.delete(waiter));
  }

  // waitEvent resolves with the payload of one event named name for which match holds.
  async waitEvent(name, match) {
    return (await this.collect(name, 1, match))[0];
  }

  close() {
    this.ws.close(1000, "done");
  }
}

// withTimeout bounds a promise: it rejects "no <what> within <ms> ms" when time runs out.
function withTimeout(promise, ms, what) {
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${typeof what === "function" ? what() : what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
