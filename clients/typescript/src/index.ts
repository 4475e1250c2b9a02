/**
 * swoft-ws-client: the client side of swoft-ws's JSON protocol, for browsers and Node 20+.
 *
 * - `request(cmd, data, {timeout})` sends `{"cmd","data","id"}` and resolves to the reply's
 *   `data`; an error reply `{"cmd","error":{"code","message"},"id"}` rejects with a
 *   {@link RequestError} carrying the server's `code` and `message`.
 * - `on(cmd, handler)` receives pushes `{"cmd","data"}`; `handle(cmd, handler)` answers the
 *   server's requests `{"cmd","data","ack":N}` with `{"cmd":"$ack","ack":N,"data":R}` (or an
 *   `error` when the handler throws).
 * - The connection is re-opened after a drop, with exponential backoff and jitter; a session
 *   the server keeps (its first frame `{"cmd":"$session","data":{"token":T}}`) is resumed with
 *   `resume=T&off=O` (O: the last push's `off`), and the outcome is reported (`resumed`).
 * - Requests made while disconnected wait in a bounded queue, each under its own timeout, and
 *   go out once the connection is open again. `close()` ends it all.
 *
 * No runtime dependencies: give a `WebSocket` implementation (e.g. `import { WebSocket } from
 * "ws"`) where there is no global one.
 */

/** An event handler property of a {@link WebSocketLike}. Its parameter is checked both ways
 * (like a method's), so implementations whose handlers take a richer event (the DOM's `Event`,
 * `ws`'s `WebSocket.MessageEvent`, ...) fit without a cast. */
export type SocketHandler<E> = { bivarianceHack(ev: E): void }["bivarianceHack"];

/** What the client needs of a WebSocket (the browser's, or the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: SocketHandler<unknown> | null;
  onmessage: SocketHandler<{ data: unknown }> | null;
  onclose: SocketHandler<{ code: number; reason: string }> | null;
  onerror: SocketHandler<unknown> | null;
}

/** A `WebSocket` constructor: `new (url, protocols?)`. Both the DOM's `WebSocket` and the `ws`
 * package's (whose `@types/ws` overloads include `new (address: null)`) are accepted as they are. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The reconnection policy: delays in milliseconds. */
export interface ReconnectOptions {
  /** The delay before the first attempt after a drop (default 250 ms). */
  initialDelay?: number;
  /** The largest delay between attempts (default 10,000 ms). */
  maxDelay?: number;
  /** The growth of the delay per attempt (default 2). */
  factor?: number;
  /** The share of each delay taken off at random, 0 to 1 (default 0.5): a delay is in
   * `[d * (1 - jitter), d]`, so clients dropped together do not come back together. */
  jitter?: number;
  /** Attempts after one drop before giving up (default `Infinity`); then the client closes. */
  maxAttempts?: number;
}

/** Options of {@link Client}. */
export interface ClientOptions {
  /** The WebSocket implementation; default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Subprotocols to offer. */
  protocols?: string | string[];
  /** The default timeout of a request, in milliseconds (default 10,000). */
  requestTimeout?: number;
  /** How many requests (and sends) may wait while disconnected (default 100); past that a
   * request is rejected at once with a {@link ClosedError}. */
  queueLimit?: number;
  /** The reconnection policy, or `false` not to reconnect (default: reconnect). */
  reconnect?: ReconnectOptions | false;
  /** Whether to resume the server's session on reconnect (default true). */
  resume?: boolean;
}

/** Options of one request. */
export interface RequestOptions {
  /** Milliseconds until the request is rejected with a {@link TimeoutError}, counted from the
   * call (time spent waiting for a connection included). */
  timeout?: number;
}

/** The base of every error the client rejects with. */
export class ClientError extends Error {
  /** `server` (an error reply), `timeout`, `closed`. */
  readonly kind: "server" | "timeout" | "closed";
  /** The request's command. */
  readonly command: string;
  constructor(kind: "server" | "timeout" | "closed", command: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.kind = kind;
    this.command = command;
  }
}

/** The server answered with an error reply: `code` and `message` are the server's. */
export class RequestError extends ClientError {
  /** The server's stable code (`invalid_data`, `forbidden`, ...). */
  readonly code: string;
  constructor(command: string, code: string, message: string) {
    super("server", command, message);
    this.code = code;
  }
}

/** No answer within the request's timeout. */
export class TimeoutError extends ClientError {
  constructor(command: string, ms: number) {
    super("timeout", command, `no answer to ${command} within ${ms} ms`);
  }
}

/** The client was closed, the connection dropped while the request was out (it may or may
 * not have been handled), or the queue was full. */
