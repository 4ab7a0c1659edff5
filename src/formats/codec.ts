// The codec Parquet pages are compressed with (parquet.thrift's CompressionCodec): ZSTD at level 1,
// from Node's own zlib. On the demo data its files are 40% smaller than Snappy's for the same
// download time and server CPU; the numbers and the trade: docs/decisions/0003-parquet-codec.md.
import zlib from 'node:zlib'

export interface Codec {
  readonly id: number
  readonly name: string
  compress(bytes: Buffer): Buffer
}

const LEVEL_1 = { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } }

export const ZSTD: Codec = { id: 6, name: 'ZSTD', compress: (bytes) => zlib.zstdCompressSync(bytes, LEVEL_1) }
