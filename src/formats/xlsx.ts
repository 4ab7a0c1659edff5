// A workbook streamed as its rows come (ECMA-376 SpreadsheetML in a zip, src/formats/zip.ts): the
// sheet's XML is written as rows arrive, and `flush` deflates it into the batch's chunk, so memory
// is one batch of XML, never the workbook. The parts whose content depends on the whole result
// (workbook.xml: how many sheets; [Content_Types].xml and the rels naming them) are written after
// the last sheet, then the central directory.
//
// Cells, from the field bytes PostgreSQL sent and the column's kind:
// - numbers (int2/4/8, float4/8, numeric): a number cell when the text round-trips through a
//   double (reading it and printing the double back gives the same number), else text: int8
//   past 2^53, long numerics, NaN and ±Infinity keep their digits as text
// - bool: a boolean cell
// - date, timestamp, timestamptz: a date serial (days since 1899-12-30, the time as the fraction;
//   timestamptz in UTC) with a display format; text when Excel has no serial for it: infinity,
//   BC, past 9999, and before 1900-03-01 (Excel counts a 1900-02-29 that never was, so the serials
//   of January and February 1900 are read as different days by Excel and LibreOffice)
// - NULL: no cell
// - everything else: an inline string holding the text CSV carries
import { CR, DOT, LF, MINUS, NINE, SPACE, ZERO } from './chars.js'
import { FIRST_ROOM, Out } from './out.js'
import { dateDays, FieldWalk, isTrue, readTimestamp, TimestampText } from './pgtext.js'
import type { Column, Encoder, Format } from './types.js'
import { ZipWriter } from './zip.js'

export const contentType = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'

/** Rows a sheet holds, its header row among them (Excel's limit, and LibreOffice's). */
export const SHEET_ROWS = 1_048_576

/** Characters (UTF-16 code units) a cell holds in Excel; longer text is cut to fit, with a mark. */
export const CELL_CHARS = 32_767
/** What ends a text that was cut to CELL_CHARS: an ellipsis. */
export const CUT_MARK = '…'

// Deflate is half the encoder's time, and level 1 never lost on speed for 8% in size over level 3
// (the numbers: docs/decisions/0007-xlsx-deflate-level.md). Each batch is one deflate call (its
// own zlib stream, sync-flushed). Made `offThread` (the service), a batch's XML is deflated on
// libuv's thread pool while the next batch's rows are written as XML into the other of two
// buffers; otherwise (tests and benches that drive the encoder synchronously) by deflateRawSync.
const LEVEL = 1

/** What a flush writes before the current XML, in order: a sheet's local header, a finished sheet's XML, its end. */
type Part = { readonly begin: string } | { readonly xml: Buffer } | { readonly end: true }