export class ClosedError extends ClientError {
  constructor(command: string, why: string) {
    super("closed", command, `${command}: ${why}`);
  }
}

/** The outcome of a reconnect when the server keeps sessions. */
export type ResumeOutcome =
  | { resumed: true; replayed: number }
  | { resumed: false; reason: string };

/** The client's events and what their listeners get. */
export interface ClientEvents {
  /** The connection is open (the first time and after each reconnect). */
  open: { reconnect: boolean };
  /** The connection closed (also a drop that will be retried). */
  close: { code: number; reason: string; willReconnect: boolean };
  /** A reconnect attempt is scheduled in `delay` ms. */
  reconnecting: { attempt: number; delay: number };
  /** What the server said of the resumed session. */
  resumed: ResumeOutcome;
  /** Something went wrong that no request owns: an unreadable frame, an error reply without
   * an id, a failing handler, a socket error. */
  error: { error: unknown };
}

/** A push handler or event listener removal. */
export type Unsubscribe = () => void;

/** The delay before attempt `attempt` (1-based) under `options`; `random` in [0, 1). */
export function backoffDelay(attempt: number, options: ReconnectOptions = {}, random = Math.random()): number {
  const initial = options.initialDelay ?? 250;
  const max = options.maxDelay ?? 10_000;
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const base = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt - 1)));
  return Math.round(base * (1 - jitter * random));
}

interface Pending {
  command: string;
  resolve: (data: unknown) => void;
  reject: (error: ClientError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The frame, while it waits for a connection. */
  frame: string | undefined;
}

type Handler = (data: unknown) => unknown;

const OPEN = 1;

/**
 * A connection to one swoft-ws module (`ws://host/chat?name=alice`) speaking its JSON protocol,
 * re-opened after drops. It starts connecting when made.
 */
export class Client {
  readonly url: string;
  private readonly options: ClientOptions;
  private readonly Ws: WebSocketConstructor;
  private ws: WebSocketLike | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Frames waiting for a connection: ids of requests, or fire-and-forget frames. */
  private readonly queue: Array<number | string> = [];
  private readonly pushes = new Map<string, Set<Handler>>();
  private readonly handlers = new Map<string, Handler>();
  private readonly listeners = new Map<keyof ClientEvents, Set<(ev: never) => void>>();
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private opens = 0;
  private token: string | undefined;
  private offset: string | undefined;
  private resuming = false;

  constructor(url: string, options: ClientOptions = {}) {
    this.url = url;
    this.options = options;
    const Ws = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ws) {
      throw new Error("no WebSocket implementation: pass `WebSocket` in the options (e.g. from the `ws` package)");
    }
    this.Ws = Ws;
    this.open();
  }

  /** `connecting`, `open`, `reconnecting` (waiting to retry) or `closed` (for good). */
  get state(): "connecting" | "open" | "reconnecting" | "closed" {
    if (this.closed) return "closed";
    if (this.retryTimer !== undefined) return "reconnecting";
    return this.ws?.readyState === OPEN ? "open" : "connecting";
  }

  /** The current socket (for diagnostics and tests), if any. */
  get socket(): WebSocketLike | undefined {
    return this.ws;
  }

  /** The session token and last push offset the next reconnect resumes with, if any. */
  get session(): { token: string | undefined; offset: string | undefined } {
    return { token: this.token, offset: this.offset };
  }

  /** Resolves once the connection is open (at once if it is); rejects if the client closes. */
  opened(): Promise<void> {
    if (this.state === "open") return Promise.resolve();
    if (this.closed) return Promise.reject(new ClosedError("open", "the client is closed"));
    return new Promise((resolve, reject) => {
      const offOpen = this.onEvent("open", () => {
        offOpen();
        offClose();
        resolve();
      });
      const offClose = this.onEvent("close", (ev) => {
        if (!ev.willReconnect) {
          offOpen();
          offClose();
          reject(new ClosedError("open", `closed (${ev.code})`));
        }
      });
    });
  }

