// PostgreSQL's text forms, read from the bytes it sent: the one place the encoders learn where a
// DataRow's fields are and what a number, a boolean, a date, a timestamp or an array literal says.
// The texts are what a session with timezone UTC and datestyle ISO prints (src/db/leases.ts).
//
// Nothing here allocates per row or per field: results are returned, or written into a struct
// the caller owns and passes in (or walks with).
import { BACKSLASH, CLOSE, COLON, DOT, MINUS, NINE, OPEN, PLUS, QUOTE, SPACE, ZERO } from './chars.js'
import { int32 } from './out.js'

/** A DataRow's field count: the int16 at `start` (its layout: RowSink in src/db/rowtap.ts). */
export function fieldCount (data: Uint8Array, start: number): number {
  return (data[start]! << 8) | data[start + 1]!
}

/**
 * The walk over a DataRow's fields: `begin` on a row, then `next` for each of its fields in turn,
 * as many as it has (src/stream/rows.ts refuses a row of another shape before an encoder sees
 * it). One instance per encoder walks all its rows.
 */
export class FieldWalk {
  /** where the text of the field `next` returned starts */
  at = 0
  #data: Uint8Array = EMPTY
  /** where the next field's length is */
  #p = 0

  /** Starts on the DataRow at `data[start..]` (its layout: RowSink in src/db/rowtap.ts). */
  begin (data: Uint8Array, start: number): void {
    this.#data = data
    this.#p = start + 2
  }