export function createXlsxEncoder (columns: ReadonlyArray<Column>, options: { level?: number, offThread?: boolean, at?: Date } = {}): Encoder {
  const zip = new ZipWriter(options.level ?? LEVEL, options.at ?? new Date())
  const n = columns.length
  const kinds = columns.map((column) => KIND[column.json.kind] ?? STRING)
  const letters = columns.map((_, i) => columnName(i))
  // per column, `<c r="B` and what follows the row number for each kind of cell
  const open = letters.map((name) => Buffer.from(`<c r="${name}`))
  const overhead = open.reduce((sum, bytes) => sum + bytes.length, 0) + n * 96 + 32
  const header = headerRow(columns, letters)
  const filterEnd = letters[n - 1] ?? 'A'
  // per sheet: its name and its rows, the header row included
  const sheets: Array<{ name: string, rows: number }> = []
  // the sheet XML not yet deflated, and the buffer a flush off the thread is deflating
  let xml = new Out(FIRST_ROOM)
  let deflating = options.offThread === true ? new Out(FIRST_ROOM) : undefined
  // what goes before the XML in the next chunk: a sheet's local header, and the sheets that a
  // batch ended (their last XML, their data descriptors). Kept as parts and written into the zip
  // by the flush, in order: the zip counts sizes and offsets as it goes
  let before: Part[] = []
  // bytes of `before` counted in size(): the XML of the sheets a batch ended
  let beforeBytes = 0
  const zipPart = (part: Part): Buffer => 'begin' in part ? zip.begin(part.begin) : 'xml' in part ? zip.data(part.xml) : zip.end()
  const zipPartLater = async (part: Part): Promise<Buffer> => 'xml' in part ? await zip.dataLater(part.xml) : zipPart(part)
  // rows on the current sheet, its header row included
  let sheetRows = 0
  const fields = new FieldWalk()
  const stamp = new TimestampText()

  const startSheet = (): void => {
    if (sheets.length > 0) sheets[sheets.length - 1]!.rows = sheetRows
    sheets.push({ name: `Sheet${sheets.length + 1}`, rows: 1 })
    before.push({ begin: `xl/worksheets/sheet${sheets.length}.xml` })
    sheetRows = 1
    xml.write(header)
  }
  const endSheet = (): Buffer => Buffer.from(`</sheetData><autoFilter ref="A1:${filterEnd}${sheetRows}"/></worksheet>`)
  startSheet()

  return {
    row (data, start, end) {
      if (sheetRows === SHEET_ROWS) {
        xml.write(endSheet())
        // a copy: the buffer goes on with the next sheet
        const ended = Buffer.from(xml.bytes())
        before.push({ xml: ended }, { end: true })
        xml.pos = 0
        beforeBytes += ended.length
        startSheet()
      }
      sheetRows++
      // the most a row takes: every byte a 7-byte escape, the fixed parts of every cell
      const b = xml.ensure(7 * (end - start) + overhead)
      let o = xml.pos
      const r = sheetRows
      // the row number's digits, written after each cell's column letters
      const digits = r < 10 ? 1 : r < 100 ? 2 : r < 1000 ? 3 : r < 10000 ? 4 : r < 100000 ? 5 : r < 1000000 ? 6 : 7
      const rowAt = o + 8 // after `<row r="`
      o = put(b, o, ROW_OPEN)
      for (let k = digits - 1, v = r; k >= 0; k--, v = (v / 10) | 0) b[rowAt + k] = ZERO + (v % 10)
      o += digits
      b[o++] = QUOTE_CHAR
      b[o++] = GT
      fields.begin(data, start)
      for (let i = 0; i < n; i++) {
        const length = fields.next()
        if (length < 0) continue // NULL: no cell
        const p = fields.at
        const q = p + length
        o = put(b, o, open[i]!)
        for (let k = 0; k < digits; k++) b[o++] = b[rowAt + k]!
        switch (kinds[i]) {
          case NUMBER:
            if (isExactNumber(data, p, q)) {
              o = put(b, o, NUMBER_OPEN)
              for (let k = p; k < q; k++) b[o++] = data[k]!
              o = put(b, o, VALUE_CLOSE)
            } else {
              o = text(b, put(b, o, edgeSpace(data, p, q) ? PRESERVED_OPEN : STRING_OPEN), data, p, q)
            }
            break
          case BOOL:
            o = put(b, o, isTrue(data[p]!) ? TRUE_CELL : FALSE_CELL)
            break
          case DATE: {
            const day = dateSerial(data, p, q)
            if (Number.isNaN(day)) {
              o = text(b, put(b, o, edgeSpace(data, p, q) ? PRESERVED_OPEN : STRING_OPEN), data, p, q)
              break
            }
            o = put(b, serialDigits(b, put(b, o, DATE_OPEN), day, 0), VALUE_CLOSE)
            break
          }
          case TIMESTAMP: {
            readTimestamp(data, p, q, stamp)
            const day = timestampSerial(stamp)
            if (Number.isNaN(day)) {
              o = text(b, put(b, o, edgeSpace(data, p, q) ? PRESERVED_OPEN : STRING_OPEN), data, p, q)
              break
            }
            o = put(b, o, stamp.fraction ? FRACTION_OPEN : TIMESTAMP_OPEN)
            o = put(b, serialDigits(b, o, day, dayMicros(stamp)), VALUE_CLOSE)
            break
          }
          default:
            o = text(b, put(b, o, edgeSpace(data, p, q) ? PRESERVED_OPEN : STRING_OPEN), data, p, q)
        }
      }
      o = put(b, o, ROW_CLOSE)
      xml.pos = o
    },
    // the XML and the sheets a batch ended: what batches are sized by (a local header waiting for
    // its sheet's data does not count)
    size: () => beforeBytes + xml.pos,
    flush (out, { final }) {
      if (final) {
        xml.write(endSheet())
        sheets[sheets.length - 1]!.rows = sheetRows
      }
      const parts = before
      before = []
      beforeBytes = 0
      const tail = (): void => {
        if (!final) return
        out.write(zip.end())
        for (const [name, content] of workbookParts(sheets, filterEnd)) out.write(zip.file(name, Buffer.from(content)))
        out.write(zip.finish())
      }
      if (deflating === undefined) {
        for (const part of parts) out.write(zipPart(part))
        out.write(zip.data(xml.bytes()))
        xml.pos = 0
        tail()
        return
      }
      // the next batch's rows go to the other buffer while this one is deflated
      const batch = xml
      xml = deflating
      xml.pos = 0
      deflating = batch
      return (async () => {
        for (const part of parts) out.write(await zipPartLater(part))
        out.write(await zip.dataLater(batch.bytes()))
        tail()
      })()
    }
  }
}

