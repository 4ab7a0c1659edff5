// One HTTP download, read as fast as the client can or at a chosen pace, timed.
import http from 'node:http'

export interface DownloadOptions {
  readonly headers?: Readonly<Record<string, string>>
  /**
   * Read no faster than this: the client stops reading (socket.pause) whenever it is ahead of the
   * pace, so the server meets a slow consumer, not a slow network.
   */
  readonly bytesPerSecond?: number
  /** sees every chunk of the body as it arrives */
  readonly onChunk?: (chunk: Buffer) => void
  /**
   * Aborting destroys the request: before the response, the download rejects; after it, it
   * resolves with `complete` false, as for a connection the server cut.
   */
  readonly signal?: AbortSignal
}

export interface Download {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  /** body bytes as they came over the wire (compressed, if they were) */
  readonly bytes: number
  /** ms from sending the request to the first byte of the body */
  readonly firstByteMs: number
  readonly totalMs: number
  /** the body ended with its final chunk; false when the server cut the connection */
  readonly complete: boolean
}

// Below this the pause is not worth a timer: the pace is kept in bursts, not chunk by chunk.
const MIN_PAUSE_MS = 20

export async function download (url: string, options: DownloadOptions = {}): Promise<Download> {
  const { bytesPerSecond, onChunk, signal } = options
  const started = performance.now()
  return await new Promise((resolve, reject) => {
    let responded = false
    // agent false: a connection of its own, so no download inherits another's socket state
    const request = http.get(url, { headers: options.headers, agent: false, signal }, (response) => {
      responded = true
      let bytes = 0
      let firstByteMs = NaN
      response.on('data', (chunk: Buffer) => {
        if (bytes === 0) firstByteMs = performance.now() - started
        bytes += chunk.length
        onChunk?.(chunk)
        if (bytesPerSecond === undefined) return
        const ahead = (bytes / bytesPerSecond) * 1000 - (performance.now() - started - firstByteMs)
        if (ahead < MIN_PAUSE_MS) return
        response.pause()
        setTimeout(() => response.resume(), ahead)
      })
      // 'error' follows a cut connection; 'close' then tells how the body ended
      response.on('error', () => {})
      response.on('close', () => resolve({
        status: response.statusCode ?? 0,
        headers: response.headers,
        bytes,
        firstByteMs,
        totalMs: performance.now() - started,
        complete: response.complete
      }))
    })
    // an abort errors the request even after the response came; 'close' then tells how the body ended
    request.on('error', (error) => { if (!responded) reject(error) })
  })
}
