// `new Client(url, { WebSocket })` compiles under strict tsc, without a cast, with the DOM's
// WebSocket and with the `ws` package's as `@types/ws` declares it (not a dependency here: the
// class below copies the shape that matters, from @types/ws 8.18: an overloaded constructor
// whose first overload takes `null`, and handler properties whose events are richer than what
// the client reads). `npm run check:contract` compiles this file.
import { Client } from "swoft-ws-client";

declare namespace WsLike {
  interface Event {
    type: string;
    target: WsLike;
  }
  interface ErrorEvent {
    error: any;
    message: string;
    type: string;
    target: WsLike;
  }
  interface CloseEvent {
    wasClean: boolean;
    code: number;
    reason: string;
    type: string;
    target: WsLike;
  }
  interface MessageEvent {
    data: string | ArrayBuffer | ArrayBuffer[] | Uint8Array;
    type: string;
    target: WsLike;
  }
  interface ClientOptions {
    protocol?: string | undefined;
    handshakeTimeout?: number | undefined;
  }
}

declare class WsLike {
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly url: string;
  onopen: ((event: WsLike.Event) => void) | null;
  onerror: ((event: WsLike.ErrorEvent) => void) | null;
  onclose: ((event: WsLike.CloseEvent) => void) | null;
  onmessage: ((event: WsLike.MessageEvent) => void) | null;
  constructor(address: null);
  constructor(address: string | URL, options?: WsLike.ClientOptions);
  constructor(address: string | URL, protocols?: string | string[], options?: WsLike.ClientOptions);
  close(code?: number, data?: string | Uint8Array): void;
  send(data: string | ArrayBufferView | ArrayBuffer, cb?: (err?: Error) => void): void;
  send(data: string | ArrayBufferView | ArrayBuffer, options: { binary?: boolean }, cb?: (err?: Error) => void): void;
  terminate(): void;
}

export function withWs(url: string): Client {
  return new Client(url, { WebSocket: WsLike });
}

export function withDom(url: string): Client {
  return new Client(url, { WebSocket });
}
