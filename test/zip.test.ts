// The zip writer's Zip64 path (src/formats/zip.ts): a streamed entry of more than 4 GiB, made
// cheaply of zeros (deflate shrinks them a thousandfold), read back through its central directory.
import t from 'tap'
import zlib from 'node:zlib'
import { ZipWriter } from '../src/formats/zip.js'
import { readZip } from './helpers/xlsx.js'

const MiB = 1 << 20

t.test('an entry past 4 GiB gets Zip64 sizes in its data descriptor and in the central directory', async (t) => {
  const zip = new ZipWriter(1, new Date(Date.UTC(2026, 0, 2, 3, 4, 6)))
  const zeros = Buffer.alloc(64 * MiB)
  const parts = [zip.begin('big.bin')]
  const chunks = 65 // 4,160 MiB
  for (let i = 0; i < chunks; i++) parts.push(zip.data(zeros))
  const size = chunks * zeros.length
  const end = zip.end()
  parts.push(end)
  const small = Buffer.from('after the big one')
  parts.push(zip.file('small.txt', small), zip.finish())
  const archive = Buffer.concat(parts)
  t.ok(size > 2 ** 32, `${size} bytes: past 32 bits`)

  // the data descriptor, after the final deflate block: signature, CRC, 8-byte sizes
  const descriptor = end.subarray(2)
  t.equal(descriptor.length, 24, 'a Zip64 data descriptor')
  t.equal(descriptor.readUInt32LE(0), 0x08074b50)
  t.equal(Number(descriptor.readBigUInt64LE(16)), size, 'its uncompressed size')

  const local = archive.subarray(0, 30)
  t.equal(local.readUInt16LE(4), 45, 'the local header needs version 4.5')
  t.equal(local.readUInt16LE(6) & 8, 8, 'and says its sizes follow the data')
  t.equal(local.readUInt16LE(28), 0, 'with no extra field (the form Excel reads)')

  const entries = readZip(archive, { skip: ['big.bin'] })
  t.same(entries.get('small.txt'), small, 'the entry after it reads back, found through the central directory')
  const big = entries.sizes.get('big.bin')!
  t.equal(big.size, size, 'the central directory has the big size (Zip64 extra field)')
  t.equal(big.crc, descriptor.readUInt32LE(4), 'and the CRC of the data descriptor')
  t.equal(big.crc, zeroCrc(zeros, chunks), 'the CRC of its bytes')
})

function zeroCrc (zeros: Buffer, chunks: number): number {
  let crc = 0
  for (let i = 0; i < chunks; i++) crc = zlib.crc32(zeros, crc)
  return crc
}
