// Type declarations for herald.js, Herald's browser client. See README.md.

/** How the client talks to a node. */
export type Transport = 'websocket' | 'sse' | 'longpoll';

/**
 * - `connecting`: an attempt is in progress;
 * - `connected`: the node welcomed the client (WebSocket, SSE) or answered
 *   the first poll (long polling);
 * - `disconnected`: waiting to reconnect, or (SSE, long polling) idle because
 *   no channel has a handler;
 * - `closed`: for good, after `close()` or a disconnect with `reconnect: false`.
 */
export type State = 'connecting' | 'connected' | 'disconnected' | 'closed';

/**
 * The part of a WebSocket that the client uses. It reads `data` of message
 * events and `code` and `reason` of close events (the event parameters are
 * `any` so that DOM and Node WebSocket classes fit).
 */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
}

/** The part of an EventSource that the client uses (`lastEventId`: the SSE cursor, see README.md). */
export interface EventSourceLike {
  addEventListener(type: string, listener: (event: { data: string; lastEventId?: string }) => void): void;
  close(): void;
}

/** The part of a fetch Response that the client uses. */
export interface ResponseLike {
  ok: boolean;
  status: number;
  json(): Promise<any>;
}

export interface Options {
  /**
   * The connection token (a JWT from your backend) for a node with tokens
   * on. WebSocket sends it in an auth command, long polling as a bearer
   * header, SSE in the query (EventSource cannot send headers).
   */
  token?: string;
  /**
   * Gets a connection token: called before each connection and again
   * shortly before the token's exp (a fifth of its life, at most 30 s);
   * the fresh token is sent on the open WebSocket, carried by the next
   * long poll, or reopens an SSE stream. Rejections are reported as errors
   * and the connection retried after a backoff.
   */
  getToken?: () => Promise<string> | string;
  /** 'auto' (the default) tries WebSocket, then SSE, then long polling. */
  transport?: 'auto' | Transport;
  /** Reconnect backoff in ms; the first delay is minDelay to 2*minDelay. Default 500. */
  minDelay?: number;
  /** The longest reconnect delay in ms. Default 30000. */
  maxDelay?: number;
  /** How long a long poll may wait for messages, in ms. Default 25000. */
  pollTimeout?: number;
  /** Used instead of the global WebSocket; null: there is none. */
  WebSocket?: (new (url: string) => WebSocketLike) | null;
  /** Used instead of the global EventSource; null: there is none. */
  EventSource?: (new (url: string) => EventSourceLike) | null;
  /** Used instead of the global fetch; null: there is none. */
  fetch?: ((url: string, init: { signal: any; headers?: Record<string, string> }) => Promise<ResponseLike>) | null;
  /** A number in [0, 1), for the backoff jitter. Default Math.random. */
  random?: () => number;
  /** Timers, for tests. Default the global ones. */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (id: any) => void;
  /** The wall clock in ms, to time token refreshes; for tests. Default Date.now. */
  now?: () => number;
}

export interface StateEvent {
  state: State;
  /** The base URL (as given to connect) of the node tried or connected to. */
  url: string;
  /** The node's name, once connected; null before, and on long polling when the server does not say. */
  node: string | null;
  transport: Transport;
}

/**
 * Where a client is in a history channel: the epoch of the channel's history
 * and the offset of the last message it has. Epoch `""` offset 0 stands
 * before the first message of whatever epoch comes.
 */
export interface Position {
  /** Letters and digits; changes when the channel's history is reset. */
  epoch: string;
  /** 1 for the first message of an epoch, then 1 more per message. */
  offset: number;
}

export interface MessageEvent<T = unknown> {
  channel: string;
  data: T;
  node: string | null;
  /** The message's position: only on channels that keep history. */
  epoch?: string;
  offset?: number;
}

/** Why a resume could not give every missed message (docs/protocol.md, Recovery notices). */
export type RecoveryReason =
  | 'epoch_changed'
  | 'too_far_behind'
  | 'expired'
  | 'unavailable'
  | 'no_history'
  | 'gap'
  | 'reset'
  | 'ahead_of_history';

/**
 * The server's report on a resume, or on messages it could not deliver.
 * `recovered: true`: the missed messages follow. `false`: they are lost to
 * the client, which is now at `epoch`/`offset`; reload the channel's state.
 */
export interface RecoveryEvent {
  channel: string;
  recovered: boolean;
  /** Absent with reason `no_history`. */
  epoch?: string;
  offset?: number;
  /** Only when `recovered` is false. */
  reason?: RecoveryReason | (string & {});
}

/** The server's disconnect frame, event or field (close codes: docs/protocol.md). */
export interface DisconnectEvent {
  code: number;
  reason: string;
  /** false: the client stops for good. */
  reconnect: boolean;
}