// Each value's kind, as a small integer the row loop switches on.
const NUMBER = 0
const BOOL = 1
const DATE = 2
const TIMESTAMP = 3
const STRING = 4
const KIND: Readonly<Record<string, number>> = { number: NUMBER, bool: BOOL, date: DATE, timestamp: TIMESTAMP }

// cellXfs in styles.xml, by index
const HEADER_STYLE = 1
const DATE_STYLE = 2
const TIMESTAMP_STYLE = 3
const FRACTION_STYLE = 4

const QUOTE_CHAR = 34
const GT = 62
const AMP = 38
const LT = 60
const UNDERSCORE = 95
const X = 120

const ROW_OPEN = Buffer.from('<row r="')
const ROW_CLOSE = Buffer.from('</row>')
const NUMBER_OPEN = Buffer.from('"><v>')
const VALUE_CLOSE = Buffer.from('</v></c>')
const TRUE_CELL = Buffer.from('" t="b"><v>1</v></c>')
const FALSE_CELL = Buffer.from('" t="b"><v>0</v></c>')
const DATE_OPEN = Buffer.from(`" s="${DATE_STYLE}"><v>`)
const TIMESTAMP_OPEN = Buffer.from(`" s="${TIMESTAMP_STYLE}"><v>`)
const FRACTION_OPEN = Buffer.from(`" s="${FRACTION_STYLE}"><v>`)
// Excel drops a text's edge spaces unless xml:space says to keep them (Excel's own files and
// XlsxWriter write it on a text that starts or ends with whitespace, as here)
const STRING_OPEN = Buffer.from('" t="inlineStr"><is><t>')
const PRESERVED_OPEN = Buffer.from('" t="inlineStr"><is><t xml:space="preserve">')
const STRING_CLOSE = Buffer.from('</t></is></c>')

function put (b: Buffer, o: number, bytes: Buffer): number {
  for (let k = 0; k < bytes.length; k++) b[o++] = bytes[k]!
  return o
}

/** Whether a text starts or ends with whitespace. */
function edgeSpace (data: Buffer, p: number, q: number): boolean {
  if (q === p) return false
  const first = data[p]!
  const last = data[q - 1]!
  return first === SPACE || first === 9 || first === LF || first === CR || last === SPACE || last === 9 || last === LF || last === CR
}

/**
 * Writes text bytes as XML character data and closes the cell. `&` and `<` (and `>`, for `]]>`)
 * as entities; CR as a character reference, since XML readers turn a raw CR into LF; the
 * characters XML 1.0 cannot hold at all (C0 controls but tab and LF, U+FFFE, U+FFFF) in OOXML's
 * own escape `_xHHHH_`, which Excel and LibreOffice turn back into the character; and so a `_`
 * that starts what reads as such an escape is itself escaped, as `_x005F_`. A text longer than a
 * cell holds is cut (see CELL_CHARS).
 */
