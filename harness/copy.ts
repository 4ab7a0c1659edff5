// `COPY ... TO STDOUT` read with pg's submittable-query hooks (the way pg-cursor and
// pg-copy-streams plug into a Client): pg itself has no COPY TO API. The tests use it as the CSV
// oracle, the benchmark as the physical limit.
import type pg from 'pg'

/** All the bytes of `COPY ... TO STDOUT`. */
export async function copyOut (client: pg.ClientBase, sql: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  // the chunk is a view of pg-protocol's receive buffer, which the next read overwrites
  await copyOutStream(client, sql, (chunk) => chunks.push(Buffer.from(chunk)))
  return Buffer.concat(chunks)
}

/**
 * Hands each chunk of `COPY ... TO STDOUT` to `onChunk` as it arrives, holding none of them, and
 * resolves with the row count PostgreSQL reports. A chunk is only valid during the call.
 */
export async function copyOutStream (client: pg.ClientBase, sql: string, onChunk: (chunk: Buffer) => void): Promise<{ rows: number }> {
  return await new Promise((resolve, reject) => {
    client.query(new CopyOut(sql, onChunk, resolve, reject))
  })
}

// The hooks pg's Client calls on its active query (node_modules/pg/lib/client.js).
class CopyOut implements pg.Submittable {
  private rows = 0

  constructor (
    private readonly sql: string,
    private readonly onChunk: (chunk: Buffer) => void,
    private readonly resolve: (result: { rows: number }) => void,
    private readonly reject: (error: Error) => void
  ) {}

  submit (connection: pg.Connection): void {
    connection.query(this.sql)
  }

  handleCopyData (message: { chunk: Buffer }): void {
    this.onChunk(message.chunk)
  }

  // the command tag is "COPY <rows>"
  handleCommandComplete (message: { text?: string }): void {
    this.rows = Number(/^COPY (\d+)$/.exec(message.text ?? '')?.[1] ?? NaN)
  }

  // after an error pg forgets the query: no handleReadyForQuery follows
  handleError (error: Error): void {
    this.reject(error)
  }

  handleReadyForQuery (): void {
    this.resolve({ rows: this.rows })
  }
}