  /**
   * Sends `cmd` with `data` and resolves to the reply's `data`. Rejects with a
   * {@link RequestError} (the server's error reply), a {@link TimeoutError}, or a
   * {@link ClosedError} (closed, dropped while out, or the wait queue full).
   */
  request<T = unknown>(cmd: string, data?: unknown, options: RequestOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) {
        reject(new ClosedError(cmd, "the client is closed"));
        return;
      }
      const id = this.nextId++;
      const frame = JSON.stringify(data === undefined ? { cmd, id } : { cmd, data, id });
      const ms = options.timeout ?? this.options.requestTimeout ?? 10_000;
      const p: Pending = {
        command: cmd,
        resolve: resolve as (d: unknown) => void,
        reject,
        timer: undefined,
        frame: undefined,
      };
      p.timer = setTimeout(() => this.settle(id, new TimeoutError(cmd, ms)), ms);
      this.pending.set(id, p);
      if (this.ws?.readyState === OPEN) {
        this.ws.send(frame);
      } else if (this.queue.length >= this.queueLimit()) {
        this.settle(id, new ClosedError(cmd, `not connected and ${this.queue.length} requests already wait`));
      } else {
        p.frame = frame;
        this.queue.push(id);
      }
    });
  }

  /** Sends `cmd` with `data` without an id (no reply expected); queued while disconnected.
   * Throws a {@link ClosedError} when closed or when the queue is full. */
  send(cmd: string, data?: unknown): void {
    if (this.closed) throw new ClosedError(cmd, "the client is closed");
    const frame = JSON.stringify(data === undefined ? { cmd } : { cmd, data });
    if (this.ws?.readyState === OPEN) {
      this.ws.send(frame);
    } else if (this.queue.length >= this.queueLimit()) {
      throw new ClosedError(cmd, "not connected and the queue is full");
    } else {
      this.queue.push(frame);
    }
  }

  /** Calls `handler` with the `data` of every push of `cmd`; returns the unsubscribe. */
  on<T = unknown>(cmd: string, handler: (data: T) => void): Unsubscribe {
    let set = this.pushes.get(cmd);
    if (!set) this.pushes.set(cmd, (set = new Set()));
    const h = handler as Handler;
    set.add(h);
    return () => {
      set.delete(h);
    };
  }

  /** Answers the server's requests of `cmd` (`{"cmd","data","ack":N}`) with what `handler`
   * returns or resolves to; a throw or rejection answers an error (`code` from the error's
   * `code` property, else `error`). One handler per command; returns the removal. */
  handle<T = unknown>(cmd: string, handler: (data: T) => unknown): Unsubscribe {
    const h = handler as Handler;
    this.handlers.set(cmd, h);
    return () => {
      if (this.handlers.get(cmd) === h) this.handlers.delete(cmd);
    };
  }

  /** Listens to one of the client's events; returns the removal. */
  onEvent<K extends keyof ClientEvents>(event: K, listener: (ev: ClientEvents[K]) => void): Unsubscribe {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const l = listener as (ev: never) => void;
    set.add(l);
    return () => {
      set.delete(l);
    };
  }

  /** Closes for good (code 1000 by default, which also ends the server's session): no
   * reconnect; waiting and pending requests are rejected with a {@link ClosedError}. */
  close(code = 1000, reason = ""): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const id of [...this.pending.keys()]) this.settle(id, new ClosedError(this.pending.get(id)!.command, "the client was closed"));
    this.queue.length = 0;
    const ws = this.ws;
    if (ws && ws.readyState <= OPEN) {
      ws.close(code, reason);
    } else {
      this.emit("close", { code, reason, willReconnect: false });
    }
  }

  private queueLimit(): number {
    return this.options.queueLimit ?? 100;
  }

  private emit<K extends keyof ClientEvents>(event: K, ev: ClientEvents[K]): void {
    for (const l of [...(this.listeners.get(event) ?? [])]) {
      try {
        (l as (ev: ClientEvents[K]) => void)(ev);
      } catch (error) {
        if (event !== "error") this.emit("error", { error });
      }
    }
  }

  private settle(id: number, outcome: ClientError | { data: unknown }): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (p.frame !== undefined) {
      const at = this.queue.indexOf(id);
      if (at >= 0) this.queue.splice(at, 1);
    }
    if (outcome instanceof ClientError) p.reject(outcome);
    else p.resolve(outcome.data);
  }

  private connectUrl(): string {
    if (!this.resuming || this.token === undefined) return this.url;
    const u = new URL(this.url);
    u.searchParams.set("resume", this.token);
    if (this.offset !== undefined) u.searchParams.set("off", this.offset);
    return u.toString();
  }

  private open(): void {
    this.retryTimer = undefined;
    let ws: WebSocketLike;
    try {
      ws = new this.Ws(this.connectUrl(), this.options.protocols);
    } catch (error) {
      this.emit("error", { error });
      this.dropped(1006, String(error));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const reconnect = this.opens++ > 0;
      this.attempt = 0;
      this.emit("open", { reconnect });
      this.flush();
    };
    ws.onmessage = (ev) => this.frame(ev.data);
    ws.onerror = (error) => this.emit("error", { error });
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.dropped(ev.code, ev.reason);
    };
  }

  /** The socket closed: reject what was out, then retry unless closed for good. */
  private dropped(code: number, reason: string): void {
    for (const [id, p] of [...this.pending]) {
      if (p.frame === undefined) this.settle(id, new ClosedError(p.command, `the connection closed (${code}) before the answer`));
    }
    const policy = this.options.reconnect;
    const max = policy === false ? 0 : policy?.maxAttempts ?? Infinity;
    const willReconnect = !this.closed && this.attempt < max;
    this.emit("close", { code, reason, willReconnect });
    if (!willReconnect) {
      if (!this.closed) this.giveUp();
      return;
    }
    this.attempt += 1;
    this.resuming = this.options.resume !== false && this.token !== undefined;
    const delay = backoffDelay(this.attempt, policy || {});
    this.emit("reconnecting", { attempt: this.attempt, delay });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** No more attempts: closed for good, and what waited is rejected. */
  private giveUp(): void {
    this.closed = true;
    for (const [id, p] of [...this.pending]) this.settle(id, new ClosedError(p.command, "gave up reconnecting"));
    this.queue.length = 0;
  }

  /** Sends what waited for the connection, in order. */
  private flush(): void {
    const ws = this.ws;
    while (ws?.readyState === OPEN && this.queue.length > 0) {
      const next = this.queue.shift()!;
      if (typeof next === "string") {
        ws.send(next);
        continue;
      }
      const p = this.pending.get(next);
      if (p?.frame === undefined) continue;
      const frame = p.frame;
      p.frame = undefined;
      ws.send(frame);
    }
  }

  private frame(raw: unknown): void {
    let msg: Record<string, unknown>;
    try {
      const text = typeof raw === "string" ? raw : new TextDecoder().decode(raw as ArrayBuffer);
      msg = JSON.parse(text);
      if (typeof msg !== "object" || msg === null || Array.isArray(msg)) throw new Error("not an object");
    } catch (error) {
      this.emit("error", { error: new Error(`an unreadable frame: ${String(error)}`) });
      return;
    }
    const cmd = typeof msg.cmd === "string" ? msg.cmd : "";
    if (cmd === "$session") return this.onSession(msg.data);
    if (msg.ack !== undefined && cmd !== "$ack") return this.answer(cmd, msg.ack, msg.data);
    const id = msg.id;
    if (typeof id === "number" && this.pending.has(id)) {
      const err = msg.error as { code?: unknown; message?: unknown } | undefined;
      if (err && typeof err === "object") {
        this.settle(id, new RequestError(cmd, String(err.code ?? "error"), String(err.message ?? "")));
      } else {
        this.settle(id, { data: msg.data });
      }
      return;
    }
    if (id !== undefined) return; // a late answer to a request that timed out
    if (msg.error !== undefined) {
      const err = msg.error as { code?: unknown; message?: unknown };
      this.emit("error", { error: new RequestError(cmd, String(err?.code ?? "error"), String(err?.message ?? "")) });
      return;
    }
    if (typeof msg.off === "string") this.offset = msg.off;
    for (const h of [...(this.pushes.get(cmd) ?? [])]) {
      try {
        h(msg.data);
      } catch (error) {
        this.emit("error", { error });
      }
    }
  }

  /** `{"cmd":"$session","data":{"token","resumed","replayed"|"reason"}}`. */
  private onSession(data: unknown): void {
    const d = (data ?? {}) as { token?: unknown; resumed?: unknown; replayed?: unknown; reason?: unknown };
    const wasResuming = this.resuming;
    this.resuming = false;
    if (typeof d.token === "string") this.token = d.token;
    if (d.resumed === true) {
      this.emit("resumed", { resumed: true, replayed: Number(d.replayed ?? 0) });
      return;
    }
    this.offset = undefined; // a new session: the old offsets mean nothing to it
    if (wasResuming) this.emit("resumed", { resumed: false, reason: String(d.reason ?? "unknown") });
  }

  /** Answers a server request with the handler's result. */
  private answer(cmd: string, ack: unknown, data: unknown): void {
    const reply = (body: Record<string, unknown>) => {
      if (this.ws?.readyState === OPEN) this.ws.send(JSON.stringify({ cmd: "$ack", ack, ...body }));
    };
    const fail = (error: unknown) => {
      const e = error as { code?: unknown; message?: unknown };
      const code = typeof e?.code === "string" ? e.code : "error";
      const message = typeof e?.message === "string" ? e.message : String(error);
      reply({ error: { code, message } });
    };
    const handler = this.handlers.get(cmd);
    if (!handler) {
      reply({ error: { code: "unknown_command", message: `no handler for ${cmd}` } });
      return;
    }
    try {
      Promise.resolve(handler(data)).then((r) => reply({ data: r === undefined ? null : r }), fail);
    } catch (error) {
      fail(error);
    }
  }
}
