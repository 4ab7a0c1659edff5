import type pg from 'pg'

/**
 * The bytes of `COPY ... TO STDOUT`, read with pg's submittable-query hooks (the way pg-cursor
 * and pg-copy-streams plug into a Client): pg itself has no COPY TO API.
 */
export async function copyOut (client: pg.ClientBase, sql: string): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    client.query(new CopyOut(sql, resolve, reject))
  })
}

// The hooks pg's Client calls on its active query (node_modules/pg/lib/client.js).
class CopyOut implements pg.Submittable {
  private readonly chunks: Buffer[] = []

  constructor (
    private readonly sql: string,
    private readonly resolve: (bytes: Buffer) => void,
    private readonly reject: (error: Error) => void
  ) {}

  submit (connection: pg.Connection): void {
    connection.query(this.sql)
  }

  // the chunk is a view of pg-protocol's receive buffer, which the next read overwrites
  handleCopyData (message: { chunk: Buffer }): void {
    this.chunks.push(Buffer.from(message.chunk))
  }

  handleCommandComplete (): void {}

  // after an error pg forgets the query: no handleReadyForQuery follows
  handleError (error: Error): void {
    this.reject(error)
  }

  handleReadyForQuery (): void {
    this.resolve(Buffer.concat(this.chunks))
  }
}
