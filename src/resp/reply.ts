/**
 * The reply model that command handlers return; src/resp/encode.ts turns it into RESP2 or
 * RESP3 bytes for the connection's protocol. Plain JS values map as:
 *   null                -> nil ($-1 in RESP2, _ in RESP3)
 *   number / bigint     -> integer (:n) — integral values only; use DoubleReply for floats
 *   string              -> bulk string; the string is binary (one char per byte, latin1)
 *   Uint8Array          -> bulk string
 *   Reply[]             -> array
 */
export type Reply =
  | null
  | number
  | bigint
  | string
  | Uint8Array
  | SimpleString
  | ErrorReply
  | NullArray
  | DoubleReply
  | BoolReply
  | MapReply
  | SetReply
  | VerbatimReply
  | PushReply
  | Reply[];

/** +OK style status reply. */
export class SimpleString {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
}

/** -ERR style error; message includes the code word (e.g. "ERR syntax error", "WRONGTYPE ..."). */
export class ErrorReply {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

/** *-1 in RESP2 (e.g. EXEC aborted by WATCH, BLPOP timeout); _ in RESP3. */
export class NullArray {
  static readonly instance = new NullArray();
  private constructor() {}
}

/** RESP3 double (,1.5); RESP2 bulk string with Redis's formatting of the number. */
export class DoubleReply {
  readonly value: number;
  /** The text to send instead of "%.17g" (replies Redis prints another way, e.g. GEOPOS). */
  readonly text: string | undefined;
  constructor(value: number, text?: string) {
    this.value = value;
    this.text = text;
  }
}

/** RESP3 boolean (#t / #f); RESP2 integer 1 / 0. */
export class BoolReply {
  readonly value: boolean;
  constructor(value: boolean) {
    this.value = value;
  }
}

/** RESP3 map (%); RESP2 flat array of key, value, key, value. */
export class MapReply {
  readonly entries: [Reply, Reply][];
  constructor(entries: [Reply, Reply][]) {
    this.entries = entries;
  }
}

/** RESP3 set (~); RESP2 array. */
export class SetReply {
  readonly items: Reply[];
  constructor(items: Reply[]) {
    this.items = items;
  }
}

/** RESP3 verbatim string (=txt:...); RESP2 bulk string. */
export class VerbatimReply {
  readonly format: string;
  readonly text: string;
  constructor(text: string, format = 'txt') {
    this.text = text;
    this.format = format;
  }
}

/** RESP3 push (>) for pub/sub and MONITOR; RESP2 array. */
export class PushReply {
  readonly items: Reply[];
  constructor(items: Reply[]) {
    this.items = items;
  }
}

export const OK = new SimpleString('OK');
export const QUEUED = new SimpleString('QUEUED');

export function err(message: string): ErrorReply {
  return new ErrorReply(message);
}
