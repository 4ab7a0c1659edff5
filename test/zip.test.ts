// The zip writer's Zip64 path (src/formats/zip.ts), read back through its central directory; its
// deflate off the thread, and the XLSX encoder's, the same bytes as in line.
// Zip64 begins where a size or an offset no longer fits a 32-bit field; the writer's limit is
// lowered to 64 KiB - 1 to meet the same records on kilobytes. The real limit, an entry of more
// than 4 GiB (of zeros, which deflate shrinks a thousandfold: ~5 s and ~220 MB of memory), is
// tested with SLUICE_SLOW_TESTS=1.
import { randomBytes } from 'node:crypto'
import zlib from 'node:zlib'
import t, { type Test } from 'tap'
import { Drive } from '../src/formats/drive.js'
import type { Column } from '../src/formats/types.js'
import { createXlsxEncoder } from '../src/formats/xlsx.js'
import { ZipWriter } from '../src/formats/zip.js'
import { dataRow } from './helpers/datarow.js'
import { readZip } from './helpers/xlsx.js'

const MiB = 1 << 20
const MAX32 = 0xffffffff
const SMALL_MAX32 = 0xffff
const AT = new Date(Date.UTC(2026, 0, 2, 3, 4, 6))

t.test('an entry past the 32-bit limit gets Zip64 sizes in its data descriptor and in the central directory', async (t) => {
  await streamedPastTheLimit(t, { max32: SMALL_MAX32, chunk: Buffer.alloc(16 * 1024), chunks: 5 })
})

t.test('an entry past 4 GiB gets Zip64 sizes in its data descriptor and in the central directory',
  { skip: process.env.SLUICE_SLOW_TESTS === '1' ? false : 'deflates 4 GiB of zeros: SLUICE_SLOW_TESTS=1 runs it' },
  async (t) => {
    await streamedPastTheLimit(t, { max32: undefined, chunk: Buffer.alloc(64 * MiB), chunks: 65 }) // 4,160 MiB
  })

t.test('sizes, offsets and a central directory all past the limit: each in its Zip64 field, and the Zip64 end records', async (t) => {
  const zip = new ZipWriter(1, AT, SMALL_MAX32)
  // random bytes do not deflate: the compressed size passes the limit too, and so does every offset after them
  const chunks = [randomBytes(40_000), randomBytes(40_000), randomBytes(40_000)]
  const parts = [zip.begin('big.bin'), ...chunks.map((chunk) => zip.data(chunk))]
  const end = zip.end()
  parts.push(end)
  const smallOffset = parts.reduce((sum, part) => sum + part.length, 0)
  const small = Buffer.from('after the big one')
  parts.push(zip.file('small.txt', small))
  const directory = zip.finish()
  parts.push(directory)
  const archive = Buffer.concat(parts)
  const size = chunks.reduce((sum, chunk) => sum + chunk.length, 0)

  const descriptor = end.subarray(2)
  t.equal(descriptor.length, 24, 'a Zip64 data descriptor')
  const compressed = Number(descriptor.readBigUInt64LE(8))
  t.ok(compressed > SMALL_MAX32, `its compressed size, ${compressed} bytes, is past the limit`)
  t.equal(Number(descriptor.readBigUInt64LE(16)), size, 'its uncompressed size')

  const headers = centralHeaders(directory)
  const big = headers.get('big.bin')!
  t.equal(big.version, 45, 'the big entry needs version 4.5')
  t.strictSame([big.size32, big.compressed32, big.offset32], [MAX32, MAX32, 0], 'its sizes are in the Zip64 field, its offset 0 is not')
  t.strictSame(zip64Values(big.extra), [size, compressed], 'the Zip64 field: the size, then the compressed size')
  const after = headers.get('small.txt')!
  t.ok(smallOffset > SMALL_MAX32, `the next entry starts past the limit, at ${smallOffset}`)
  t.equal(after.size32, small.length, 'its size fits its 32-bit field')
  t.ok(after.compressed32 > 0 && after.compressed32 < SMALL_MAX32, 'and so does its compressed size')
  t.equal(after.offset32, MAX32, 'its offset does not')
  t.strictSame(zip64Values(after.extra), [smallOffset], 'the Zip64 field holds the offset alone')

  // the directory itself starts past the limit: a Zip64 end record and its locator before the end record
  const start = archive.length - directory.length
  const end64 = directory.indexOf(Buffer.from([0x50, 0x4b, 0x06, 0x06]))
  t.ok(end64 > 0, 'a Zip64 end of central directory record')
  t.equal(Number(directory.readBigUInt64LE(end64 + 32)), 2, 'with the entry count')
  t.equal(Number(directory.readBigUInt64LE(end64 + 48)), start, 'and where the directory starts')
  t.equal(directory.readUInt32LE(end64 + 56), 0x07064b50, 'then its locator')
  t.equal(Number(directory.readBigUInt64LE(end64 + 64)), start + end64, 'which points at it')
  t.equal(directory.readUInt32LE(directory.length - 22 + 16), MAX32, 'the end record sends the reader there')

  const entries = readZip(archive)
  t.ok(entries.get('big.bin')!.equals(Buffer.concat(chunks)), 'the big entry inflates to its bytes, found through the Zip64 records')
  t.same(entries.get('small.txt'), small, 'and so does the one after it')
})

