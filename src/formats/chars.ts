// The bytes (and UTF-16 code units) the encoders look for, by name.
export const LF = 10
export const CR = 13
export const SPACE = 32
export const QUOTE = 34 // '"'
export const PLUS = 43
export const MINUS = 45
export const DOT = 46
export const ZERO = 48
export const NINE = 57
export const COLON = 58
export const T = 84
export const BRACKET = 91 // '['
export const BACKSLASH = 92
export const OPEN = 123 // '{'
export const CLOSE = 125 // '}'
