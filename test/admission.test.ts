// The caps on report responses (src/stream/admission.ts): MAX_STREAMS for the process, and an API
// key's max_streams, taken and given back as one ticket. The HTTP side (429 and 503 for GET and
// HEAD) is in test/auth.test.ts and test/limits.test.ts.
import t from 'tap'
import { Admission } from '../src/stream/admission.js'

const capped = { id: 'capped', maxStreams: 1 }
const open = { id: 'open', maxStreams: undefined }
const TOO_MANY = { statusCode: 429, message: /max_streams/ }
const BUSY = { statusCode: 503, message: /MAX_STREAMS/ }

t.test('a key at its max_streams gets 429; the others and requests without a key go on', async (t) => {
  const admission = new Admission(10, 2000, 128 << 20)
  const first = admission.take(capped)
  t.throws(() => admission.take(capped), { statusCode: 429, message: /max_streams \(1\)/ })
  const other = admission.take(open)
  const anonymous = admission.take(undefined)
  t.equal(admission.active, 3, 'a refused request holds nothing')
  admission.give(first)
  const again = admission.take(capped)
  t.equal(admission.active, 3)
  for (const ticket of [again, other, anonymous]) admission.give(ticket)
  t.equal(admission.active, 0)
})

t.test('MAX_STREAMS: 503 with LEASE_TIMEOUT_MS as Retry-After; the key\'s own cap is told first', async (t) => {
  const admission = new Admission(1, 3000, 128 << 20)
  const only = admission.take(undefined)
  t.throws(() => admission.take(open), { statusCode: 503, headers: { 'retry-after': '3' }, message: /all 1 stream slots are busy \(MAX_STREAMS\)/ })
  admission.give(only)
  const held = admission.take(capped)
  // the process is full and the key is at its cap: the key's 429, which says whose limit it is
  t.throws(() => admission.take(capped), TOO_MANY)
  admission.give(held)
  t.equal(admission.active, 0)
  // a 503 took nothing of the key's: once there is room, the key is admitted
  const busy = admission.take(undefined)
  t.throws(() => admission.take(capped), BUSY)
  admission.give(busy)
  admission.give(admission.take(capped))
  t.equal(admission.active, 0)
})

t.test('a ticket given back twice counts once; idle waits for the last one', async (t) => {
  const admission = new Admission(2, 1000, 128 << 20)
  const a = admission.take(capped)
  const b = admission.take(undefined)
  admission.give(a)
  admission.give(a)
  t.equal(admission.active, 1, 'the second give did nothing')
  const c = admission.take(capped)
  t.throws(() => admission.take(capped), TOO_MANY, 'the key has its one stream again, not two')
  let idle = false
  const waiting = admission.idle().then(() => { idle = true })
  admission.give(b)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(idle, false, 'not idle while a response runs')
  admission.give(c)
  await waiting
  t.equal(admission.active, 0, 'idle once the last is given back')
  await admission.idle()
})