  /** The next field: its length in bytes, -1 for NULL; its text is `data[at .. at + length)`. */
  next (): number {
    const p = this.#p
    const length = int32(this.#data, p)
    this.at = p + 4
    this.#p = length > 0 ? p + 4 + length : p + 4
    return length
  }
}

/**
 * PostgreSQL's test for a number that JSON holds bare (json.c): its text starts with a digit, or
 * with '-' and a digit. NaN, Infinity and -Infinity do not. Given the text's first two characters
 * (bytes, or UTF-16 code units; past the end, anything that is not a digit).
 */
export function isBareNumber (first: number, second: number): boolean {
  return (first >= ZERO && first <= NINE) || (first === MINUS && second >= ZERO && second <= NINE)
}

/** An integer's text of at most 15 characters, its sign among them: exact as a double. */
export function integer (data: Uint8Array, p: number, q: number): number {
  const negative = data[p] === MINUS
  let n = 0
  for (let k = negative ? p + 1 : p; k < q; k++) n = n * 10 + (data[k]! - ZERO)
  return negative ? -n : n
}

/** A boolean's text is `t` or `f`: whether it is true, given its first character. */
export function isTrue (first: number): boolean {
  return first === 116 // 't'
}

/**
 * bytea's text (`\x` and two hex digits a byte, or with bytea_output = escape, octal escapes) as
 * the bytes it stands for, written into `into` at `at` (room for `q - p` bytes); returns where
 * they end.
 */
export function bytea (data: Uint8Array, p: number, q: number, into: Uint8Array, at: number): number {
  let o = at
  if (q - p >= 2 && data[p] === BACKSLASH && data[p + 1] === 120) { // 'x'
    for (let k = p + 2; k + 1 < q; k += 2) into[o++] = (hex(data[k]!) << 4) | hex(data[k + 1]!)
    return o
  }
  for (let k = p; k < q; k++) {
    const c = data[k]!
    if (c !== BACKSLASH) into[o++] = c
    else if (data[k + 1] === BACKSLASH) into[o++] = data[++k]!
    else {
      into[o++] = ((data[k + 1]! - ZERO) << 6) | ((data[k + 2]! - ZERO) << 3) | (data[k + 3]! - ZERO)
      k += 3
    }
  }
  return o
}

function hex (c: number): number {
  return c <= NINE ? c - ZERO : (c | 32) - 87
}

/** Days since 1970-01-01 of a proleptic Gregorian date (astronomical years: 1 BC is year 0). */
export function daysFromCivil (year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/**
 * A date's text, `YYYY-MM-DD` (four or more year digits) with ` BC` after a year before 1: its
 * days since 1970-01-01; Infinity and -Infinity for `infinity` and `-infinity`.
 */
export function dateDays (data: Uint8Array, p: number, q: number): number {
  const c = data[p]!
  if (c === 105) return Infinity // 'i'
  if (c === MINUS) return -Infinity
  return civilDays(data, p, isBc(data, q))
}

/** The days of the date at `p`, which runs up to its second '-' and two digits past it. */
function civilDays (data: Uint8Array, p: number, bc: boolean): number {
  let k = p
  let year = 0
  while (data[k] !== MINUS) year = year * 10 + (data[k++]! - ZERO)
  // year Y BC is astronomical year 1 - Y
  return daysFromCivil(bc ? 1 - year : year, two(data, k + 1), two(data, k + 4))
}

/** ` BC` at the end of a text. */
function isBc (data: Uint8Array, q: number): boolean {
  return data[q - 1] === 67 && data[q - 2] === 66 && data[q - 3] === SPACE
}

function two (data: Uint8Array, at: number): number {
  return (data[at]! - ZERO) * 10 + (data[at + 1]! - ZERO)
}

/**
 * What a timestamp's or timestamptz's text holds, `YYYY-MM-DD hh:mm:ss[.ffffff][±hh[:mm[:ss]]][ BC]`
 * (timestamp has no zone), or `infinity`, `-infinity`: where its parts are (timestampShape, for
 * what rewrites the text) or their values (readTimestamp, for what computes with them). The
 * caller owns one and passes it in.
 */
export class TimestampText {
  /** both: 1 for infinity, -1 for -infinity, 0 for a point in time; nothing else is set when not 0 */
  infinite = 0
  /** timestampShape: where the date ends, the space before the time */
  time = 0
  /** timestampShape: where the zone starts (its sign); `zoneEnd` when there is no zone */
  zone = 0
  /** timestampShape: where the zone ends, the space before ` BC`, or the end of the text */
  zoneEnd = 0
  /** readTimestamp: the text has a fraction of a second */
  fraction = false
  /** readTimestamp: days since 1970-01-01 of the date written */
  days = 0
  /**
   * readTimestamp: seconds into that day of the time written, less the zone's offset: with a
   * zone, the UTC time, which can fall on the day before or after (below 0, or past 86,399)
   */
  seconds = 0
  /** readTimestamp: the fraction of a second, in microseconds */
  micros = 0
}

/** Where a timestamp's parts are: `infinite`, and when 0, `time`, `zone` and `zoneEnd`. */
export function timestampShape (data: Uint8Array, p: number, q: number, into: TimestampText): void {
  const c = data[p]!
  if (c === 105 || c === MINUS) { // infinity, -infinity
    into.infinite = c === 105 ? 1 : -1
    return
  }
  into.infinite = 0
  let k = p
  while (data[k] !== SPACE) k++
  into.time = k
  // past " hh:mm:ss", then the fraction's digits
  k += 9
  let d = 0
  while (k < q && (d = data[k]!) !== PLUS && d !== MINUS && d !== SPACE) k++
  into.zone = k
  if (k < q && d !== SPACE) {
    k++
    while (k < q && data[k] !== SPACE) k++
  }
  into.zoneEnd = k
}

/**
 * A timestamp's values: `infinite`, and when 0, `days`, `seconds`, `micros` and `fraction`, read
 * in one pass. timestamptz comes as the UTC instant; timestamp, which has no zone, as its wall
 * clock read as UTC.
 */
export function readTimestamp (data: Uint8Array, p: number, q: number, into: TimestampText): void {
  const c = data[p]!
  if (c === 105 || c === MINUS) { // infinity, -infinity
    into.infinite = c === 105 ? 1 : -1
    return
  }
  into.infinite = 0
  let k = p
  let year = 0
  while (data[k] !== MINUS) year = year * 10 + (data[k++]! - ZERO)
  // year Y BC is astronomical year 1 - Y
  into.days = daysFromCivil(isBc(data, q) ? 1 - year : year, two(data, k + 1), two(data, k + 4))
  k += 7 // past "-MM-DD "
  let seconds = two(data, k) * 3600 + two(data, k + 3) * 60 + two(data, k + 6)
  k += 8
  let micros = 0
  const fraction = k < q && data[k] === DOT
  if (fraction) {
    let scale = 100000
    for (k++; k < q && data[k]! >= ZERO && data[k]! <= NINE; k++, scale /= 10) micros += (data[k]! - ZERO) * scale
  }
  const sign = data[k]
  if (k < q && (sign === PLUS || sign === MINUS)) {
    let offset = two(data, k + 1) * 3600
    k += 3
    if (k < q && data[k] === COLON) {
      offset += two(data, k + 1) * 60
      k += 3
      if (k < q && data[k] === COLON) offset += two(data, k + 1)
    }
    seconds -= sign === PLUS ? offset : -offset
  }
  into.fraction = fraction
  into.seconds = seconds
  into.micros = micros
}

/** What ArrayText.next() found */
export const ARRAY_END = 0
/** `{`: a (sub-)array opens (for a vector, once, before its elements) */
export const ARRAY_OPEN = 1
/** `}`: a (sub-)array closes */
export const ARRAY_CLOSE = 2
/** an element: its text is `ArrayText.data[start..end)` */
export const ARRAY_ITEM = 3
/** `NULL`, unquoted (array_out quotes an element that reads as NULL in any case) */
export const ARRAY_NULL = 4

/**
 * Walks an array's text, as array_out writes it: `{a,b,NULL,"q \"x\""}`, nested braces for more
 * dimensions, with `[l:u]=` before it when a lower bound is not 1 (the bounds are skipped). int2vector
 * and oidvector print `1 2 3`: read as one dimension, with no NULLs. `begin`, then `next` until
 * ARRAY_END. A quoted element is unescaped into a buffer the walker owns, valid until the next call.
 */
export class ArrayText {
  /** the element found last: `data[start..end)` */
  data: Buffer = EMPTY
  start = 0
  end = 0
  #text: Buffer = EMPTY
  #k = 0
  #q = 0
  #delimiter = 0
  /** a vector: 0 not, 1 before its elements, 2 among them, 3 closed */
  #vector = 0
  #scratch = Buffer.alloc(256)

  /**
   * Starts on the text `text[p..q)`, its elements separated by `delimiter` (the element type's
   * typdelim). Returns whether it is an array literal; false for a vector's form.
   */
  begin (text: Buffer, p: number, q: number, delimiter: number): boolean {
    let k = p
    if (text[k] === 91) { // '[': the bounds, up to '='
      while (k < q && text[k] !== 61) k++
      k++
    }
    this.#text = text
    this.#k = k
    this.#q = q
    this.#delimiter = delimiter
    this.#vector = text[k] === OPEN ? 0 : 1
    return this.#vector === 0
  }

  next (): number {
    const text = this.#text
    const q = this.#q
    let k = this.#k
    if (this.#vector !== 0) return this.#nextOfVector()
    if (k >= q) return ARRAY_END
    // a delimiter only ever separates two elements (or sub-arrays)
    if (text[k] === this.#delimiter) k++
    const c = text[k]
    if (c === OPEN || c === CLOSE) {
      this.#k = k + 1
      return c === OPEN ? ARRAY_OPEN : ARRAY_CLOSE
    }
    if (c === QUOTE) {
      const scratch = this.#room(q - k)
      let n = 0
      k++
      while (text[k] !== QUOTE) {
        if (text[k] === BACKSLASH) k++
        scratch[n++] = text[k++]!
      }
      this.#k = k + 1
      return this.#item(scratch, 0, n)
    }
    const start = k
    const delimiter = this.#delimiter
    while (k < q && text[k] !== delimiter && text[k] !== CLOSE) k++
    this.#k = k
    if (k - start === 4 && isNull(text, start)) return ARRAY_NULL
    return this.#item(text, start, k)
  }

  #nextOfVector (): number {
    switch (this.#vector) {
      case 1:
        this.#vector = 2
        return ARRAY_OPEN
      case 2: {
        const text = this.#text
        const q = this.#q
        let k = this.#k
        if (k >= q) {
          this.#vector = 3
          return ARRAY_CLOSE
        }
        if (text[k] === SPACE) k++
        const start = k
        while (k < q && text[k] !== SPACE) k++
        this.#k = k
        return this.#item(text, start, k)
      }
      default:
        return ARRAY_END
    }
  }

  #item (data: Buffer, start: number, end: number): number {
    this.data = data
    this.start = start
    this.end = end
    return ARRAY_ITEM
  }

  #room (n: number): Buffer {
    if (n > this.#scratch.length) this.#scratch = Buffer.alloc(Math.max(n, this.#scratch.length * 2))
    return this.#scratch
  }
}

const EMPTY = Buffer.alloc(0)

function isNull (data: Uint8Array, at: number): boolean {
  return data[at] === 78 && data[at + 1] === 85 && data[at + 2] === 76 && data[at + 3] === 76 // NULL
}
