// A zip archive written front to back as its entries come, for the XLSX encoder: a streamed
// entry's local header carries no sizes (general purpose flag bit 3), its data is raw deflate
// made segment by segment, and its CRC and sizes follow the data in a data descriptor. The
// central directory comes last, so a cut download has none and no reader takes it for whole.
// (APPNOTE.TXT 4.3.9, 4.4.4, 4.5.3; yazl writes streamed entries the same way.)
//
// Zip64: Excel reads only a narrow form of it (https://rzymek.github.io/post/excel-zip64/, the
// form Apache POI's streaming writer settled on): no Zip64 extra field in a local header, zero
// sizes in its 32-bit fields instead; in the central directory a Zip64 extra field only for the
// values that do not fit. So a streamed entry's header has version 4.5 and no extra field; its
// data descriptor has 8-byte sizes once a size passes 4 GiB; the central directory holds a Zip64
// extra field per entry that needs one, and Zip64 end records follow only when the directory
// itself starts past 4 GiB (beyond what Excel opens in any case; other readers follow the spec).
import zlib from 'node:zlib'

/** zlib's deflateRaw on libuv's thread pool, as a promise. */
function deflateRaw (bytes: Uint8Array, options: zlib.ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(bytes, options, (error, result) => { if (error === null) resolve(result); else reject(error) })
  })
}

const LOCAL = 0x04034b50
const DESCRIPTOR = 0x08074b50
const CENTRAL = 0x02014b50
const END = 0x06054b50
const END64 = 0x06064b50
const LOCATOR64 = 0x07064b50
const DEFLATE = 8
const STREAMED = 0x0008 // bit 3: CRC and sizes in the data descriptor
const VERSION_20 = 20
const VERSION_45 = 45 // Zip64
const MAX32 = 0xffffffff
// a final, empty, fixed-Huffman block: ends a deflate stream that sync flushes left open
const FINAL_BLOCK = Buffer.from([0x03, 0x00])

interface Entry {
  readonly name: Buffer
  readonly version: number
  readonly flags: number
  readonly offset: number
  crc: number
  compressed: number
  size: number
}

export class ZipWriter {
  #entries: Entry[] = []
  /** bytes of the archive handed out so far */
  #offset = 0
  #open: Entry | undefined
  #level: number
  #time: number
  #date: number
  #max32: number

  /**
   * `level`: zlib's, for every entry; `at`: the entries' modification time; `max32`: the largest
   * size or offset a 32-bit field holds, 0xFFFFFFFF (a test lowers it to meet the Zip64 records
   * without writing 4 GiB)
   */
  constructor (level: number, at: Date, max32 = MAX32) {
    this.#level = level
    this.#max32 = max32
    // MS-DOS date and time, in UTC: the archive holds no zone
    this.#time = (at.getUTCHours() << 11) | (at.getUTCMinutes() << 5) | (at.getUTCSeconds() >> 1)
    this.#date = ((at.getUTCFullYear() - 1980) << 9) | ((at.getUTCMonth() + 1) << 5) | at.getUTCDate()
  }

