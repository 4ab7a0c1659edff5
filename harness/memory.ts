// The resident memory of another process, from Linux's /proc (proc(5)).
import { readFileSync, writeFileSync } from 'node:fs'

export interface Memory {
  /** VmRSS: resident now, bytes */
  readonly rss: number
  /** VmHWM: the most ever resident since start or the last reset, bytes */
  readonly hwm: number
}

export interface RssSample {
  /** ms since the recording began */
  readonly ms: number
  readonly rss: number
}

export interface PeakWatch {
  /** the highest RSS since the watch began, bytes */
  peak (): number
  stop (): void
}

/** VmRSS and VmHWM of `pid`, in bytes. */
export function memoryOf (pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return { rss: field(status, 'VmRSS'), hwm: field(status, 'VmHWM') }
}

// After a reset VmHWM equals VmRSS; a process touching memory between the two reads moves them
// apart by little, a reset that did nothing by as much as its old peak.
const RESET_SLACK = 4 << 20
const SAMPLE_MS = 10

/**
 * Watches the peak RSS of `pid` from now on. Resets the kernel's high-water mark by writing 5 to
 * /proc/<pid>/clear_refs (Linux >= 4.0, our own child); where that is refused or has no effect
 * (some sandboxes), samples VmRSS every 10 ms instead, which can miss a spike shorter than that.
 */
export function watchPeak (pid: number): PeakWatch {
  if (resetPeak(pid)) return { peak: () => memoryOf(pid).hwm, stop: () => {} }
  let peak = memoryOf(pid).rss
  const timer = setInterval(() => {
    peak = Math.max(peak, rssOrZero(pid))
  }, SAMPLE_MS)
  return {
    peak: () => Math.max(peak, rssOrZero(pid)),
    stop: () => clearInterval(timer)
  }
}

/**
 * VmRSS of `pid` every `everyMs` from now until `stop`, which returns the samples: the shape of
 * the memory over time, where watchPeak gives only its top.
 */
export function recordRss (pid: number, everyMs: number): { stop (): RssSample[] } {
  const started = performance.now()
  const samples: RssSample[] = [{ ms: 0, rss: memoryOf(pid).rss }]
  const sample = (): void => { samples.push({ ms: performance.now() - started, rss: rssOrZero(pid) }) }
  const timer = setInterval(sample, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      sample()
      return samples
    }
  }
}

/** Resets VmHWM to the current VmRSS; false when the kernel would not. */
export function resetPeak (pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
  } catch {
    return false
  }
  const { rss, hwm } = memoryOf(pid)
  return hwm - rss < RESET_SLACK
}

// a process that is gone had its peak while we still saw it
function rssOrZero (pid: number): number {
  try {
    return memoryOf(pid).rss
  } catch {
    return 0
  }
}

function field (status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)
  if (match === null) throw new Error(`no ${name} in /proc status`)
  return Number(match[1]) * 1024
}
