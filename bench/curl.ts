// The measured downloads' client: curl writing to /dev/null, as psql writes COPY's output there.
// A Node client in the measuring process would spend a core's share reading the body in JS,
// and on two cores that share is taken from the server and PostgreSQL, not from psql's side of
// the comparison. Where curl is missing, harness/download.ts's Node client, labelled as such.
import { execFile, spawnSync } from 'node:child_process'
import { download, type Download } from '../harness/download.js'

/** `curl 7.88.1`, or the Node client named as the fallback it is */
export const CLIENT = clientLabel()

// curl's own measures, one line: status, seconds to the first byte, seconds in all, body bytes,
// request id, sync token (URL-safe: no spaces; empty when the report has none)
const WRITE_OUT = '%{http_code} %{time_starttransfer} %{time_total} %{size_download} %header{x-request-id} %header{sluice-sync-token}'

/** GET `url` to /dev/null; `complete` is false when the body ended without its final chunk. */
export async function measuredDownload (url: string, headers: Readonly<Record<string, string>> = {}): Promise<Download> {
  if (CLIENT.startsWith('node')) return await download(url, { headers })
  const args = ['-s', '-o', '/dev/null', '-w', WRITE_OUT, ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]), url]
  return await new Promise((resolve, reject) => {
    execFile('curl', args, (error, stdout) => {
      // 18: the transfer ended with data outstanding, curl's word for a cut chunked body
      const code = error === null ? 0 : (error as { code?: unknown }).code
      if (code !== 0 && code !== 18) return reject(new Error(`curl ${url}: exit ${String(code)}`))
      const [status = '0', first = 'NaN', total = 'NaN', bytes = '0', requestId = '', token = ''] = stdout.trim().split(' ')
      resolve({
        status: Number(status),
        headers: { 'x-request-id': requestId, ...(token === '' ? {} : { 'sluice-sync-token': token }) },
        bytes: Number(bytes),
        firstByteMs: Number(first) * 1000,
        totalMs: Number(total) * 1000,
        complete: code === 0
      })
    })
  })
}

function clientLabel (): string {
  const version = spawnSync('curl', ['--version'], { encoding: 'utf8' })
  return version.status === 0 ? `curl ${/\d+(\.\d+)+/.exec(version.stdout)?.[0] ?? ''}`.trim() : 'node http (no curl on PATH)'
}