/**
 * One entry streamed past `max32` (the format's 0xFFFFFFFF when undefined), a small one after
 * it: the data descriptor, local header and central directory of the big one checked.
 */
async function streamedPastTheLimit (t: Test, { max32, chunk, chunks }: { max32: number | undefined, chunk: Buffer, chunks: number }): Promise<void> {
  const limit = max32 ?? MAX32
  const zip = new ZipWriter(1, AT, max32)
  const parts = [zip.begin('big.bin')]
  for (let i = 0; i < chunks; i++) parts.push(zip.data(chunk))
  const size = chunks * chunk.length
  const end = zip.end()
  parts.push(end)
  const small = Buffer.from('after the big one')
  parts.push(zip.file('small.txt', small))
  const directory = zip.finish()
  parts.push(directory)
  const archive = Buffer.concat(parts)
  t.ok(size > limit, `${size} bytes: past the limit of ${limit}`)
  if (max32 === undefined) t.ok(size > 2 ** 32, 'past 32 bits')

  // the data descriptor, after the final deflate block: signature, CRC, 8-byte sizes
  const descriptor = end.subarray(2)
  t.equal(descriptor.length, 24, 'a Zip64 data descriptor')
  t.equal(descriptor.readUInt32LE(0), 0x08074b50)
  t.equal(Number(descriptor.readBigUInt64LE(16)), size, 'its uncompressed size')

  const local = archive.subarray(0, 30)
  t.equal(local.readUInt16LE(4), 45, 'the local header needs version 4.5')
  t.equal(local.readUInt16LE(6) & 8, 8, 'and says its sizes follow the data')
  t.equal(local.readUInt16LE(28), 0, 'with no extra field (the form Excel reads)')

  const header = centralHeaders(directory).get('big.bin')!
  t.equal(header.size32, MAX32, 'the central directory\'s 32-bit size says "in the Zip64 field"')
  t.strictSame(zip64Values(header.extra), [size], 'whose one value is the size')

  const entries = readZip(archive, { skip: ['big.bin'] })
  t.same(entries.get('small.txt'), small, 'the entry after it reads back, found through the central directory')
  const big = entries.sizes.get('big.bin')!
  t.equal(big.size, size, 'the central directory has the big size (Zip64 extra field)')
  t.equal(big.crc, descriptor.readUInt32LE(4), 'and the CRC of the data descriptor')
  t.equal(big.crc, repeatedCrc(chunk, chunks), 'the CRC of its bytes')
}

interface CentralHeader {
  readonly version: number
  readonly compressed32: number
  readonly size32: number
  readonly offset32: number
  readonly extra: Buffer
}

