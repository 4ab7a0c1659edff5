// The codec Parquet pages are compressed with (parquet.thrift's CompressionCodec).
export interface Codec {
  readonly id: number
  readonly name: string
  compress(bytes: Buffer): Buffer
}

export const codec: Codec = { id: 0, name: 'UNCOMPRESSED', compress: (bytes) => bytes }
