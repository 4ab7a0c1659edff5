export type Exact = null | boolean | string | { number: string } | { entries: Array<[string, Exact]> } | Exact[]

/**
 * JSON.parse, except that numbers keep their text (JSON.parse rounds 30-digit numerics and int8
 * extremes) and objects keep their key order.
 */
export function parseExact (text: string): Exact {
  let i = 0
  const space = /[ \t\r\n]*/y
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
  const string = /"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y
  const skip = (): void => {
    space.lastIndex = i
    space.exec(text)
    i = space.lastIndex
  }
  const take = (pattern: RegExp): string => {
    pattern.lastIndex = i
    const match = pattern.exec(text)
    if (match === null) throw new SyntaxError(`bad JSON at ${i}: ${text.slice(i, i + 20)}`)
    i = pattern.lastIndex
    return match[0]
  }
  const expect = (char: string): void => {
    skip()
    if (text[i] !== char) throw new SyntaxError(`expected ${char} at ${i}: ${text.slice(i, i + 20)}`)
    i++
  }
  const value = (): Exact => {
    skip()
    const c = text[i]
    if (c === '"') return JSON.parse(take(string)) as string
    if (c === '[') {
      i++
      const items: Exact[] = []
      skip()
      if (text[i] === ']') {
        i++
        return items
      }
      for (;;) {
        items.push(value())
        skip()
        if (text[i++] === ']') return items
        if (text[i - 1] !== ',') throw new SyntaxError(`bad array at ${i - 1}`)
      }
    }
    if (c === '{') {
      i++
      const entries: Array<[string, Exact]> = []
      skip()
      if (text[i] === '}') {
        i++
        return { entries }
      }
      for (;;) {
        skip()
        const key = JSON.parse(take(string)) as string
        expect(':')
        entries.push([key, value()])
        skip()
        if (text[i++] === '}') return { entries }
        if (text[i - 1] !== ',') throw new SyntaxError(`bad object at ${i - 1}`)
      }
    }
    for (const [word, literal] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length
        return literal
      }
    }
    return { number: take(number) }
  }
  const result = value()
  skip()
  if (i !== text.length) throw new SyntaxError(`trailing text at ${i}`)
  return result
}
