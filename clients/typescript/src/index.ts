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

/** The largest delay a timer can take (2^31 - 1 ms, about 24.8 days): longer ones are clamped
 * to it (`setTimeout` would otherwise fire at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The close codes after which the client reconnects by default: the server going away or
 * restarting (1001, 1012), no close frame or an abnormal drop (1005, 1006), a server error or
 * overload (1011, 1013), a bad gateway (1014). Any other code (1000 normal, 1002 protocol error,
 * 1003 unacceptable data, 1007 invalid payload, 1008 policy, 1009 too big, 1010 missing
 * extension, 1015 TLS, 4000 the session resumed on another connection, other app codes) means
 * "do not come back" unless `reconnectOn` says otherwise — but for swoft-ws's own 1008
 * `slow consumer` ({@link SLOW_CONSUMER}: the client fell behind, its outbound queue filled),
 * which is retried (the session resumes what it missed). */
export const RECONNECT_CODES: readonly number[] = [1001, 1005, 1006, 1011, 1012, 1013, 1014];

/** The reason of swoft-ws's close 1008 for a client whose outbound queue filled: retried by
 * default, unlike any other 1008 (a policy violation). */
export const SLOW_CONSUMER = "slow consumer";

/** Whether the default policy retries a close with this code and reason. */
function retriedByDefault(code: number, reason: string): boolean {
  return RECONNECT_CODES.includes(code) || (code === 1008 && reason === SLOW_CONSUMER);
}

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
  /** Attempts after one drop before giving up (default `Infinity`); then the client closes.
   * The count restarts only after a connection stayed open `stableAfter` ms, so a server that
   * accepts and closes at once does not reset it. */
  maxAttempts?: number;
  /** How long a connection must stay open to count as a success that restarts the attempt
   * count and the backoff (default 5,000 ms). */
  stableAfter?: number;
  /** Which close codes are retried: a list, or a predicate (default {@link RECONNECT_CODES}). */
  reconnectOn?: readonly number[] | ((code: number, reason: string) => boolean);
}

/** Options of {@link Client}. */
export interface ClientOptions {
  /** The WebSocket implementation; default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Subprotocols to offer. */
  protocols?: string | string[];
  /** The default timeout of a request, in milliseconds (default 10,000); `Infinity` for none;
   * above {@link MAX_TIMER_MS} it is clamped to it. */
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
   * call (time spent waiting for a connection included). `Infinity`: no timeout; above
   * {@link MAX_TIMER_MS}: clamped to it; not a positive number: the request rejects with a
   * `RangeError`. */
  timeout?: number;
}