function text (b: Buffer, o: number, data: Buffer, p: number, q: number): number {
  let cut = false
  // UTF-8 takes at least one byte a UTF-16 code unit: only a long text can be too long
  if (q - p > CELL_CHARS) {
    const at = cutAt(data, p, q)
    cut = at < q
    q = at
  }
  for (let k = p; k < q; k++) {
    const c = data[k]!
    if (c >= SPACE) {
      if (c === AMP) { b[o++] = AMP; b[o++] = 97; b[o++] = 109; b[o++] = 112; b[o++] = 59 } // &amp;
      else if (c === LT) { b[o++] = AMP; b[o++] = 108; b[o++] = 116; b[o++] = 59 } // &lt;
      else if (c === GT) { b[o++] = AMP; b[o++] = 103; b[o++] = 116; b[o++] = 59 } // &gt;
      else if (c === UNDERSCORE && k + 6 < q && data[k + 1] === X && data[k + 6] === UNDERSCORE && isHex(data, k + 2)) o = escape(b, o, UNDERSCORE)
      else if (c === 0xef && k + 2 < q && data[k + 1] === 0xbf && (data[k + 2] === 0xbe || data[k + 2] === 0xbf)) {
        o = escape(b, o, data[k + 2] === 0xbe ? 0xfffe : 0xffff)
        k += 2
      } else b[o++] = c
    } else if (c === LF || c === 9) {
      b[o++] = c
    } else if (c === CR) {
      b[o++] = AMP; b[o++] = 35; b[o++] = 49; b[o++] = 51; b[o++] = 59 // &#13;
    } else {
      o = escape(b, o, c)
    }
  }
  if (cut) o = put(b, o, CUT)
  return put(b, o, STRING_CLOSE)
}

const CUT = Buffer.from(CUT_MARK)

/** `_xHHHH_` */
function escape (b: Buffer, o: number, code: number): number {
  b[o++] = UNDERSCORE
  b[o++] = X
  for (let shift = 12; shift >= 0; shift -= 4) b[o++] = HEX[(code >> shift) & 15]!
  b[o++] = UNDERSCORE
  return o
}

const HEX = Buffer.from('0123456789ABCDEF')

function isHex (data: Buffer, at: number): boolean {
  for (let k = at; k < at + 4; k++) {
    const c = data[k]! | 0x20
    if (!((c >= ZERO && c <= NINE) || (c >= 97 && c <= 102))) return false
  }
  return true
}

/**
 * Where to cut a text of more than CELL_CHARS code units so that it and the mark fit: on a
 * character's first byte, never inside one. Returns `q` when it fits whole.
 */
function cutAt (data: Buffer, p: number, q: number): number {
  const room = CELL_CHARS - CUT_MARK.length
  let units = 0
  let cut = -1
  for (let k = p; k < q; k++) {
    const c = data[k]!
    if ((c & 0xc0) === 0x80) continue // continuation byte
    if (units <= room) cut = k
    units += c >= 0xf0 ? 2 : 1 // four bytes: a surrogate pair in UTF-16
    if (units > CELL_CHARS) return cut
  }
  return q
}

/**
 * Whether a number's text can go into a number cell as it is: it round-trips through a double.
 * Up to 15 significant digits always do (DBL_DIG); a longer text is read and compared.
 */
function isExactNumber (data: Buffer, p: number, q: number): boolean {
  let k = data[p] === MINUS ? p + 1 : p
  let digits = 0
  for (; k < q; k++) {
    const c = data[k]!
    if (c >= ZERO && c <= NINE) digits++
    else if (c !== DOT) break
  }
  // all digits, counting leading zeros too: then the value lies between 1e-15 and 1e15
  if (k === q && digits > 0 && digits <= 15) return true
  return isNumberCell(data.toString('latin1', p, q))
}

/**
 * Whether a number's text goes into a number cell: a double read from it prints back as the same
 * number, and Excel holds that double (it has no NaN, no infinities, nothing above
 * 9.99999999999999e307 and no subnormals).
 */