  /** The local header of an entry whose data follows in `data` calls, ended by `end`. */
  begin (name: string): Buffer {
    if (this.#open !== undefined) throw new Error('a zip entry is already open')
    const entry = this.#entry(name, VERSION_45, STREAMED)
    this.#open = entry
    return this.#count(this.#local(entry))
  }

  /** The next segment of the open entry's data: `bytes` deflated and sync flushed, so it ends on a byte. */
  data (bytes: Uint8Array): Buffer {
    const entry = this.#open
    if (entry === undefined) throw new Error('no zip entry is open')
    if (bytes.length === 0) return EMPTY
    entry.crc = zlib.crc32(bytes, entry.crc)
    entry.size += bytes.length
    const deflated = zlib.deflateRawSync(bytes, { level: this.#level, finishFlush: zlib.constants.Z_SYNC_FLUSH })
    entry.compressed += deflated.length
    return this.#count(deflated)
  }

  /**
   * The same, deflated on libuv's thread pool (zlib's asynchronous API), off the thread that
   * writes the XML; the CRC here, by zlib.crc32. `bytes` must not change until it resolves, and
   * no other call may come in between: the sizes and offsets are counted in order.
   */
  async dataLater (bytes: Uint8Array): Promise<Buffer> {
    const entry = this.#open
    if (entry === undefined) throw new Error('no zip entry is open')
    if (bytes.length === 0) return EMPTY
    entry.crc = zlib.crc32(bytes, entry.crc)
    entry.size += bytes.length
    // output in a few pieces: in zlib's default 16 KiB pieces each is a trip back to this thread,
    // which is busy writing the next batch's XML, and the deflate waits for it. A quarter of the
    // input holds XML's deflated bytes (about a fifth) in one, and allocates no more than that
    const deflated = await deflateRaw(bytes, { level: this.#level, finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: Math.max(64 * 1024, Math.ceil(bytes.length / 4)) })
    entry.compressed += deflated.length
    return this.#count(deflated)
  }

  /** Ends the open entry: the deflate stream's final block, then the data descriptor. */
  end (): Buffer {
    const entry = this.#open
    if (entry === undefined) throw new Error('no zip entry is open')
    this.#open = undefined
    entry.compressed += FINAL_BLOCK.length
    const wide = entry.size > this.#max32 || entry.compressed > this.#max32
    const b = Buffer.alloc(wide ? 24 : 16)
    b.writeUInt32LE(DESCRIPTOR, 0)
    b.writeUInt32LE(entry.crc, 4)
    if (wide) {
      writeUInt64(b, entry.compressed, 8)
      writeUInt64(b, entry.size, 16)
    } else {
      b.writeUInt32LE(entry.compressed, 8)
      b.writeUInt32LE(entry.size, 12)
    }
    return this.#count(Buffer.concat([FINAL_BLOCK, b]))
  }

  /** A whole entry whose content is at hand: its header with sizes, then its deflated data. */
  file (name: string, content: Buffer): Buffer {
    if (this.#open !== undefined) throw new Error('a zip entry is open')
    const entry = this.#entry(name, VERSION_20, 0)
    const deflated = zlib.deflateRawSync(content, { level: this.#level })
    entry.crc = zlib.crc32(content)
    entry.size = content.length
    entry.compressed = deflated.length
    return this.#count(Buffer.concat([this.#local(entry), deflated]))
  }

  /** The central directory and the end records: the archive's last bytes. */
  finish (): Buffer {
    if (this.#open !== undefined) throw new Error('a zip entry is open')
    const start = this.#offset
    const max32 = this.#max32
    const parts = this.#entries.map((entry) => central(entry, this.#time, this.#date, max32))
    const size = parts.reduce((sum, part) => sum + part.length, 0)
    const count = this.#entries.length
    const wide = start > max32 || size > max32 || count > 0xffff
    if (wide) {
      const end64 = Buffer.alloc(56 + 20)
      end64.writeUInt32LE(END64, 0)
      writeUInt64(end64, 44, 4) // size of the record after this field
      end64.writeUInt16LE(VERSION_45, 12)
      end64.writeUInt16LE(VERSION_45, 14)
      writeUInt64(end64, count, 24)
      writeUInt64(end64, count, 32)
      writeUInt64(end64, size, 40)
      writeUInt64(end64, start, 48)
      end64.writeUInt32LE(LOCATOR64, 56)
      writeUInt64(end64, start + size, 64)
      end64.writeUInt32LE(1, 72) // disks
      parts.push(end64)
    }
    const end = Buffer.alloc(22)
    end.writeUInt32LE(END, 0)
    end.writeUInt16LE(Math.min(count, 0xffff), 8)
    end.writeUInt16LE(Math.min(count, 0xffff), 10)
    end.writeUInt32LE(field32(size, max32), 12)
    end.writeUInt32LE(field32(start, max32), 16)
    parts.push(end)
    return this.#count(Buffer.concat(parts))
  }

  #entry (name: string, version: number, flags: number): Entry {
    const entry: Entry = { name: Buffer.from(name), version, flags, offset: this.#offset, crc: 0, compressed: 0, size: 0 }
    this.#entries.push(entry)
    return entry
  }

  #local (entry: Entry): Buffer {
    const b = Buffer.alloc(30 + entry.name.length)
    b.writeUInt32LE(LOCAL, 0)
    b.writeUInt16LE(entry.version, 4)
    b.writeUInt16LE(entry.flags, 6)
    b.writeUInt16LE(DEFLATE, 8)
    b.writeUInt16LE(this.#time, 10)
    b.writeUInt16LE(this.#date, 12)
    // a streamed entry's CRC and sizes are 0 here: they are in its data descriptor
    b.writeUInt32LE(entry.crc, 14)
    b.writeUInt32LE(entry.compressed, 18)
    b.writeUInt32LE(entry.size, 22)
    b.writeUInt16LE(entry.name.length, 26)
    entry.name.copy(b, 30)
    return b
  }

  #count (bytes: Buffer): Buffer {
    this.#offset += bytes.length
    return bytes
  }
}

/** An entry's central directory header, with a Zip64 extra field for what passes 32 bits. */
function central (entry: Entry, time: number, date: number, max32: number): Buffer {
  // the Zip64 extra field holds, in this order, only the values whose 32-bit field is 0xFFFFFFFF
  const wide = [entry.size, entry.compressed, entry.offset].filter((value) => value >= max32)
  const extra = wide.length === 0 ? 0 : 4 + 8 * wide.length
  const b = Buffer.alloc(46 + entry.name.length + extra)
  b.writeUInt32LE(CENTRAL, 0)
  b.writeUInt16LE(wide.length === 0 ? entry.version : VERSION_45, 4) // made by: MS-DOS, this version
  b.writeUInt16LE(wide.length === 0 ? entry.version : VERSION_45, 6)
  b.writeUInt16LE(entry.flags, 8)
  b.writeUInt16LE(DEFLATE, 10)
  b.writeUInt16LE(time, 12)
  b.writeUInt16LE(date, 14)
  b.writeUInt32LE(entry.crc, 16)
  b.writeUInt32LE(field32(entry.compressed, max32), 20)
  b.writeUInt32LE(field32(entry.size, max32), 24)
  b.writeUInt16LE(entry.name.length, 28)
  b.writeUInt16LE(extra, 30)
  b.writeUInt32LE(field32(entry.offset, max32), 42)
  entry.name.copy(b, 46)
  if (extra > 0) {
    let at = 46 + entry.name.length
    b.writeUInt16LE(0x0001, at)
    b.writeUInt16LE(extra - 4, at + 2)
    at += 4
    for (const value of wide) {
      writeUInt64(b, value, at)
      at += 8
    }
  }
  return b
}

/** A 32-bit field's value: 0xFFFFFFFF for one that does not fit (it is in a Zip64 field). */
function field32 (value: number, max32: number): number {
  return value >= max32 ? MAX32 : value
}

function writeUInt64 (b: Buffer, value: number, at: number): void {
  b.writeUInt32LE(value % 0x100000000, at)
  b.writeUInt32LE(Math.floor(value / 0x100000000), at + 4)
}

const EMPTY = Buffer.alloc(0)