/** The central directory headers at the start of what ZipWriter.finish() returned, by name. */
function centralHeaders (directory: Buffer): Map<string, CentralHeader> {
  const headers = new Map<string, CentralHeader>()
  for (let at = 0; directory.readUInt32LE(at) === 0x02014b50;) {
    const nameLength = directory.readUInt16LE(at + 28)
    const extraLength = directory.readUInt16LE(at + 30)
    const name = directory.toString('utf8', at + 46, at + 46 + nameLength)
    headers.set(name, {
      version: directory.readUInt16LE(at + 6),
      compressed32: directory.readUInt32LE(at + 20),
      size32: directory.readUInt32LE(at + 24),
      offset32: directory.readUInt32LE(at + 42),
      extra: directory.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength)
    })
    at += 46 + nameLength + extraLength + directory.readUInt16LE(at + 32)
  }
  return headers
}

/** The 8-byte values of a Zip64 extended information extra field (header id 1), the only extra field the writer makes. */
function zip64Values (extra: Buffer): number[] {
  if (extra.length === 0) return []
  if (extra.readUInt16LE(0) !== 0x0001 || extra.readUInt16LE(2) !== extra.length - 4) throw new Error('not one Zip64 extra field')
  const values: number[] = []
  for (let at = 4; at < extra.length; at += 8) values.push(Number(extra.readBigUInt64LE(at)))
  return values
}

function repeatedCrc (chunk: Buffer, chunks: number): number {
  let crc = 0
  for (let i = 0; i < chunks; i++) crc = zlib.crc32(chunk, crc)
  return crc
}

t.test('deflated off the thread (dataLater), an entry is the same bytes as deflated in line (data)', async (t) => {
  const chunks = [randomBytes(30_000), Buffer.alloc(50_000, 'row,'), Buffer.from('<row/>'.repeat(9000))]
  const archive = async (later: boolean): Promise<Buffer> => {
    const zip = new ZipWriter(1, AT)
    const parts = [zip.begin('a.xml')]
    for (const chunk of chunks) parts.push(later ? await zip.dataLater(chunk) : zip.data(chunk))
    parts.push(zip.end(), zip.finish())
    return Buffer.concat(parts)
  }
  const [inLine, offThread] = [await archive(false), await archive(true)]
  t.ok(offThread.equals(inLine), 'byte for byte')
  t.ok(readZip(offThread).get('a.xml')!.equals(Buffer.concat(chunks)), 'and it reads back whole')
})

t.test('an XLSX encoder made offThread takes the next batch\'s rows while its flush finishes, and writes what the synchronous one writes', async (t) => {
  const column = (name: string, type: string, kind: Column['json']['kind'], value: Column['value']): Column =>
    ({ name, type, castType: type, oid: 0, json: { kind } as Column['json'], value })
  const columns = [column('id', 'bigint', 'number', { type: 'int64' }), column('label', 'text', 'string', { type: 'string' })]
  const batches = [0, 1, 2].map((b) => Array.from({ length: 20_000 }, (_, i) => dataRow([String(b * 20_000 + i), `label ${i} & <${b}>`])))
  const inLine = new Drive(createXlsxEncoder(columns, { at: AT }))
  const later = new Drive(createXlsxEncoder(columns, { at: AT, offThread: true }))
  const expected: Buffer[] = []
  const got: Buffer[] = []
  for (const [b, rows] of batches.entries()) {
    for (const row of rows) inLine.row(row, 5, row.length)
    expected.push(inLine.chunk({ final: b === batches.length - 1 }))
  }
  for (const row of batches[0]!) later.row(row, 5, row.length)
  for (const b of batches.keys()) {
    const made = later.chunkLater({ final: b === batches.length - 1 })
    // the next batch's rows come in before the chunk is done, as the service reads ahead
    for (const row of batches[b + 1] ?? []) later.row(row, 5, row.length)
    got.push(await made)
  }
  t.ok(Buffer.concat(got).equals(Buffer.concat(expected)), 'the same file, byte for byte')
  t.same(got.map((chunk) => chunk.length), expected.map((chunk) => chunk.length), 'chunk by chunk')
  const other = new Drive(createXlsxEncoder(columns, { offThread: true }))
  t.throws(() => other.chunk({ final: true }), /chunkLater/, 'a synchronous drive of it is refused')
})