/** Why a token was refused (docs/auth.md). */
export type TokenReason =
  | 'missing'
  | 'malformed'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'unknown_key';

/** Every error the client reports, from the client or the server. */
export class HeraldError extends Error {
  /** The server's error code (`forbidden`, `session_expired`, ...), or the client's: `invalid_channel`, `unavailable`, `unsupported`. */
  code?: string;
  /** For `unauthorized`: why the token was refused. */
  reason?: TokenReason | (string & {});
  /** The channel of the command or subscription that failed. */
  channel?: string;
  /** The HTTP status of a refused long-poll request. */
  status?: number;
}

/** A token was missing or refused: code `unauthorized` (see reason) or `token_expired`. */
export class UnauthorizedError extends HeraldError {}

/** The channel rules refused a subscribe, publish or history read: code `forbidden`. */
export class ForbiddenError extends HeraldError {}

/** The server ended a subscription: its subscription token expired and no getToken could renew it. */
export interface UnsubscribedEvent {
  channel: string;
  reason: 'token_expired' | (string & {});
}

export interface MessageMeta {
  channel: string;
  node: string | null;
  /** The message's position: only on channels that keep history. */
  epoch?: string;
  offset?: number;
}

/**
 * Where a channel's first subscription starts (later handlers' options are
 * ignored). Without them it starts from now.
 */
export interface SubscribeOptions {
  /** Resume from this position: the messages after it are replayed first. */
  since?: Position;
  /** Replay the channel's last N messages first (WebSocket only; ignored on SSE and long polling). */
  rewind?: number;
  /** A subscription token for a private channel the connection token does not cover. */
  token?: string;
  /**
   * Gets a subscription token for the channel: called before each subscribe,
   * and again when the server ends the subscription because its token expired.
   */
  getToken?: (channel: string) => Promise<string> | string;
}

export interface HistoryOptions {
  /** How many messages; the server's default is 100, its limit --history-max-replay. */
  limit?: number;
  /** Only the messages with an offset above this one, in the current epoch. */
  since?: number;
}

/** A message as stored in history. */
export interface HistoryMessage<T = unknown> {
  channel: string;
  epoch: string;
  offset: number;
  data: T;
}

export interface HistoryResult<T = unknown> {
  /** The channel's current position. */
  epoch: string;
  offset: number;
  /** Oldest first. */
  messages: HistoryMessage<T>[];
}

export interface Subscription {
  /** Removes this handler; the last handler of a channel unsubscribes from it. */
  unsubscribe(): void;
}

export interface EventMap {
  state: StateEvent;
  message: MessageEvent;
  recovery: RecoveryEvent;
  disconnect: DisconnectEvent;
  error: HeraldError;
  unsubscribed: UnsubscribedEvent;
}

export interface HeraldClient {
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof EventMap>(event: K, listener: (value: EventMap[K]) => void): () => void;
  /**
   * Adds a handler of channel's messages. Throws an error with code
   * `invalid_channel` on a bad name, and a TypeError on bad options.
   */
  subscribe<T = unknown>(
    channel: string,
    handler: (data: T, meta: MessageMeta) => void,
    options?: SubscribeOptions,
  ): Subscription;
  /** The position of a subscribed history channel, or undefined when the client knows none (yet). */
  position(channel: string): Position | undefined;
  /** Removes every handler of channel. */
  unsubscribe(channel: string): void;
  /**
   * Publishes over the WebSocket (the node's channel rules must allow it,
   * or --client-publish; a refusal is a ForbiddenError).
   * Resolves on the server's reply; rejects with the server's code, with
   * `unavailable` when not connected, or `unsupported` on SSE and long polling.
   */
  publish(channel: string, data: unknown): Promise<void>;
  /**
   * Reads a history channel's stored messages over the WebSocket (the
   * connection must be subscribed to it, or the node allow it:
   * --client-history). Rejects with the server's code (`no_history`,
   * `forbidden`, `unavailable`, ...), with `unavailable` when not connected,
   * or `unsupported` on SSE and long polling.
   */
  history<T = unknown>(channel: string, options?: HistoryOptions): Promise<HistoryResult<T>>;
  /** Stops for good: state `closed`. */
  close(): void;
  readonly state: State;
  readonly node: string | null;
  readonly transport: Transport;
  /** The base URL of the current (or next) connection. */
  readonly url: string;
}

/**
 * Starts a client. urls: a node's base URL, or several to go round; '' or a
 * relative URL means the page's own origin. The first attempt starts on the
 * next tick, so listeners and subscriptions made right away are in place.
 */
export function connect(urls?: string | readonly string[], options?: Options): HeraldClient;