export function isNumberCell (text: string): boolean {
  const value = Number(text)
  if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) return false
  const magnitude = Math.abs(value)
  if (magnitude !== 0 && (magnitude < 2.2250738585072014e-308 || magnitude > 9.99999999999999e307)) return false
  return decimal(text) === decimal(String(value))
}

/** A number's text as sign, significant digits and exponent: `-12e3` for -12000 and -12000.00. */
function decimal (text: string): string {
  const match = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text)!
  const fraction = match[3] ?? ''
  let digits = (match[2]! + fraction).replace(/^0+/, '')
  if (digits === '') return '0'
  let exponent = Number(match[4] ?? 0) - fraction.length
  const trailing = /0*$/.exec(digits)![0].length
  digits = digits.slice(0, digits.length - trailing)
  exponent += trailing
  return `${match[1]}${digits}e${exponent}`
}

// serials: 1970-01-01 is 25569; Excel's first day that LibreOffice reads alike, 1900-03-01, is
// 61; 10000-01-01, past Excel's last, is 2958466
const UNIX_EPOCH = 25569
const FIRST_SERIAL = 61
const END_SERIAL = 2958466

const DAY_SECONDS = 86_400
const DAY_MICROS = 86_400_000_000

/** A date's serial; NaN when Excel has none for it (infinity, BC, before 1900-03-01, past 9999). */
function dateSerial (data: Buffer, p: number, q: number): number {
  const serial = dateDays(data, p, q) + UNIX_EPOCH
  return serial >= FIRST_SERIAL && serial < END_SERIAL ? serial : NaN
}

/** The serial of a timestamp's day, in UTC when it has a zone; NaN when Excel has none for it. */
function timestampSerial (stamp: TimestampText): number {
  if (stamp.infinite !== 0) return NaN
  // a zone can move the time into the day before or after
  const serial = stamp.days + Math.floor(stamp.seconds / DAY_SECONDS) + UNIX_EPOCH
  return serial >= FIRST_SERIAL && serial < END_SERIAL ? serial : NaN
}

/** A timestamp's time into its day (in UTC when it has a zone), in microseconds. */
function dayMicros (stamp: TimestampText): number {
  const seconds = stamp.seconds - Math.floor(stamp.seconds / DAY_SECONDS) * DAY_SECONDS
  return seconds * 1e6 + stamp.micros
}

/**
 * Writes a serial: the day, then the time of day as a fraction of it, to 12 decimals (1e-12 of a
 * day is 0.09 µs: the microseconds survive, and the double a reader makes of it, which resolves
 * ~0.6 µs at today's serials, is the nearest to the exact time). Digits made here rather than
 * by String(number): a string per cell is what made the heap grow (test/memory.test.ts).
 */
function serialDigits (b: Buffer, o: number, day: number, micros: number): number {
  let digits = 1
  for (let v = day; v >= 10; v = Math.floor(v / 10)) digits++
  for (let k = o + digits - 1, v = day; k >= o; k--, v = Math.floor(v / 10)) b[k] = ZERO + (v % 10)
  o += digits
  if (micros === 0) return o
  b[o++] = DOT
  const first = o
  let rest = micros
  for (let k = 0; k < 12; k++) {
    rest *= 10
    const digit = Math.floor(rest / DAY_MICROS)
    rest -= digit * DAY_MICROS
    b[o++] = ZERO + digit
  }
  // round the last place; a fraction below 1 - 1/DAY_MICROS never carries into the day
  if (2 * rest >= DAY_MICROS) {
    let k = o - 1
    while (b[k] === NINE) b[k--] = ZERO
    b[k]!++
  }
  while (b[o - 1] === ZERO) o--
  return o === first ? o - 1 : o
}

/** A, B, ..., Z, AA, ... */
function columnName (index: number): string {
  let name = ''
  for (let i = index + 1; i > 0; i = Math.floor((i - 1) / 26)) name = String.fromCharCode(65 + ((i - 1) % 26)) + name
  return name
}