/** The base of every error the client rejects with. */
export class ClientError extends Error {
  /** `server` (an error reply), `timeout`, `closed`, `encode` (the data could not be JSON). */
  readonly kind: "server" | "timeout" | "closed" | "encode";
  /** The request's command. */
  readonly command: string;
  constructor(kind: "server" | "timeout" | "closed" | "encode", command: string, message: string) {
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

/** The data of a request, a send or a handler's answer cannot be encoded as JSON (a BigInt, a
 * circular object, a throwing `toJSON`): nothing was sent. A handler's answer that cannot be
 * encoded is answered as a refusal with code `encode`. */
export class EncodeError extends ClientError {
  constructor(command: string, cause: unknown) {
    super("encode", command, `${command}: the data cannot be encoded as JSON: ${cause instanceof Error ? cause.message : String(cause)}`);
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
  /** The connection closed (also a drop that will be retried). `gaveUp` is set when the client
   * stops reconnecting on its own: `code` (a close code not retried, see `reconnectOn`) or
   * `attempts` (`maxAttempts` used up); it is absent after `close()` and `reconnect: false`. */
  close: { code: number; reason: string; willReconnect: boolean; gaveUp?: "code" | "attempts" };
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
  const base = Math.min(max, MAX_TIMER_MS, initial * Math.pow(factor, Math.max(0, attempt - 1)));
  return Math.round(base * (1 - jitter * random));
}

/** Throws a RangeError naming `what` unless `ok`. */
function check(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new RangeError(`swoft-ws-client: ${what} (got ${String(value)})`);
}

/** A timeout: a positive number of milliseconds or `Infinity`. */
function validTimeout(ms: unknown): ms is number {
  return typeof ms === "number" && ms > 0;
}

/** Validates the options a client is made with (RangeError on the first bad one). */
function checkOptions(options: ClientOptions): void {
  const t = options.requestTimeout;
  check(t === undefined || validTimeout(t), "requestTimeout must be a positive number of ms or Infinity", t);
  const q = options.queueLimit;
  check(q === undefined || q === Infinity || (Number.isInteger(q) && q >= 0), "queueLimit must be a whole number >= 0 or Infinity", q);
  const r = options.reconnect;
  if (r === undefined || r === false) return;
  const finite = (v: unknown) => typeof v === "number" && Number.isFinite(v);
  check(r.initialDelay === undefined || (finite(r.initialDelay) && r.initialDelay >= 0), "reconnect.initialDelay must be a finite number of ms >= 0", r.initialDelay);
  check(r.maxDelay === undefined || (typeof r.maxDelay === "number" && r.maxDelay > 0), "reconnect.maxDelay must be a positive number of ms (Infinity: clamped to 2^31 - 1)", r.maxDelay);
  check(r.factor === undefined || (finite(r.factor) && r.factor >= 1), "reconnect.factor must be a finite number >= 1", r.factor);
  check(r.jitter === undefined || (finite(r.jitter) && r.jitter >= 0 && r.jitter <= 1), "reconnect.jitter must be between 0 and 1", r.jitter);
  const m = r.maxAttempts;
  check(m === undefined || m === Infinity || (Number.isInteger(m) && m >= 0), "reconnect.maxAttempts must be a whole number >= 0 or Infinity", m);
  check(r.stableAfter === undefined || (finite(r.stableAfter) && r.stableAfter >= 0), "reconnect.stableAfter must be a finite number of ms >= 0", r.stableAfter);
  const on = r.reconnectOn;
  check(on === undefined || typeof on === "function" || Array.isArray(on), "reconnect.reconnectOn must be a list of close codes or a function", on);
}

/** Throws a RangeError unless `code` and `reason` are what `WebSocket.close` accepts: 1000 or
 * 3000-4999, a reason of at most 123 UTF-8 bytes. */
function checkClose(code: unknown, reason: unknown): void {
  check(code === 1000 || (Number.isInteger(code) && (code as number) >= 3000 && (code as number) <= 4999), "close code must be 1000 or 3000-4999", code);
  check(typeof reason === "string", "close reason must be a string", reason);
  const bytes = new TextEncoder().encode(reason as string).length;
  check(bytes <= 123, "close reason must be at most 123 UTF-8 bytes", `${bytes} bytes`);
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
  /** When the current connection opened (Date.now()), if it did. */
  private openedAt: number | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private opens = 0;
  private token: string | undefined;
  private offset: string | undefined;
  private resuming = false;

  constructor(url: string, options: ClientOptions = {}) {
    this.url = url;
    checkOptions(options);
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
   * {@link RequestError} (the server's error reply), a {@link TimeoutError}, a
   * {@link ClosedError} (closed, dropped while out, or the wait queue full), an
   * {@link EncodeError} (`data` is not JSON: nothing sent) or a `RangeError` (a bad timeout).
   */
  request<T = unknown>(cmd: string, data?: unknown, options: RequestOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) {
        reject(new ClosedError(cmd, "the client is closed"));
        return;
      }
      const ms = options.timeout ?? this.options.requestTimeout ?? 10_000;
      if (!validTimeout(ms)) {
        reject(new RangeError(`swoft-ws-client: the timeout of ${cmd} must be a positive number of ms or Infinity (got ${String(ms)})`));
        return;
      }
      const id = this.nextId++;
      let frame: string;
      try {
        frame = JSON.stringify(data === undefined ? { cmd, id } : { cmd, data, id });
      } catch (error) {
        reject(new EncodeError(cmd, error));
        return;
      }
      const p: Pending = {
        command: cmd,
        resolve: resolve as (d: unknown) => void,
        reject,
        timer: undefined,
        frame: undefined,
      };
      if (ms !== Infinity) p.timer = setTimeout(() => this.settle(id, new TimeoutError(cmd, ms)), Math.min(ms, MAX_TIMER_MS));
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
   * Throws a {@link ClosedError} when closed or when the queue is full, an
   * {@link EncodeError} when `data` is not JSON. */
  send(cmd: string, data?: unknown): void {
    if (this.closed) throw new ClosedError(cmd, "the client is closed");
    let frame: string;
    try {
      frame = JSON.stringify(data === undefined ? { cmd } : { cmd, data });
    } catch (error) {
      throw new EncodeError(cmd, error);
    }
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
   * `code` property, else `error`); an answer that cannot be encoded as JSON answers the error
   * `encode` (and an {@link EncodeError} goes to the `error` event). An answer ready after its
   * connection dropped is dropped: ack numbers belong to one connection. One handler per
   * command; returns the removal. */
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
   * reconnect; waiting and pending requests are rejected with a {@link ClosedError}. Throws a
   * `RangeError`, and changes nothing, when `code` is not 1000 or 3000-4999 or `reason` is
   * longer than 123 UTF-8 bytes (what `WebSocket.close` refuses). */
  close(code = 1000, reason = ""): void {
    if (this.closed) return;
    checkClose(code, reason);
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const id of [...this.pending.keys()]) this.settle(id, new ClosedError(this.pending.get(id)!.command, "the client was closed"));
    this.queue.length = 0;
    const ws = this.ws;
    if (ws && ws.readyState <= OPEN) {
      try {
        ws.close(code, reason);
      } catch (error) {
        // Not expected after the checks above; the socket must end all the same.
        this.emit("error", { error });
        try {
          ws.close();
        } catch {
          (ws as { terminate?: () => void }).terminate?.();
        }
      }
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
      this.openedAt = Date.now();
      this.emit("open", { reconnect });
      this.flush();
    };
    ws.onmessage = (ev) => this.frame(ws, ev.data);
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
    // A connection that stayed open long enough was a success: the count starts again.
    if (this.openedAt !== undefined && Date.now() - this.openedAt >= ((policy || {}).stableAfter ?? 5_000)) this.attempt = 0;
    this.openedAt = undefined;
    if (this.closed || policy === false) {
      this.emit("close", { code, reason, willReconnect: false });
      if (!this.closed) this.giveUp(`the connection closed (${code})`);
      return;
    }
    const on = policy?.reconnectOn;
    const retried = on === undefined ? retriedByDefault(code, reason) : typeof on === "function" ? on(code, reason) : on.includes(code);
    const gaveUp = !retried ? "code" : this.attempt >= (policy?.maxAttempts ?? Infinity) ? "attempts" : undefined;
    if (gaveUp) {
      this.emit("close", { code, reason, willReconnect: false, gaveUp });
      this.giveUp(
        gaveUp === "code"
          ? `gave up reconnecting: close code ${code}${reason ? ` (${reason})` : ""} is not retried`
          : `gave up reconnecting after ${this.attempt} attempts`,
      );
      return;
    }
    this.emit("close", { code, reason, willReconnect: true });
    this.attempt += 1;
    this.resuming = this.options.resume !== false && this.token !== undefined;
    const delay = backoffDelay(this.attempt, policy || {});
    this.emit("reconnecting", { attempt: this.attempt, delay });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** No more attempts: closed for good, and what waited is rejected. */
  private giveUp(why: string): void {
    this.closed = true;
    for (const [id, p] of [...this.pending]) this.settle(id, new ClosedError(p.command, why));
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

  private frame(ws: WebSocketLike, raw: unknown): void {
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
    if (msg.ack !== undefined && cmd !== "$ack") return this.answer(ws, cmd, msg.ack, msg.data);
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

  /** Answers a server request that came on `ws` with the handler's result, on `ws` only (an
   * ack number means nothing to the next connection). */
  private answer(ws: WebSocketLike, cmd: string, ack: unknown, data: unknown): void {
    const reply = (body: Record<string, unknown>) => {
      if (this.ws !== ws || ws.readyState !== OPEN) return;
      let text: string;
      try {
        text = JSON.stringify({ cmd: "$ack", ack, ...body });
      } catch (cause) {
        const error = new EncodeError(cmd, cause);
        this.emit("error", { error });
        text = JSON.stringify({ cmd: "$ack", ack, error: { code: "encode", message: error.message } });
      }
      try {
        ws.send(text);
      } catch (error) {
        this.emit("error", { error });
      }
    };
    const fail = (error: unknown) => {
      let code = "error";
      let message = "the handler failed";
      try {
        const e = error as { code?: unknown; message?: unknown };
        code = typeof e?.code === "string" ? e.code : "error";
        message = typeof e?.message === "string" ? e.message : String(error);
      } catch {
        // an error whose properties or String() throw: the defaults stand
      }
      reply({ error: { code, message } });
    };
    const handler = this.handlers.get(cmd);
    if (!handler) {
      reply({ error: { code: "unknown_command", message: `no handler for ${cmd}` } });
      return;
    }
    try {
      Promise.resolve(handler(data))
        .then((r) => reply({ data: r === undefined ? null : r }), fail)
        .catch((error) => this.emit("error", { error }));
    } catch (error) {
      fail(error);
    }
  }
}
