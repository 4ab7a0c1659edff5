// The COPY TO reader lives with the benchmark, which streams it as the physical limit; the tests
// collect its bytes as the CSV oracle.
export { copyOut, copyOutStream } from '../../bench/copy.js'
