import { createRequire } from 'node:module'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** glibc's malloc_trim(0) by the addon in native/malloc-trim; false: nothing was given back. */
export type Trim = () => boolean

/**
 * The addon's trim, or why there is none: it is an optional dependency that node-gyp builds on
 * install (a machine without a C compiler skips it), and off glibc it does nothing.
 */
export function loadTrim (): { trim: Trim } | { missing: string } {
  try {
    const addon = createRequire(import.meta.url)('sluice-malloc-trim') as { trim: Trim, supported: boolean }
    return addon.supported ? { trim: addon.trim } : { missing: 'the C library is not glibc' }
  } catch (error) {
    return { missing: `the malloc-trim addon did not load (${(error as Error).message.split('\n')[0] ?? ''})` }
  }
}

type Gc = (options?: { type: 'major', execution: 'sync', flavor: 'last-resort' }) => void

/**
 * V8's full collection at its most thorough: what V8 runs when told memory is low (the
 * `last-resort` flavour: collections until nothing more is freed, compacting, so pages that a
 * collection leaves a few live objects on are emptied and given back). `gc` of
 * `node --expose-gc` when the process was started so, else the same function taken from a fresh
 * context with the flag set only for that moment. Only GiveBack calls it, on an idle process.
 */
export function loadCollect (): () => void {
  let gc = (globalThis as { gc?: unknown }).gc as Gc | undefined
  if (typeof gc !== 'function') {
    setFlagsFromString('--expose-gc')
    try {
      gc = runInNewContext('gc') as Gc
    } finally {
      setFlagsFromString('--no-expose-gc')
    }
  }
  const collect = gc
  return () => collect({ type: 'major', execution: 'sync', flavor: 'last-resort' })
}

/** How often an idle process gives memory back, and for how long after its last response. */
export const GIVE_BACK_EVERY_MS = 10_000
export const GIVE_BACK_TIMES = 6
/** V8 frees the ArrayBuffers a collection found dead on a helper thread, just after it. */
const SWEPT_MS = 250

/**
 * Gives the kernel back what a crowd's responses left (docs/decisions/0009). Two things keep it:
 * Buffers a finished response dropped are freed only when a collection finds them, and an idle
 * process allocates nothing, so none comes; and what glibc's free() took back below a block still
 * in use stays resident until malloc_trim. So once no response runs, every GIVE_BACK_EVERY_MS,
 * GIVE_BACK_TIMES times: a full collection, then a trim once its ArrayBuffers are swept. A
 * response that starts meanwhile stops it, and its end starts it again, the first give-back a
 * full GIVE_BACK_EVERY_MS later. A collection (V8's last-resort flavour, compacting) takes
 * ~30-50 ms on this heap and a trim ~20 ms on what a crowd of 256 left (pages are only unmapped,
 * not moved); neither runs while responses run.
 */
export class GiveBack {
  readonly #collect: () => void
  readonly #trim: Trim | undefined
  readonly #busy: () => boolean
  readonly #trimmed: (released: boolean) => void
  #timer: NodeJS.Timeout | undefined
  #sweep: NodeJS.Timeout | undefined
  #left = 0
  #closed = false

  /**
   * `trim`: undefined where the addon is missing (collections alone still free the Buffers);
   * `busy`: whether a response runs; `trimmed`: told each trim's outcome (a metric)
   */
  constructor (collect: () => void, trim: Trim | undefined, busy: () => boolean, trimmed: (released: boolean) => void) {
    this.#collect = collect
    this.#trim = trim
    this.#busy = busy
    this.#trimmed = trimmed
  }

  /**
   * No response runs any more (or none has yet: after start, loading reports and V8's start-up
   * leave as much behind as a download does): give back GIVE_BACK_EVERY_MS from now, and a few
   * times more while that lasts. Each call starts the wait again, so a server with traffic in
   * gaps gives back only after GIVE_BACK_EVERY_MS without a response.
   */
  idle (): void {
    if (this.#closed) return
    this.stop()
    this.#left = GIVE_BACK_TIMES
    this.#timer = setInterval(() => this.#tick(), GIVE_BACK_EVERY_MS).unref()
  }

  /** One give-back at once, outside the series. */
  now (): void {
    this.#giveBack()
  }

  /** Ends the series and a trim that waits for its collection's sweep. */
  stop (): void {
    clearInterval(this.#timer)
    clearTimeout(this.#sweep)
    this.#timer = undefined
    this.#sweep = undefined
  }

  /** The server is closing: no give-back after this. */
  close (): void {
    this.#closed = true
    this.stop()
  }

  #tick (): void {
    if (this.#busy()) return this.stop()
    this.#giveBack()
    if (--this.#left <= 0) clearInterval(this.#timer)
  }

  #giveBack (): void {
    this.#collect()
    const trim = this.#trim
    if (trim === undefined) return
    this.#sweep = setTimeout(() => {
      this.#sweep = undefined
      if (!this.#busy()) this.#trimmed(trim())
    }, SWEPT_MS).unref()
  }
}