/** The sheet's opening XML and its header row: the column names, bold. */
function headerRow (columns: ReadonlyArray<Column>, letters: readonly string[]): Buffer {
  const cells = columns.map((column, i) => {
    const name = Buffer.from(column.name)
    const b = Buffer.alloc(7 * name.length + 128)
    const o = text(b, put(b, put(b, 0, Buffer.from(`<c r="${letters[i]}1" s="${HEADER_STYLE}`)), edgeSpace(name, 0, name.length) ? PRESERVED_OPEN : STRING_OPEN), name, 0, name.length)
    return b.subarray(0, o).toString()
  })
  return Buffer.from(XML_DECLARATION +
    `<worksheet xmlns="${MAIN}" xmlns:r="${RELATIONSHIPS}">` +
    // the header row frozen: the rows scroll under it
    '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/></sheetView></sheetViews>' +
    `<sheetData><row r="1">${cells.join('')}</row>`)
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
const MAIN = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main'
const RELATIONSHIPS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships'
const PACKAGE_RELATIONSHIPS = 'http://schemas.openxmlformats.org/package/2006/relationships'
const CONTENT_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml'

/** The parts that name the sheets, written once the last one is done. */
function workbookParts (sheets: ReadonlyArray<{ name: string, rows: number }>, lastColumn: string): Array<[string, string]> {
  const sheetEntries = sheets.map(({ name }, i) => `<sheet name="${name}" sheetId="${i + 1}" r:id="rId${i + 1}"/>`).join('')
  // Excel keeps each sheet's filter range in a hidden defined name as well
  const filters = sheets.map(({ name, rows }, i) => `<definedName name="_xlnm._FilterDatabase" localSheetId="${i}" hidden="1">${name}!$A$1:$${lastColumn}$${rows}</definedName>`).join('')
  return [
    ['xl/styles.xml', XML_DECLARATION + STYLES],
    ['xl/workbook.xml', XML_DECLARATION +
      `<workbook xmlns="${MAIN}" xmlns:r="${RELATIONSHIPS}"><bookViews><workbookView/></bookViews><sheets>${sheetEntries}</sheets><definedNames>${filters}</definedNames></workbook>`],
    ['xl/_rels/workbook.xml.rels', XML_DECLARATION +
      `<Relationships xmlns="${PACKAGE_RELATIONSHIPS}">` +
      sheets.map((_, i) => `<Relationship Id="rId${i + 1}" Type="${RELATIONSHIPS}/worksheet" Target="worksheets/sheet${i + 1}.xml"/>`).join('') +
      `<Relationship Id="rId${sheets.length + 1}" Type="${RELATIONSHIPS}/styles" Target="styles.xml"/></Relationships>`],
    ['_rels/.rels', XML_DECLARATION +
      `<Relationships xmlns="${PACKAGE_RELATIONSHIPS}"><Relationship Id="rId1" Type="${RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/></Relationships>`],
    ['[Content_Types].xml', XML_DECLARATION +
      '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
      '<Default Extension="xml" ContentType="application/xml"/>' +
      `<Override PartName="/xl/workbook.xml" ContentType="${CONTENT_TYPE}.sheet.main+xml"/>` +
      `<Override PartName="/xl/styles.xml" ContentType="${CONTENT_TYPE}.styles+xml"/>` +
      sheets.map((_, i) => `<Override PartName="/xl/worksheets/sheet${i + 1}.xml" ContentType="${CONTENT_TYPE}.worksheet+xml"/>`).join('') +
      '</Types>']
  ]
}

// cellXfs: 0 the default, 1 the header (bold), 2 dates, 3 timestamps, 4 timestamps with a
// fraction of a second (Excel shows at most milliseconds)
const STYLES = `<styleSheet xmlns="${MAIN}">` +
  '<numFmts count="3"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/><numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/><numFmt numFmtId="166" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss.000"/></numFmts>' +
  '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font><font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>' +
  '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>' +
  '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>' +
  '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>' +
  '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>' +
  '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>' +
  '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>' +
  '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>' +
  '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>' +
  '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>' +
  '</styleSheet>'

/** XLSX, as src/formats/index.ts lists it. */
export const xlsxFormat: Format<'xlsx'> = {
  name: 'xlsx',
  contentType,
  attachment: true,
  schema: { type: 'string', format: 'binary' },
  create: (columns, _csv, _context, options) => createXlsxEncoder(columns, options)
}
