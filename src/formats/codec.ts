// The codec Parquet pages are compressed with (parquet.thrift's CompressionCodec): Snappy.
//
// Chosen by measurement (`npx tsx bench/parquet-codec.ts`, 1,000,000 demo `orders`, 158.9 MB of
// plain pages, 2 cores, three rounds; ZSTD through `zstd-napi`, installed for the run): Snappy
// makes a 37.0 MB file (4.3x) at 450-670 MB/s; ZSTD level 1 22.2 MB (7.2x) at 280-320 MB/s, level
// 3 22.1 MB at 180-270 MB/s; gzip level 1 23.2 MB at 110-170 MB/s. A download makes ~30 MB/s of
// plain pages, so native Snappy costs it 5% and native ZSTD 10%; ZSTD's files are 40% smaller.
// But the native ZSTD bindings for Node 20 fetch their binary from GitHub or compile zstd at
// install (65 s here, and a compiler in the image), and the one that installs cleanly from the
// registry, @bokuweb/zstd-wasm, compressed 135 MB/s where native Snappy did 363 MB/s in the same
// run (300,000 orders, a loaded machine): about 20% more server time a download, on a server that
// shares its cores with PostgreSQL. `snappy` ships prebuilt binaries through the npm registry, and
// Snappy is what DuckDB and Arrow write by default. Node's own zlib has ZSTD from 22.15 on.
import { compressSync } from 'snappy'

export interface Codec {
  readonly id: number
  readonly name: string
  compress(bytes: Buffer): Buffer
}

export const SNAPPY: Codec = { id: 1, name: 'SNAPPY', compress: (bytes) => compressSync(bytes) }
